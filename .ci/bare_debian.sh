#!/usr/bin/env bash
# Proves the README's two commands on a bare machine: a throwaway Debian 12 root (debootstrap
# minbase, plus python3 and nothing else), entered with chroot, where this checkout's files run
#   1. scripts/demo.sh as a user without root or sudo: it must stop at once and print the one
#      apt-get command to run;
#   2. scripts/demo.sh as root after a half-made .venv (python3 -m venv fails without
#      python3-venv and leaves one behind): it must install what it needs and train;
#   3. scripts/demo.sh again: nothing to install or rebuild, seconds; then its editable install:
#      an import prints nothing, unless a C++ file changed (then one line, and it rebuilds);
#   4. scripts/test.sh: every test (types, C++ unit tests, pytest, and both under ASan + UBSan).
# Each step is timed. Needs root (debootstrap, mount, chroot) and Debian's mirror.
#
# The root uses this machine's Debian sources, and the pip configuration it uses (/etc/pip.conf,
# /etc/xdg/pip, the PIP_* variables, the wheels in /opt/wheels and the CA bundle pip is told to
# trust), so that pip finds what it finds here. BARE_DEBIAN_KEEP=1 keeps the root for a look.
# Exit status 75: the root could not be made (mirror unreachable), nothing was tested.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m=== bare Debian 12: %s\033[0m\n' "$*"; }
fail() {
  echo "bare_debian: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, mount, chroot)"
started=$SECONDS
timings=()
timed() {  # timed LABEL COMMAND...: runs it, records its duration
  local label=$1 t0=$SECONDS
  shift
  "$@"
  timings+=("$(printf '%5d s  %s' $((SECONDS - t0)) "$label")")
}

if ! command -v debootstrap >/dev/null || [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
  step "installing debootstrap and Debian's archive keyring"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap debian-archive-keyring ||
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap debian-archive-keyring; }
fi

# This machine's Debian mirror where it has one (deb822 or one-line sources), else Debian's own.
mirror=$(
  {
    sed -n 's/^URIs: *\(http[^ ]*debian\/*\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null
    sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\(http[^ ]*debian\/*\) bookworm .*/\2/p' /etc/apt/sources.list 2>/dev/null
  } | head -n 1 || true
)
mirror=${mirror:-http://deb.debian.org/debian}

root=$(mktemp -d "${TMPDIR:-/var/tmp}/bare-debian.XXXXXX")
chmod 755 "$root"  # it is /, for every user in it
mounts=()
cleanup() {
  local m
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    m=${mounts[i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if grep -q " $root" /proc/mounts; then  # never delete through a mount that is still there
    echo "bare_debian: $root still has mounts; left in place" >&2
  elif [ "${BARE_DEBIAN_KEEP:-0}" = 1 ]; then
    echo "bare_debian: the root is kept in $root" >&2
  else
    rm -rf "$root"
  fi
}
trap cleanup EXIT
bind() {  # bind SOURCE: the same path inside the root, read-only unless the source is /dev
  mkdir -p "$root$1"
  mount --bind "$1" "$root$1"
  mounts+=("$root$1")
  if [ "$1" != /dev ]; then mount -o remount,bind,ro "$root$1"; fi
}

step "debootstrap --variant=minbase --include=python3 bookworm $root $mirror"
t0=$SECONDS
if ! debootstrap --variant=minbase --include=python3 bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1; then
  tail -n 20 "$root.debootstrap.log" >&2
  rm -f "$root.debootstrap.log"
  echo "bare_debian: debootstrap failed (is $mirror reachable?): nothing was tested" >&2
  exit 75
fi
rm -f "$root.debootstrap.log"
timings+=("$(printf '%5d s  %s' $((SECONDS - t0)) "debootstrap (minbase + python3)")")

step "the root: what it has, and this machine's package sources and pip configuration"
# shellcheck disable=SC2016 # expanded by the root's shell
chroot "$root" sh -c 'python3 --version; for c in pip3 g++ cc cmake ninja dot git sudo; do command -v $c || echo "no $c"; done'
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
  rm -f "$root/etc/apt/sources.list"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/proc"
mount -t proc proc "$root/proc"
mounts+=("$root/proc")
bind /dev
for path in /etc/pip.conf /etc/xdg/pip; do
  if [ -e "$path" ]; then
    mkdir -p "$root$(dirname "$path")"
    cp -r "$path" "$root$path"
  fi
done
[ -d /opt/wheels ] && bind /opt/wheels
# The CA bundle pip is told to use (PIP_CERT, or cert = in pip.conf) must exist inside too, and
# the machine's own CAs (a proxy's, say) must survive when apt installs ca-certificates and
# update-ca-certificates rebuilds that bundle.
cert=${PIP_CERT:-$(sed -n 's/^cert *= *//p' /etc/pip.conf 2>/dev/null | head -n 1 || true)}
if [ -n "$cert" ] && [ -f "$cert" ]; then
  mkdir -p "$root$(dirname "$cert")"
  cp "$cert" "$root$cert"
fi
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
mapfile -t pip_env < <(env | grep -E '^PIP_' || true)
ci_env=(HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
for name in MICROGRAD_STRICT CMAKE_BUILD_PARALLEL_LEVEL; do
  if [ -n "${!name:-}" ]; then ci_env+=("$name=${!name}"); fi
done

# The checkout's files as they are (tracked and new, not ignored): what a clean clone holds.
work=/srv/micrograd-cpp  # readable by the unprivileged user of step 1, unlike /root
mkdir -p "$root$work"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$root$work"
in_root() { chroot "$root" env -i "${ci_env[@]}" "${pip_env[@]}" bash -c "cd $work && $1"; }

step "1. scripts/demo.sh as a user without root or sudo: it must print the apt-get command"
chmod -R a+rX "$root$work"
if out=$(chroot --userspec=65534:65534 "$root" env -i "${ci_env[@]}" HOME=/tmp bash -c "cd $work && scripts/demo.sh" 2>&1); then
  fail "scripts/demo.sh succeeded without the system packages: $out"
fi
echo "$out"
grep -q "apt-get install -y --no-install-recommends python3-venv python3-dev g++" <<<"$out" ||
  fail "scripts/demo.sh did not print the apt-get command to run"

step "2. a half-made .venv (python3 -m venv without python3-venv), then scripts/demo.sh as root"
in_root "python3 -m venv .venv" && fail "python3 -m venv worked: this root is not bare"
in_root "test -d .venv && ! .venv/bin/python -m pip --version" || fail "expected a half-made .venv without pip"
timed "scripts/demo.sh, first run (apt, .venv, nox, build, train)" in_root "scripts/demo.sh --out /tmp/moons.png"
[ -s "$root/tmp/moons.png" ] || fail "the demo saved no plot"

step "3. scripts/demo.sh again, on the unchanged tree: no install, no rebuild"
t0=$SECONDS
out=$(in_root "scripts/demo.sh --out /tmp/moons.png" 2>&1)
echo "$out"
second=$((SECONDS - t0))
timings+=("$(printf '%5d s  %s' "$second" "scripts/demo.sh, second run")")
grep -q "final training accuracy: 100.0%" <<<"$out" || fail "the second demo run did not reach 100%"
if grep -E "Building|building micrograd-cpp|Installing collected" <<<"$out"; then
  fail "the second demo run installed or built something"
fi
[ "$second" -le 20 ] || fail "the second demo run took $second s"

step "3b. the demo's editable install: an import is silent, unless a C++ file changed"
# As a developer uses it: the venv activated, so that the rebuild finds the venv's CMake and Ninja.
import_in_venv() { in_root ". .nox/demo/bin/activate && python -c '$1'" 2>&1; }
out=$(import_in_venv "import micrograd_cpp") || fail "importing the editable install failed: $out"
[ -z "$out" ] || fail "importing the editable install printed: $out"
in_root "touch cpp/src/label.cpp"
out=$(import_in_venv "import micrograd_cpp; print(micrograd_cpp.Value(2.0) * 3)") || fail "the rebuild failed: $out"
echo "$out"
grep -q "^micrograd_cpp: the C++ sources changed, rebuilding" <<<"$out" || fail "no word of the rebuild"
out=$(import_in_venv "import micrograd_cpp") || fail "importing the rebuilt editable install failed: $out"
[ -z "$out" ] || fail "importing the rebuilt editable install printed: $out"
echo "silent again after the rebuild"

step "4. scripts/test.sh: every test"
timed "scripts/test.sh (apt, types, tests, sanitize)" in_root "scripts/test.sh"

step "done in $((SECONDS - started)) s"
printf '%s\n' "${timings[@]}"
