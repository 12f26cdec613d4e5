#!/usr/bin/env bash
# Debian/Ubuntu packages the tests need: a C++ compiler, CMake's helpers,
# doctest (C++ unit tests) and Graphviz (drawing tests). Skips what is there.
set -euo pipefail
needed=()
command -v g++ >/dev/null || needed+=(g++)
command -v dot >/dev/null || needed+=(graphviz)
[ -f /usr/include/doctest/doctest.h ] || needed+=(doctest-dev)
[ ${#needed[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "please install: ${needed[*]} (C++ compiler, Graphviz, doctest)" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${needed[@]}" >/dev/null
