"""show() in a real notebook: executed with nbclient on an ipykernel; the cell's output is the live
view (an iframe of the studio's server, running in the kernel), which Chromium then opens and drives."""

from __future__ import annotations

import re
import time

import pytest

pytestmark = pytest.mark.browser

CELLS = [
    "from micrograd_cpp import studio\nh = studio.show(hidden=[4, 4], points=60)",
    "h.step(25)['step']",
]


def test_show_in_a_notebook_is_the_live_view_and_its_handle_drives_it(chromium, screenshots, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        client.execute_cell(nb.cells[1], 1)
        outputs = nb.cells[0].outputs
        html = next(o["data"]["text/html"] for o in outputs if o.get("output_type") == "display_data")
        url = re.search(r'<iframe src="([^"]+)"', html)[1].replace("&amp;", "&")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", url)
        assert nb.cells[1].outputs[0]["data"]["text/plain"] == "25"

        # the output as a notebook shows it: the iframe, live
        context = chromium.new_context(viewport={"width": 1300, "height": 950})
        page = context.new_page()
        try:
            page.set_content(f"<body style='margin:0'>{html}</body>")
            frame = page.frame_locator("iframe")
            frame.locator("#autograd g.node").first.wait_for(timeout=30_000)
            assert frame.locator("#stat-step").inner_text() == "25"
            frame.get_by_role("button", name="Play", exact=True).click()
            deadline = time.monotonic() + 30
            while int(frame.locator("#stat-step").inner_text()) <= 25:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            frame.get_by_role("button", name="Pause", exact=True).click()
            time.sleep(0.3)
            page.screenshot(path=str(screenshots / "notebook-output.png"))
        finally:
            context.close()
        # the kernel's handle sees what the page did
        check = nbformat.v4.new_code_cell(
            "s = h.state(); (s['step'] > 25, s['playing'], s['config']['hidden'])"
        )
        nb.cells.append(check)
        client.execute_cell(check, 2)
        assert check.outputs[0]["data"]["text/plain"] == "(True, False, [4, 4])"
        close = nbformat.v4.new_code_cell("h.close()")
        nb.cells.append(close)
        client.execute_cell(close, 3)
