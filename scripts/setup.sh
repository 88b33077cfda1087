#!/usr/bin/env bash
# Create .venv and install kb with everything it needs (idempotent: a stamp of pyproject.toml
# skips the install when nothing changed). torch is pinned to 2.13.0, the CPU build that lies
# on this machine's disk, so pip never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${1:-test}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.kb-installed-$(sha256sum pyproject.toml | cut -c1-16)-$EXTRAS"
if [ ! -f "$stamp" ]; then
  find_links=()
  [ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet "${find_links[@]}" "torch==2.13.0"
  .venv/bin/python -m pip install --quiet "${find_links[@]}" -e ".[$EXTRAS]"
  rm -f .venv/.kb-installed-*
  touch "$stamp"
fi
