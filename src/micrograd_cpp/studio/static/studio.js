// micrograd_cpp studio: the page. Vanilla JS, no dependencies; the same script drives the live page
// (frames from the local server's /api/state) and an exported run (frames from window.STUDIO_RECORDING).
"use strict";
(function () {
  const RECORDING = window.STUDIO_RECORDING;
  const LIVE = !RECORDING;
  const SVGNS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const TOKEN = new URLSearchParams(location.search).get("token") || "";
  const CONFIG_KEYS = ["dataset", "points", "noise", "hidden", "activation", "optimizer", "learning_rate", "l2", "seed"];

  // What the tests and a curious user can read: window.studio.
  const studio = (window.studio = { frames: 0, fps: 0, errors: [], state: null, backward: null });

  // ---------------------------------------------------------------- small helpers
  function el(tag, attrs, parent) {
    const node = document.createElementNS(SVGNS, tag);
    for (const k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function decode(enc) {
    if (!enc) return new Float64Array(0);
    const bin = atob(enc.b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    if (enc.dtype === "uint8") return bytes;
    return enc.dtype === "float32" ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer);
  }
  function fmt(x, digits) {
    if (x === null || x === undefined || Number.isNaN(x)) return "nan";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    if (x === 0) return "0";
    const a = Math.abs(x);
    if (a >= 1e4 || a < 1e-3) return x.toExponential((digits || 4) - 1).replace("e+", "e");
    return Number(x.toPrecision(digits || 4)).toString();
  }
  function lerp(a, b, t) { return a + (b - a) * t; }
  // writes the diverging colour of t into pixels at byte offset k (no allocation: thousands a frame)
  function putDiverging(pixels, k, t) {
    t = t > 1 ? 1 : t < -1 ? -1 : t || 0;
    const s = t < 0 ? -t : t;
    pixels[k] = 255 + ((t < 0 ? 245 : 8) - 255) * s;
    pixels[k + 1] = 255 + ((t < 0 ? 147 : 119) - 255) * s;
    pixels[k + 2] = 255 + ((t < 0 ? 34 : 189) - 255) * s;
    pixels[k + 3] = 255;
  }
  // Colour of a gradient's magnitude in [0, 1]: white - yellow - red.
  function heat(t) {
    t = Math.max(0, Math.min(1, t));
    const r = 255, g = lerp(255, t < 0.5 ? 220 : 90, Math.min(1, t * 2)) | 0, b = lerp(255, 60, t) | 0;
    return `rgb(${r},${t > 0.5 ? lerp(220, 90, (t - 0.5) * 2) | 0 : g},${b})`;
  }
  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
    studio.errors.push(message);
    clearTimeout(showError.timer);
    showError.timer = setTimeout(() => (box.hidden = true), 8000);
  }

  // ---------------------------------------------------------------- the server (live page)
  async function api(path, body) {
    const options = { headers: { "X-Studio-Token": TOKEN }, cache: "no-store" };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let payload;
    try { payload = await response.json(); } catch (e) { payload = { error: `HTTP ${response.status}` }; }
    if (!response.ok) {
      const error = new Error(payload.error || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return payload;
  }
  async function control(body) {
    if (!LIVE) return null;
    try {
      const reply = await api("/api/control", body);
      wake();
      return reply;
    } catch (error) {
      showError(`${body.action}: ${error.message}`);
      return null;
    }
  }

  // ---------------------------------------------------------------- frames
  // The static parts (points, graph structure, parameter names) arrive once per version and are kept.
  const kept = { data_version: -1, graph_version: -1, points: [], bounds: [-2, 2, -2, 2], grid: 48, neuron_grid: 16, graph: null, names: [] };
  function absorb(state) {
    if (state.points) {
      kept.points = state.points;
      kept.bounds = state.bounds;
      kept.grid = state.grid;
      kept.neuron_grid = state.neuron_grid;
      kept.data_version = state.data_version;
    }
    if (state.graph) {
      kept.graph = state.graph;
      kept.graph_version = state.graph_version;
      graphView.setTopology(state.graph);
    }
    if (state.optimizer && state.optimizer.names) kept.names = state.optimizer.names;
    studio.state = state;
  }

  let wakeUp = null;
  function wake() { if (wakeUp) { const w = wakeUp; wakeUp = null; w(); } }
  function sleep(ms) { return new Promise((resolve) => { wakeUp = resolve; setTimeout(() => { if (wakeUp === resolve) wakeUp = null; resolve(); }, ms); }); }
  const frameTimes = [];
  function countFrame() {
    const now = performance.now();
    frameTimes.push(now);
    while (frameTimes.length && now - frameTimes[0] > 1000) frameTimes.shift();
    studio.frames++;
    studio.fps = frameTimes.length > 1 ? (1000 * (frameTimes.length - 1)) / (now - frameTimes[0]) : 0;
    // while paused the page only polls (4 a second): the figure is the drawing rate while it trains
    const playing = LIVE ? studio.state && studio.state.playing : replay.playing;
    $("stat-fps").textContent = playing ? studio.fps.toFixed(0) : "–";
  }

  const fetchState = () => {
    const started = performance.now();
    return api(`/api/state?data_version=${kept.data_version}&graph_version=${kept.graph_version}`).then((state) => ({ state, ms: performance.now() - started }));
  };
  async function liveLoop() {
    let failures = 0;
    let pending = null; // while training, the next frame's request is on its way as this one is drawn
    for (;;) {
      const started = performance.now();
      try {
        const { state, ms } = await (pending || fetchState());
        pending = null;
        const versions = [kept.data_version, kept.graph_version];
        absorb(state);
        if (state.playing && versions[0] === kept.data_version && versions[1] === kept.graph_version) pending = fetchState();
        const drawing = performance.now();
        render(state);
        studio.timing = { fetch: ms, render: performance.now() - drawing };
        countFrame();
        failures = 0;
      } catch (error) {
        pending = null;
        failures++;
        if (failures === 1 || failures % 20 === 0) showError(`the studio's server: ${error.message}`);
        await sleep(Math.min(2000, 200 * failures));
        continue;
      }
      const playing = studio.state && studio.state.playing;
      const spent = performance.now() - started;
      // Up to ~30 frames a second while training, 4 while paused (another client may step it).
      await sleep(Math.max(playing ? 1 : 0, (playing ? 33 : 250) - spent));
      await new Promise((resolve) => requestAnimationFrame(resolve));
      if (document.hidden) await sleep(500);
    }
  }

  // ---------------------------------------------------------------- a recorded run (export)
  const replay = { index: 0, playing: false, timer: null };
  function recordedState(i) {
    const frame = RECORDING.frames[i];
    const state = Object.assign({}, RECORDING.static, frame);
    state.history = RECORDING.history.filter((h) => h[0] <= frame.step);
    state.playing = replay.playing;
    state.optimizer = Object.assign({ names: RECORDING.static.names }, frame.optimizer);
    return state;
  }
  function showFrame(i) {
    replay.index = Math.max(0, Math.min(RECORDING.frames.length - 1, i));
    const state = recordedState(replay.index);
    if (replay.index === 0 || !kept.graph) {
      state.points = RECORDING.static.points;
      state.graph = kept.graph ? null : RECORDING.static.graph;
    }
    absorb(state);
    render(state);
    countFrame();
  }
  function replayPlay() {
    if (replay.playing) return;
    replay.playing = true;
    replay.timer = setInterval(() => {
      if (replay.index >= RECORDING.frames.length - 1) return replayPause();
      showFrame(replay.index + 1);
    }, 1000 / 15);
  }
  function replayPause() { replay.playing = false; clearInterval(replay.timer); showFrame(replay.index); }

  // ---------------------------------------------------------------- status and configuration
  function render(state) {
    $("stat-step").textContent = state.step;
    $("stat-loss").textContent = fmt(state.loss);
    $("stat-accuracy").textContent = state.accuracy === null ? "nan" : `${(100 * state.accuracy).toFixed(1)}%`;
    $("stat-rate").textContent = LIVE && state.playing ? Math.round(state.steps_per_second || 0) : "–";
    $("play").setAttribute("aria-pressed", String(!!state.playing));
    syncConfig(state.config);
    if (LIVE) $("speed").value = String(state.speed || 0);
    const own = form.elements.dataset.querySelector("option[value=custom]");
    if (state.custom_data && !own) form.elements.dataset.add(new Option("your data", "custom", true, true));
    if (own && !state.custom_data) own.remove();
    if (state.custom_data) form.elements.dataset.value = "custom";
    boundaryView.render(state);
    curvesView.render(state);
    networkView.render(state);
    if (state.values && !backward.active) graphView.setValues(state);
    optimizerView.render(state);
  }

  const form = $("config");
  let editing = null;
  form.addEventListener("focusin", (e) => (editing = e.target.name));
  form.addEventListener("focusout", () => (editing = null));
  function syncConfig(config) {
    if (!config) return;
    for (const key of CONFIG_KEYS) {
      const input = form.elements[key];
      if (!input || editing === key) continue;
      const value = key === "hidden" ? config.hidden.join(",") : String(config[key]);
      if (input.value !== value) input.value = value;
    }
    if (LIVE) writeHash(config);
  }
  function configValue(key, text) {
    if (key === "hidden") {
      const parts = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
      return parts.every((s) => /^-?\d+$/.test(s)) ? parts.map(Number) : text;
    }
    if (["points", "seed"].includes(key)) return /^-?\d+$/.test(text.trim()) ? Number(text) : text;
    if (["noise", "learning_rate", "l2"].includes(key)) {
      const n = Number(text);
      return text.trim() !== "" && Number.isFinite(n) ? n : text;
    }
    return text;
  }
  form.addEventListener("change", (e) => {
    const key = e.target.name;
    if (!CONFIG_KEYS.includes(key) || !LIVE) return;
    control({ action: "config", config: { [key]: configValue(key, e.target.value) } });
  });
  function writeHash(config) {
    const params = new URLSearchParams();
    for (const key of CONFIG_KEYS) params.set(key, key === "hidden" ? config.hidden.join(",") : config[key]);
    const hash = "#" + params.toString().replace(/%2C/g, ",");
    if (location.hash !== hash) history.replaceState(null, "", location.pathname + location.search + hash);
  }
  function hashConfig() {
    const params = new URLSearchParams(location.hash.slice(1));
    const config = {};
    for (const [key, value] of params) config[key] = CONFIG_KEYS.includes(key) ? configValue(key, value) : value;
    return config;
  }

  $("play").addEventListener("click", () => (LIVE ? control({ action: "play" }) : replayPlay()));
  $("pause").addEventListener("click", () => (LIVE ? control({ action: "pause" }) : replayPause()));
  $("step").addEventListener("click", () => (LIVE ? control({ action: "step" }) : (replayPause(), showFrame(replay.index + 1))));
  $("reset").addEventListener("click", () => {
    if (backward.active) backward.exit();
    return LIVE ? control({ action: "reset" }) : (replayPause(), showFrame(0));
  });
  $("speed").addEventListener("change", (e) => control({ action: "speed", steps_per_second: Number(e.target.value) }));

  // ---------------------------------------------------------------- decision boundary
  const boundaryView = (function () {
    const canvas = $("boundary");
    const ctx = canvas.getContext("2d");
    const image = document.createElement("canvas");
    let lastPoints = [];
    function toPixel(x, y) {
      const [x0, x1, y0, y1] = kept.bounds;
      return [((x - x0) / (x1 - x0)) * canvas.width, ((y1 - y) / (y1 - y0)) * canvas.height];
    }
    function toData(px, py) {
      const [x0, x1, y0, y1] = kept.bounds;
      return [x0 + (px / canvas.width) * (x1 - x0), y1 - (py / canvas.height) * (y1 - y0)];
    }
    function render(state) {
      const n = kept.grid;
      const values = decode(state.boundary);
      if (values.length === n * n) {
        image.width = n; image.height = n;
        const ictx = image.getContext("2d");
        const pixels = ictx.createImageData(n, n);
        for (let i = 0; i < n * n; i++) putDiverging(pixels.data, 4 * i, Math.tanh(values[i]) * 0.6);
        ictx.putImageData(pixels, 0, 0);
        ctx.imageSmoothingEnabled = true;
        ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
        // the boundary itself, score 0: marching squares between the cells' centres
        const cw = canvas.width / n, ch = canvas.height / n;
        const cross = (a, b) => a / (a - b);
        ctx.beginPath();
        for (let j = 0; j + 1 < n; j++) for (let i = 0; i + 1 < n; i++) {
          const a = values[j * n + i], b = values[j * n + i + 1], c = values[(j + 1) * n + i + 1], d = values[(j + 1) * n + i];
          const pts = [];
          if ((a > 0) !== (b > 0)) pts.push([i + cross(a, b), j]);
          if ((b > 0) !== (c > 0)) pts.push([i + 1, j + cross(b, c)]);
          if ((d > 0) !== (c > 0)) pts.push([i + cross(d, c), j + 1]);
          if ((a > 0) !== (d > 0)) pts.push([i, j + cross(a, d)]);
          for (let k = 0; k + 1 < pts.length; k += 2) {
            ctx.moveTo((pts[k][0] + 0.5) * cw, (pts[k][1] + 0.5) * ch);
            ctx.lineTo((pts[k + 1][0] + 0.5) * cw, (pts[k + 1][1] + 0.5) * ch);
          }
        }
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = "rgba(40,40,40,0.7)";
        ctx.stroke();
      }
      lastPoints = kept.points;
      const scores = decode(state.scores);
      let wrong = 0;
      for (let i = 0; i < lastPoints.length; i++) {
        const [x, y, t] = lastPoints[i];
        const [px, py] = toPixel(x, y);
        const miss = scores.length === lastPoints.length && (scores[i] > 0) !== (t > 0);
        ctx.beginPath();
        ctx.arc(px, py, 4, 0, 2 * Math.PI);
        ctx.fillStyle = t > 0 ? "#0766a3" : "#e8830f";
        ctx.fill();
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = miss ? "#c0392b" : "#fff"; // a misclassified point: a red ring
        ctx.stroke();
        wrong += miss;
      }
      canvas.dataset.points = String(lastPoints.length);
      canvas.dataset.misclassified = String(wrong);
      const s = lastPoints[state.sample];
      if (s) {
        const [px, py] = toPixel(s[0], s[1]);
        ctx.beginPath();
        ctx.arc(px, py, 8, 0, 2 * Math.PI);
        ctx.lineWidth = 2.5;
        ctx.strokeStyle = "#111";
        ctx.stroke();
      }
      $("sample-caption").textContent = s
        ? `of sample #${state.sample}: x = (${fmt(s[0], 3)}, ${fmt(s[1], 3)}), y = ${s[2] > 0 ? "+1" : "−1"}; loss = softplus(−y · mlp(x))`
        : "";
    }
    canvas.addEventListener("click", (event) => {
      const rect = canvas.getBoundingClientRect();
      const px = ((event.clientX - rect.left) / rect.width) * canvas.width;
      const py = ((event.clientY - rect.top) / rect.height) * canvas.height;
      let best = -1, bestD = 8 * 8;
      lastPoints.forEach(([x, y], i) => {
        const [qx, qy] = toPixel(x, y);
        const d = (qx - px) ** 2 + (qy - py) ** 2;
        if (d <= bestD) { bestD = d; best = i; }
      });
      if (!LIVE) { showError("a recorded run: its data and sample are fixed (the live studio adds and chooses points)"); return; }
      if (best >= 0) { if (backward.active) backward.exit(); control({ action: "select", sample: best }); return; }
      const [x, y] = toData(px, py);
      control({ action: "add_point", point: [x, y], label: event.shiftKey ? -1 : 1 });
    });
    return { render };
  })();

  // ---------------------------------------------------------------- loss and accuracy curves
  const curvesView = (function () {
    const svg = $("curves");
    const W = 420, H = 200, L = 44, R = 36, T = 10, B = 26;
    let axes = "", lossLine = null, accLine = null, empty = null, endLabel = null;
    function frame(lo, hi) {
      svg.textContent = "";
      el("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }, svg);
      el("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }, svg);
      el("line", { class: "axis", x1: W - R, y1: T, x2: W - R, y2: H - B }, svg);
      for (let e = lo; e <= hi; e++) {
        const y = T + (1 - (e - lo) / (hi - lo)) * (H - T - B);
        el("text", { x: L - 4, y: y + 3, "text-anchor": "end" }, svg).textContent = `1e${e}`;
      }
      for (const a of [0, 0.5, 1]) el("text", { x: W - R + 4, y: T + (1 - a) * (H - T - B) + 3 }, svg).textContent = `${a * 100}%`;
      el("text", { x: L, y: H - 8 }, svg).textContent = "0";
      endLabel = el("text", { x: W - R, y: H - 8, "text-anchor": "end" }, svg);
      lossLine = el("polyline", { class: "loss" }, svg);
      accLine = el("polyline", { class: "acc" }, svg);
      empty = el("text", { x: L + 10, y: H / 2 }, svg);
    }
    function render(state) {
      const h = state.history || [];
      const losses = h.map((r) => r[1]).filter((v) => v !== null && v > 0 && Number.isFinite(v));
      let lo = Math.floor(Math.log10(Math.min(...losses, 1))), hi = Math.ceil(Math.log10(Math.max(...losses, 1e-3)));
      if (hi <= lo) hi = lo + 1;
      if (axes !== `${lo}/${hi}`) { frame(lo, hi); axes = `${lo}/${hi}`; }
      empty.textContent = h.length ? "" : "no steps yet: press Play or Step";
      const s1 = Math.max(h.length ? h[h.length - 1][0] : 1, 1);
      const X = (s) => L + (s / s1) * (W - L - R);
      const YL = (v) => T + (1 - (Math.log10(v) - lo) / (hi - lo)) * (H - T - B);
      const YA = (a) => T + (1 - a) * (H - T - B);
      endLabel.textContent = `step ${s1}`;
      lossLine.setAttribute("points", h.filter((r) => r[1] !== null && r[1] > 0).map((r) => `${X(r[0]).toFixed(1)},${YL(r[1]).toFixed(1)}`).join(" "));
      accLine.setAttribute("points", h.filter((r) => r[2] !== null).map((r) => `${X(r[0]).toFixed(1)},${YA(r[2]).toFixed(1)}`).join(" "));
    }
    return { render };
  })();

  // ---------------------------------------------------------------- the network, Playground style
  const networkView = (function () {
    const box = $("network");
    let shape = "", canvases = [], links = [], svg = null, positions = [], drawnLinks = "";
    function build(sizes) {
      box.textContent = "";
      canvases = []; links = []; positions = [];
      const width = Math.max(box.clientWidth, 300), height = Math.max(box.clientHeight, 440);
      const layers = sizes.length;
      const colW = width / layers;
      const ratio = window.devicePixelRatio || 1;
      svg = document.createElement("canvas"); // the links: one canvas, redrawn each frame
      svg.width = width * ratio; svg.height = height * ratio;
      Object.assign(svg.style, { left: "0px", top: "0px", width: `${width}px`, height: `${height}px`, border: "none", background: "transparent" });
      svg.className = "links";
      svg.getContext("2d").scale(ratio, ratio);
      box.appendChild(svg);
      sizes.forEach((n, l) => {
        const size = Math.max(10, Math.min(44, (height - 30) / n - 6));
        const gap = Math.min(size + 8, (height - 30) / n);
        const top = 24 + (height - 30 - gap * n) / 2;
        const col = [];
        for (let i = 0; i < n; i++) {
          const x = colW * l + colW / 2 - size / 2, y = top + i * gap;
          const c = document.createElement("canvas");
          c.width = c.height = kept.neuron_grid;
          Object.assign(c.style, { left: `${x}px`, top: `${y}px`, width: `${size}px`, height: `${size}px` });
          if (l === layers - 1) c.className = "out";
          c.title = l === 0 ? `input x${i + 1}` : `layer ${l}, neuron ${i + 1}`;
          box.appendChild(c);
          col.push({ x, y, size, canvas: c });
        }
        positions.push(col);
        const label = document.createElement("div");
        label.className = "layer-label";
        label.textContent = l === 0 ? "inputs" : l === layers - 1 ? "output" : `hidden ${l} (${n})`;
        Object.assign(label.style, { left: `${colW * l}px`, width: `${colW}px`, top: "2px" });
        box.appendChild(label);
      });
      for (let l = 1; l < layers; l++) {
        const row = [];
        for (let j = 0; j < sizes[l]; j++) {
          const per = [];
          for (let i = 0; i < sizes[l - 1]; i++) {
            const a = positions[l - 1][i], b = positions[l][j];
            per.push([a.x + a.size, a.y + a.size / 2, b.x, b.y + b.size / 2]);
          }
          row.push(per);
        }
        links.push(row);
      }
      canvases = positions.map((col) => col.map((p) => p.canvas));
    }
    function paint(canvas, values, offset, stride, n, scale) {
      const ctx = canvas.getContext("2d");
      const img = ctx.createImageData(n, n);
      for (let p = 0; p < n * n; p++) putDiverging(img.data, 4 * p, values(p) / scale);
      ctx.putImageData(img, 0, 0);
    }
    function render(state) {
      const sizes = state.layer_sizes;
      if (!sizes) return;
      const key = sizes.join(",") + "/" + kept.neuron_grid;
      if (key !== shape) { build(sizes); shape = key; drawnLinks = ""; } // (reading the box's width each frame would force a layout)
      const n = kept.neuron_grid;
      const [x0, x1, y0, y1] = kept.bounds;
      const half = Math.max(Math.abs(x0), Math.abs(x1), Math.abs(y0), Math.abs(y1));
      paint(canvases[0][0], (p) => x0 + ((p % n) + 0.5) * (x1 - x0) / n, 0, 0, n, half);
      paint(canvases[0][1], (p) => y1 - (Math.floor(p / n) + 0.5) * (y1 - y0) / n, 0, 0, n, half);
      const heat = decode(state.heatmaps), scales = state.heatmaps.scales || [];
      const cells = n * n;
      let k = 0;
      for (let l = 1; l < sizes.length; l++) {
        for (let j = 0; j < sizes[l]; j++, k++) {
          const base = k * cells;
          // bytes 1..255 are -1..1 of the neuron's own scale; the output neuron keeps at least 1
          const out = l === sizes.length - 1, scale = scales[k] || 0, shrink = out ? scale / Math.max(scale, 1) : 1;
          paint(canvases[l][j], (p) => ((heat[base + p] - 128) / 127) * shrink, 0, 0, n, 1);
          const wb = state.weights[l - 1][j];
          canvases[l][j].title = `layer ${l}, neuron ${j + 1}: bias ${fmt(wb[wb.length - 1])}; heatmap range ±${fmt(scale, 3)}`;
        }
      }
      let maxW = 1e-12;
      for (const layer of state.weights) for (const neuron of layer) for (let i = 0; i < neuron.length - 1; i++) maxW = Math.max(maxW, Math.abs(neuron[i]));
      // The links in 2 signs x 16 levels of |w| / max |w|: one stroke per level, and none at all
      // when no link changed its level since the last frame (most frames, once training settles).
      const LEVELS = 16;
      const buckets = Array.from({ length: 2 * LEVELS }, () => []);
      let linkKey = `${maxW.toPrecision(2)}:`;
      for (let l = 1; l < sizes.length; l++) {
        for (let j = 0; j < sizes[l]; j++) {
          const w = state.weights[l - 1][j];
          for (let i = 0; i < sizes[l - 1]; i++) {
            const level = Math.min(LEVELS - 1, Math.floor((Math.abs(w[i]) / maxW) * LEVELS));
            const b = (w[i] >= 0 ? 0 : LEVELS) + level;
            buckets[b].push(links[l - 1][j][i]);
            linkKey += b.toString(36);
          }
          const title = canvases[l][j].title;
          canvases[l][j].title = `${title}\nweights in: ${w.slice(0, -1).map((x) => fmt(x, 3)).join(", ")}`;
        }
      }
      if (linkKey !== drawnLinks) {
        drawnLinks = linkKey;
        const ctx = svg.getContext("2d");
        ctx.clearRect(0, 0, svg.width, svg.height);
        const order = Array.from({ length: 2 * LEVELS }, (_, k) => (k % 2) * LEVELS + (k >> 1)); // thin to thick, both signs
        order.forEach((b) => {
          const group = buckets[b];
          if (!group.length) return;
          const t = ((b % LEVELS) + 0.5) / LEVELS;
          ctx.beginPath();
          for (const [x1, y1, x2, y2] of group) {
            const mx = (x1 + x2) / 2;
            ctx.moveTo(x1, y1);
            ctx.bezierCurveTo(mx, y1, mx, y2, x2, y2);
          }
          ctx.strokeStyle = b < LEVELS ? `rgba(8,119,189,${0.25 + 0.75 * t})` : `rgba(245,147,34,${0.25 + 0.75 * t})`;
          ctx.lineWidth = 0.3 + 4.5 * t;
          ctx.stroke();
        });
      }
      box.dataset.weights = String(state.weights.flat(2).length);
    }
    window.addEventListener("resize", () => (shape = ""));
    return { render };
  })();

  // ---------------------------------------------------------------- the autograd graph
  const BOX_W = 108, BOX_H = 44, GROUP_W = 118, GAP_X = 58, GAP_Y = 10;

  // A layered drawing of a DAG (Sugiyama's scheme, our own small version): ranks as late as possible
  // (each node just before its first user, the loss last), long edges split by dummy nodes, the order
  // in each rank by barycentre sweeps, then y positions pulled towards the neighbours' average.
  function layeredLayout(ids, edges, sink, aspect) {
    const index = new Map(ids.map((id, i) => [id, i]));
    const n = ids.length;
    const outs = Array.from({ length: n }, () => []);
    const ins = Array.from({ length: n }, () => []);
    for (const e of edges) { const a = index.get(e.from), b = index.get(e.to); outs[a].push(b); ins[b].push(a); }
    // reverse topological order from the sink (Kahn on the reversed graph)
    const pending = outs.map((o) => o.length);
    const order = [];
    const queue = [];
    for (let i = 0; i < n; i++) if (pending[i] === 0) queue.push(i);
    while (queue.length) {
      const v = queue.shift();
      order.push(v);
      for (const u of ins[v]) if (--pending[u] === 0) queue.push(u);
    }
    const dist = new Array(n).fill(0); // longest path to a sink
    for (const v of order) for (const u of ins[v]) dist[u] = Math.max(dist[u], dist[v] + 1);
    const maxDist = Math.max(0, ...dist);
    const rank = dist.map((d) => maxDist - d);
    // layers with dummy nodes: every edge spans one rank
    const layers = Array.from({ length: maxDist + 1 }, () => []);
    const nodes = []; // {id, rank, real}
    for (let i = 0; i < n; i++) nodes.push({ id: ids[i], rank: rank[i], real: true, up: [], down: [] });
    const chains = [];
    edges.forEach((e, k) => {
      let a = index.get(e.from);
      const b = index.get(e.to);
      const chain = [a];
      for (let r = rank[a] + 1; r < rank[b]; r++) {
        const d = nodes.length;
        nodes.push({ id: null, rank: r, real: false, up: [], down: [] });
        nodes[a].down.push(d); nodes[d].up.push(a);
        chain.push(d);
        a = d;
      }
      nodes[a].down.push(b); nodes[b].up.push(a);
      chain.push(b);
      chains[k] = chain;
    });
    // initial order: depth-first from the sink, so that a neuron's Values sit together
    const seen = new Uint8Array(nodes.length);
    const dfs = [];
    const stack = [index.get(sink) ?? order[0]];
    while (stack.length) {
      const v = stack.pop();
      if (v === undefined || seen[v]) continue;
      seen[v] = 1;
      dfs.push(v);
      for (let i = nodes[v].up.length - 1; i >= 0; i--) stack.push(nodes[v].up[i]);
    }
    for (let v = 0; v < nodes.length; v++) if (!seen[v]) dfs.push(v);
    for (const v of dfs) layers[nodes[v].rank].push(v);
    const pos = new Float64Array(nodes.length);
    const place = () => layers.forEach((layer) => layer.forEach((v, i) => (pos[v] = i)));
    place();
    const sweep = (down) => {
      const range = down ? layers.map((_, r) => r) : layers.map((_, r) => layers.length - 1 - r);
      for (const r of range) {
        const layer = layers[r];
        const bary = new Map();
        for (const v of layer) {
          const nb = down ? nodes[v].up : nodes[v].down;
          bary.set(v, nb.length ? nb.reduce((s, u) => s + pos[u], 0) / nb.length : pos[v]);
        }
        layer.sort((a, b) => bary.get(a) - bary.get(b) || pos[a] - pos[b]);
        layer.forEach((v, i) => (pos[v] = i));
      }
    };
    for (let it = 0; it < 6; it++) sweep(it % 2 === 1);
    // y coordinates: start packed, then pull towards neighbours keeping the order and the gaps
    const height = (v) => (nodes[v].real ? BOX_H : 6);
    const y = new Float64Array(nodes.length);
    let tallest = 0;
    for (const layer of layers) {
      let t = 0;
      for (const v of layer) { y[v] = t; t += height(v) + GAP_Y; }
      tallest = Math.max(tallest, t);
    }
    for (const layer of layers) {
      const last = layer[layer.length - 1];
      const shift = last === undefined ? 0 : (tallest - (y[last] + height(last) + GAP_Y)) / 2;
      for (const v of layer) y[v] += shift;
    }
    const centre = (v) => y[v] + height(v) / 2;
    for (let it = 0; it < 8; it++) {
      const range = it % 2 ? layers.map((_, r) => layers.length - 1 - r) : layers.map((_, r) => r);
      for (const r of range) {
        const layer = layers[r];
        const want = layer.map((v) => {
          const nb = nodes[v].up.concat(nodes[v].down);
          return nb.length ? nb.reduce((s, u) => s + centre(u), 0) / nb.length - height(v) / 2 : y[v];
        });
        // keep the order: a forward pass pushes down, a backward pass pulls up, then average
        const fwd = want.slice(), bwd = want.slice();
        for (let i = 1; i < layer.length; i++) fwd[i] = Math.max(fwd[i], fwd[i - 1] + height(layer[i - 1]) + GAP_Y);
        for (let i = layer.length - 2; i >= 0; i--) bwd[i] = Math.min(bwd[i], bwd[i + 1] - height(layer[i]) - GAP_Y);
        const merged = layer.map((_, i) => (fwd[i] + bwd[i]) / 2);
        for (let i = 1; i < layer.length; i++) merged[i] = Math.max(merged[i], merged[i - 1] + height(layer[i - 1]) + GAP_Y);
        layer.forEach((v, i) => (y[v] = merged[i]));
      }
    }
    let minY = Infinity, maxY = -Infinity;
    for (let v = 0; v < nodes.length; v++) { minY = Math.min(minY, y[v]); maxY = Math.max(maxY, y[v] + height(v)); }
    // columns as wide as the view's shape allows (a few ranks of many nodes would leave it empty)
    const col = Math.max(GROUP_W + GAP_X, Math.min(GROUP_W * 3, ((maxY - minY) * (aspect || 1.6) - GROUP_W) / Math.max(1, maxDist)));
    const coords = new Map();
    for (let i = 0; i < n; i++) coords.set(ids[i], { x: rank[i] * col, y: y[i] - minY, rank: rank[i] });
    const routes = chains.map((chain) => chain.map((v) => ({ x: nodes[v].rank * col, y: y[v] - minY + height(v) / 2, real: nodes[v].real })));
    return { coords, routes, order: order.map((i) => ids[i]) };
  }

  const graphView = (function () {
    const svg = $("autograd");
    const root = el("g", {}, svg);
    let topo = null;
    let expanded = new Set();
    let visible = null; // {nodes: [{id, kind, node, group}], edges: [{from, to, local}], ...}
    let view = { x: 0, y: 0, w: 1000, h: 560 };
    let values = null;

    function setTopology(graph) {
      topo = graph;
      topo.groupLocalOffset = [];
      let off = 0;
      for (const g of topo.groups) { topo.groupLocalOffset.push(off); off += g.inputs.length; }
      expanded = new Set(topo.nodes.length <= 120 ? topo.groups.map((g) => g.id) : []);
      rebuild(true);
    }
    // The graph as drawn: a collapsed neuron is one box (its output Value), its Values hidden.
    function visibleGraph() {
      const nodes = [], byId = new Map(), edges = [];
      const visId = (i) => {
        const g = topo.nodes[i].group;
        return g >= 0 && !expanded.has(g) ? `g${g}` : `n${i}`;
      };
      topo.nodes.forEach((node, i) => {
        const id = visId(i);
        if (byId.has(id)) return;
        const g = node.group;
        const entry = id[0] === "g" ? { id, group: g, node: topo.groups[g].out, collapsed: true } : { id, group: g, node: i, collapsed: false };
        if (id[0] === "g") {
          const out = topo.groups[g].out;
          if (i !== out && byId.has(id)) return;
        }
        byId.set(id, entry);
        nodes.push(entry);
      });
      const keys = new Set();
      topo.edges.forEach(([c, p, slot], k) => {
        const a = visId(c), b = visId(p);
        if (a === b) return;
        const pg = topo.nodes[p].group;
        let localOf;
        if (b[0] === "g") {
          const pos = topo.groups[pg].inputs.indexOf(c);
          if (pos < 0) return;
          localOf = { group: pg, pos };
        } else localOf = { edge: k };
        const key = `${a}>${b}>${b[0] === "g" ? localOf.pos : slot}`;
        if (keys.has(key)) return;
        keys.add(key);
        edges.push({ from: a, to: b, localOf });
      });
      return { nodes, byId, edges };
    }
    function nodeTitle(entry) {
      if (entry.collapsed) {
        const g = topo.groups[entry.group];
        return `${g.label} ${g.activation === "relu" ? "ReLU" : g.activation}`;
      }
      const node = topo.nodes[entry.node];
      const group = entry.group >= 0 ? topo.groups[entry.group] : null;
      if (group && group.out === entry.node) return `${node.op}  ${group.label} out`;
      if (node.op) return node.label ? `${node.op}  ${node.label}` : node.op;
      return node.label || (node.kind === "const" ? "const" : "leaf");
    }
    function rebuild(fit) {
      if (!topo) return;
      visible = visibleGraph();
      const sinkId = visible.nodes.find((e) => e.node === topo.loss && !e.collapsed)?.id;
      const layout = layeredLayout(visible.nodes.map((e) => e.id), visible.edges, sinkId, (svg.clientWidth || 1000) / (svg.clientHeight || 640));
      visible.order = layout.order; // reverse topological: the loss first
      root.textContent = "";
      const edgeLayer = el("g", {}, root), nodeLayer = el("g", {}, root);
      visible.edges.forEach((e) => {
        const route = layout.routes[visible.edges.indexOf(e)];
        const g = el("g", { class: "edge", "data-from": e.from, "data-to": e.to }, edgeLayer);
        const pts = route.map((p, i) => ({ x: p.x + (i === 0 ? (visible.byId.get(e.from).collapsed ? GROUP_W : BOX_W) : 0), y: p.y }));
        let d = `M${pts[0].x},${pts[0].y}`;
        for (let i = 1; i < pts.length; i++) {
          const a = pts[i - 1], b = pts[i], mx = (a.x + b.x) / 2;
          d += ` C${mx},${a.y} ${mx},${b.y} ${b.x},${b.y}`;
        }
        el("path", { d }, g);
        el("title", {}, g);
        const last = pts[pts.length - 1], prev = pts[pts.length - 2];
        const label = el("text", { x: (last.x + prev.x) / 2 + 6, y: (last.y + prev.y) / 2 - 3, "text-anchor": "middle" }, g);
        e.svg = g; e.label = label; e.path = g.firstChild;
        e.at = { mid: [(last.x + prev.x) / 2 + 6, (last.y + prev.y) / 2 - 3], start: [pts[0].x + 4, pts[0].y - 3] };
      });
      for (const entry of visible.nodes) {
        const c = layout.coords.get(entry.id);
        const node = topo.nodes[entry.node];
        let cls = `node ${entry.collapsed ? "group" : node.kind}${!entry.collapsed && entry.group >= 0 ? " member" : ""}`;
        if (entry.node === topo.loss) cls += " loss";
        const w = entry.collapsed ? GROUP_W : BOX_W;
        const g = el("g", { class: cls, transform: `translate(${c.x},${c.y})`, "data-id": entry.id, "data-node": entry.node }, nodeLayer);
        el("rect", { class: "box", width: w, height: BOX_H, rx: entry.collapsed ? 7 : 3 }, g);
        const title = el("text", { class: "title", x: 5, y: 12 }, g);
        title.textContent = nodeTitle(entry) + (entry.collapsed ? "  ▸" : "");
        const data = el("text", { class: "data", x: 5, y: 25 }, g);
        const grad = el("text", { class: "grad", x: 5, y: 38 }, g);
        el("title", {}, g);
        entry.svg = g; entry.rect = g.firstChild; entry.dataText = data; entry.gradText = grad;
        if (entry.collapsed) g.addEventListener("click", () => { if (!moved) toggle(entry.group, true, entry.id); });
        else if (entry.group >= 0) g.addEventListener("click", () => { if (!moved) toggle(entry.group, false, entry.id); });
        g.addEventListener("mouseenter", () => hot(entry, true));
        g.addEventListener("mouseleave", () => hot(entry, false));
      }
      visible.coords = layout.coords;
      visible.width = Math.max(...[...layout.coords.values()].map((c) => c.x + GROUP_W), 100);
      visible.height = Math.max(...[...layout.coords.values()].map((c) => c.y + BOX_H), 100);
      if (fit || !svg.getAttribute("viewBox")) fitView(); else applyView();
      if (values) paintValues();
      if (backward.active) backward.restart();
    }
    // Expands or collapses a neuron, keeping the clicked box where it was on the screen.
    function toggle(g, open, anchorBefore) {
      if (!open) anchorBefore = `n${topo.groups[g].out}`;
      const before = visible.coords.get(anchorBefore);
      if (open) expanded.add(g); else expanded.delete(g);
      rebuild(false);
      const anchorAfter = open ? `n${topo.groups[g].out}` : `g${g}`;
      const after = visible.coords.get(anchorAfter);
      if (before && after) { view.x += after.x - before.x; view.y += after.y - before.y; applyView(); }
      if (open) { // then the least pan that shows the whole neuron, where it fits
        let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
        for (const entry of visible.nodes) {
          if (entry.group !== g) continue;
          const c = visible.coords.get(entry.id);
          x0 = Math.min(x0, c.x); y0 = Math.min(y0, c.y); x1 = Math.max(x1, c.x + BOX_W); y1 = Math.max(y1, c.y + BOX_H);
        }
        const pad = 16;
        if (x1 - x0 + 2 * pad <= view.w) view.x = Math.min(Math.max(view.x, x1 + pad - view.w), x0 - pad);
        if (y1 - y0 + 2 * pad <= view.h) view.y = Math.min(Math.max(view.y, y1 + pad - view.h), y0 - pad);
        applyView();
      }
    }
    function hot(entry, on) {
      const labels = visible.edges.length <= 120;
      if (on && values) {
        const d = values.data[entry.node], g = entry.svg.getAttribute("data-grad");
        entry.svg.lastChild.textContent = `${nodeTitle(entry)}\ndata = ${d}\ngrad = ${g}`;
      }
      for (const e of visible.edges) {
        if (e.from !== entry.id && e.to !== entry.id) continue;
        e.svg.classList.toggle("hot", on);
        if (on) e.svg.firstChild.nextSibling.textContent = `local gradient ∂(${e.to})/∂(${e.from}) = ${localOf(e)}`;
        if (!labels && !e.svg.classList.contains("flow")) e.label.textContent = on ? fmt(localOf(e), 3) : "";
      }
    }
    function fitView() {
      if (!visible) return;
      const pad = 24;
      const aspect = (svg.clientWidth || 1000) / (svg.clientHeight || 640);
      let w = visible.width + 2 * pad, h = visible.height + 2 * pad;
      if (w / h < aspect) w = h * aspect; else h = w / aspect;
      view = { x: -pad - (w - visible.width - 2 * pad) / 2, y: -pad - (h - visible.height - 2 * pad) / 2, w, h };
      applyView();
    }
    function applyView() { svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`); }
    // pan and zoom
    let drag = null, moved = false;
    svg.addEventListener("mousedown", (e) => { drag = { x: e.clientX, y: e.clientY, view: { ...view } }; moved = false; svg.classList.add("dragging"); });
    window.addEventListener("mouseup", () => { drag = null; svg.classList.remove("dragging"); });
    window.addEventListener("mousemove", (e) => {
      if (!drag) return;
      if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) moved = true;
      if (!moved) return;
      const s = view.w / (svg.clientWidth || 1);
      view.x = drag.view.x - (e.clientX - drag.x) * s;
      view.y = drag.view.y - (e.clientY - drag.y) * s;
      applyView();
    });
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const rect = svg.getBoundingClientRect();
      const fx = (e.clientX - rect.left) / rect.width, fy = (e.clientY - rect.top) / rect.height;
      const k = Math.exp(e.deltaY * 0.0015);
      const w = view.w * k, h = view.h * k;
      view = { x: view.x + (view.w - w) * fx, y: view.y + (view.h - h) * fy, w, h };
      applyView();
    }, { passive: false });
    $("fit").addEventListener("click", fitView);
    $("expand-all").addEventListener("click", () => { if (topo) { expanded = new Set(topo.groups.map((g) => g.id)); rebuild(true); } });
    $("collapse-all").addEventListener("click", () => { expanded = new Set(); rebuild(true); });

    function setValues(state) {
      if (!topo || !state.values) return;
      values = {
        data: decode(state.values.data),
        grad: decode(state.values.grad),
        local: decode(state.values.local),
        groupLocal: decode(state.values.group_local),
      };
      paintValues();
    }
    function localOf(e) {
      if (!values) return NaN;
      return e.localOf.edge !== undefined ? values.local[e.localOf.edge] : values.groupLocal[topo.groupLocalOffset[e.localOf.group] + e.localOf.pos];
    }
    function paintValues(grads) {
      if (!visible || !values) return;
      let maxG = 1e-300;
      const gradOf = (entry) => (grads ? grads.get(entry.id) : values.grad[entry.node]);
      for (const entry of visible.nodes) maxG = Math.max(maxG, Math.abs(gradOf(entry) || 0));
      for (const entry of visible.nodes) {
        const d = values.data[entry.node], g = gradOf(entry);
        entry.svg.setAttribute("data-data", String(d));
        entry.svg.setAttribute("data-grad", String(g));
        // text and colour only where they change: each change lays the SVG's text out again
        const dataText = `data ${fmt(d)}`, gradText = `grad ${fmt(g)}`, fill = heat(Math.sqrt(Math.abs(g) / maxG));
        if (entry.dataText.textContent !== dataText) entry.dataText.textContent = dataText;
        if (entry.gradText.textContent !== gradText) entry.gradText.textContent = gradText;
        if (entry.fill !== fill) { entry.rect.setAttribute("fill", fill); entry.fill = fill; }
      }
      const labels = visible.edges.length <= 120; // more: on hover
      for (const e of visible.edges) {
        const local = localOf(e);
        e.svg.setAttribute("data-local", String(local)); // every edge holds its local gradient
        if (e.svg.classList.contains("flow") || e.svg.classList.contains("hot")) continue;
        const text = labels ? fmt(local, 3) : "";
        if (e.label.textContent !== text) e.label.textContent = text;
      }
    }
    return {
      setTopology, setValues, paintValues, localOf, fitView,
      graph: () => visible,
      values: () => values,
      topology: () => topo,
      expand: (g) => { expanded.add(g); rebuild(false); },
    };
  })();

  // ---------------------------------------------------------------- backward, one node at a time
  // The lecture's manual session: loss.grad = 1, then each node's _backward() in reverse topological
  // order, adding local gradient x the node's grad into each operand's grad. Drawn on the graph as shown
  // (a collapsed neuron is one step: d out / d input for each input), with the frame's numbers frozen.
  const backward = (function () {
    const api = { active: false };
    let grads = null, step = 0, timer = null, incoming = null;
    const log = $("backward-log");
    function buttons() {
      $("backward-mode").setAttribute("aria-pressed", String(api.active));
      $("backward-next").disabled = !api.active || done();
      $("backward-animate").disabled = !api.active || done();
      $("backward-exit").disabled = !api.active;
      $("backward-animate").textContent = timer ? "Stop animation" : "Animate";
    }
    function done() { const v = graphView.graph(); return !v || step >= v.order.length; }
    function restart() {
      const v = graphView.graph();
      if (!v || !graphView.values()) return;
      clearInterval(timer); timer = null;
      grads = new Map(v.nodes.map((e) => [e.id, 0]));
      grads.set(v.order[0], 1);
      incoming = new Map(v.nodes.map((e) => [e.id, []]));
      for (const e of v.edges) incoming.get(e.to).push(e);
      step = 0;
      log.textContent = "";
      for (const entry of v.nodes) { entry.svg.classList.remove("visited", "current"); entry.svg.removeAttribute("data-visited"); }
      for (const e of v.edges) unflow(e);
      addLog(`${name(v.byId.get(v.order[0]))}.grad = 1   (d loss / d loss)`);
      graphView.paintValues(grads);
      api.grads = grads;
      $("backward-status").textContent = `0 of ${v.order.length} nodes`;
      buttons();
    }
    function name(entry) {
      const topo = graphView.topology();
      if (entry.collapsed) return topo.groups[entry.group].label;
      const node = topo.nodes[entry.node];
      if (entry.group >= 0 && topo.groups[entry.group].out === entry.node) return `${topo.groups[entry.group].label}.out`;
      return node.label || `${node.op || "v"}#${entry.node}`;
    }
    function addLog(text, current) {
      const li = document.createElement("li");
      li.textContent = text;
      for (const old of log.querySelectorAll("li.current")) old.classList.remove("current");
      if (current) li.classList.add("current");
      log.appendChild(li);
      log.scrollTop = log.scrollHeight;
    }
    function next() {
      const v = graphView.graph();
      if (!api.active || done()) return false;
      const id = v.order[step];
      const entry = v.byId.get(id);
      for (const e of v.edges) if (e.svg.classList.contains("flow")) unflow(e);
      for (const other of v.nodes) other.svg.classList.remove("current");
      entry.svg.classList.add("current", "visited");
      entry.svg.setAttribute("data-visited", String(step));
      const up = grads.get(id);
      const parts = [];
      for (const e of incoming.get(id)) {
        const local = graphView.localOf(e);
        const contribution = local * up;
        grads.set(e.from, grads.get(e.from) + contribution);
        e.svg.classList.add("flow");
        e.label.setAttribute("x", e.at.start[0]); e.label.setAttribute("y", e.at.start[1]); e.label.setAttribute("text-anchor", "start");
        e.label.textContent = `${fmt(local, 3)} × ${fmt(up, 3)} = ${fmt(contribution, 3)}`;
        parts.push(`${name(v.byId.get(e.from))}.grad += ${fmt(local)} × ${fmt(up)} = ${fmt(contribution)}`);
      }
      step++;
      addLog(`${name(entry)}._backward()${parts.length ? "" : ": a leaf, nothing flows further"}${parts.length ? "\n  " + parts.join("\n  ") : ""}`, true);
      graphView.paintValues(grads);
      $("backward-status").textContent = `${step} of ${v.order.length} nodes`;
      if (done()) finish();
      buttons();
      return true;
    }
    function unflow(e) {
      e.svg.classList.remove("flow");
      e.label.setAttribute("x", e.at.mid[0]); e.label.setAttribute("y", e.at.mid[1]); e.label.setAttribute("text-anchor", "middle");
      e.label.textContent = "";
    }
    function finish() {
      clearInterval(timer); timer = null;
      const v = graphView.graph(), values = graphView.values();
      let worst = 0;
      for (const entry of v.nodes) {
        const engine = values.grad[entry.node], mine = grads.get(entry.id);
        worst = Math.max(worst, Math.abs(engine - mine) / Math.max(1e-300, Math.abs(engine), Math.abs(mine)) || 0);
      }
      api.maxRelativeDifference = worst;
      const text = `done: every node visited once; the grads agree with the engine's backward() to ${fmt(worst, 2)} (relative)`;
      $("backward-status").textContent = text;
      addLog(text);
    }
    function enter() {
      if (!graphView.graph()) return;
      api.active = true;
      if (LIVE) control({ action: "pause" }); else replayPause();
      restart();
    }
    function exit() {
      api.active = false;
      clearInterval(timer); timer = null;
      const v = graphView.graph();
      if (v) {
        for (const entry of v.nodes) { entry.svg.classList.remove("visited", "current"); entry.svg.removeAttribute("data-visited"); }
        for (const e of v.edges) unflow(e);
      }
      $("backward-status").textContent = "";
      graphView.paintValues();
      buttons();
    }
    function animate() {
      if (timer) { clearInterval(timer); timer = null; buttons(); return; }
      const v = graphView.graph();
      const interval = Math.max(15, Math.min(250, 8000 / Math.max(1, v.order.length))); // ~8 s in all
      timer = setInterval(() => { if (!next()) { clearInterval(timer); timer = null; buttons(); } }, interval);
      buttons();
    }
    $("backward-mode").addEventListener("click", () => (api.active ? exit() : enter()));
    $("backward-next").addEventListener("click", next);
    $("backward-animate").addEventListener("click", animate);
    $("backward-exit").addEventListener("click", exit);
    return Object.assign(api, { restart, next, exit, enter, done, unflow, get step() { return step; } });
  })();
  studio.backward = backward;
  studio.graph = graphView;

  // layers.0.neurons.3.w.1 -> w1.4.2 (layer, neuron, input, counted from 1), as the graph labels them
  function shortName(name) {
    const m = /^layers\.(\d+)\.neurons\.(\d+)\.(w)\.(\d+)$/.exec(name) || /^layers\.(\d+)\.neurons\.(\d+)\.(b)$/.exec(name);
    if (!m) return name;
    return m[3] === "w" ? `w${+m[1] + 1}.${+m[2] + 1}.${+m[4] + 1}` : `b${+m[1] + 1}.${+m[2] + 1}`;
  }

  // ---------------------------------------------------------------- the optimizer's state
  // A virtual table: only the rows in the scrolled window exist (337 rows of live numbers laid out
  // again each frame cost more than all the other views together).
  const optimizerView = (function () {
    const table = $("optimizer-table");
    const wrap = table.parentElement;
    const thead = table.tHead, tbody = table.tBodies[0];
    const ROW = 20, EXTRA = 6;
    let shape = "", cols = [], last = null, drawn = 0;
    wrap.addEventListener("scroll", () => last && draw(last));
    function header(o, adam) {
      thead.innerHTML = "";
      const tr = thead.insertRow();
      cols = ["parameter", "data", "grad", "update (last step)", ""].concat(adam ? ["m (1st moment)", "v (2nd moment)"] : []);
      for (const c of cols) { const th = document.createElement("th"); th.textContent = c; tr.appendChild(th); }
    }
    function draw(view) {
      const { names, data, grad, update, m, v } = view;
      const first = Math.max(0, Math.floor(wrap.scrollTop / ROW) - EXTRA);
      const count = Math.min(names.length - first, Math.ceil(wrap.clientHeight / ROW) + 2 * EXTRA);
      let maxU = 1e-300;
      for (let i = 0; i < update.length; i++) maxU = Math.max(maxU, Math.abs(update[i]));
      const rows = [`<tr style="height:${first * ROW}px"></tr>`];
      for (let i = first; i < first + count; i++) {
        const width = ((100 * Math.abs(update[i])) / maxU).toFixed(1);
        const cells = [`<td title="${names[i]}">${shortName(names[i])}</td>`, `<td>${fmt(data[i])}</td>`, `<td>${fmt(grad[i])}</td>`,
          `<td>${fmt(update[i])}</td>`, `<td class="bar"><span class="${update[i] < 0 ? "neg" : ""}" style="width:${width}%"></span></td>`];
        if (m) cells.push(`<td>${fmt(m[i])}</td>`, `<td>${fmt(v[i])}</td>`);
        rows.push(`<tr style="height:${ROW}px" data-index="${i}">${cells.join("")}</tr>`);
      }
      rows.push(`<tr style="height:${(names.length - first - count) * ROW}px"></tr>`);
      tbody.innerHTML = rows.join("");
    }
    function render(state) {
      const o = state.optimizer;
      if (!o) return;
      const names = kept.names;
      const adam = o.kind === "adam";
      if (`${o.kind}/${names.length}` !== shape) { shape = `${o.kind}/${names.length}`; header(o, adam); }
      const formula = adam
        ? `Adam, lr ${fmt(o.lr)}: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², update = −lr · m̂ / (√v̂ + ε)`
        : `SGD, lr ${fmt(o.lr)}: update = −lr × grad`;
      $("optimizer-caption").textContent = `${formula} · step ${o.step} · ${names.length} parameters`;
      last = { names, data: decode(o.data), grad: decode(o.grad), update: decode(o.update), m: o.m ? decode(o.m) : null, v: o.v ? decode(o.v) : null };
      const now = performance.now();
      if (now - drawn < 100 && state.playing) return; // ten times a second is plenty for a table
      drawn = now;
      table.dataset.step = String(o.step);
      draw(last);
    }
    return { render };
  })();

  // ---------------------------------------------------------------- start
  window.addEventListener("error", (e) => studio.errors.push(String(e.message)));
  if (LIVE) {
    $("mode-note").textContent = "";
    // The address's settings, those that differ from the server's (a notebook's own data stays).
    const wanted = hashConfig();
    const start = Object.keys(wanted).length
      ? api("/api/state?graph=0").then((state) => {
          const changes = {};
          for (const [key, value] of Object.entries(wanted)) if (JSON.stringify(state.config[key]) !== JSON.stringify(value)) changes[key] = value;
          return Object.keys(changes).length ? control({ action: "config", config: changes }) : null;
        }).catch((error) => showError(error.message))
      : Promise.resolve();
    start.then(liveLoop);
  } else {
    $("mode-note").textContent = `a recorded run: ${RECORDING.frames.length} frames of ${RECORDING.frames[RECORDING.frames.length - 1].step} steps (Play, Pause, Step and Reset replay it)`;
    for (const input of form.elements) input.disabled = true;
    $("speed").disabled = true;
    showFrame(0);
  }
})();
