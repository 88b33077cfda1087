#!/usr/bin/env bash
# Create .venv and install kb from the lock (idempotent: a stamp of pyproject.toml and the lock
# skips the install when nothing changed).
#   scripts/setup.sh serve    what serving needs (scripts/serve.sh)
#   scripts/setup.sh test     that plus the test tools (scripts/test.sh, CI); the default
# Versions come from requirements/lock-<serve|test>.txt (scripts/lock.sh writes them), applied
# as pip constraints: every package, transitive ones included, is the version measured here.
# torch is pinned to 2.13.0, the CPU build that lies on this machine's disk, so pip never
# pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TARGET=${1:-test}
PIP_VERSION=26.3
case "$TARGET" in
  serve) spec="." ;;
  test) spec=".[test]" ;;
  *) echo "usage: scripts/setup.sh [serve|test]" >&2; exit 2 ;;
esac
lock="requirements/lock-$TARGET.txt"
say() { echo "setup: $*" >&2; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv .venv
fi
stamp_of() { echo ".venv/.kb-installed-$(cat pyproject.toml "requirements/lock-$1.txt" 2>/dev/null | sha256sum | cut -c1-16)-$1"; }
stamp=$(stamp_of "$TARGET")
# A test install also serves; a serve install does not test.
if [ -f "$stamp" ] || { [ "$TARGET" = serve ] && [ -f "$(stamp_of test)" ]; }; then
  say ".venv is up to date ($TARGET)"
  exit 0
fi

constraints=()
if [ -f "$lock" ]; then
  constraints=(--constraint "$lock")
  if [ "$(grep -m1 '^# dependencies digest:' "$lock" | cut -d: -f2 | tr -d ' ')" != "$(.venv/bin/python scripts/lock_digest.py)" ]; then
    say "warning: $lock is older than pyproject.toml's dependencies; packages it does not list"
    say "         resolve freely. Run scripts/lock.sh and commit the lock files."
  fi
else
  say "warning: no $lock: versions resolve freely (run scripts/lock.sh)"
fi
find_links=()
[ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
started=$SECONDS
say "step 1/3: pip $PIP_VERSION (the version the lock was made with)"
.venv/bin/python -m pip install --quiet "pip==$PIP_VERSION"
say "step 2/3: installing torch 2.13.0 (CPU build; the largest download, ~1 min the first time)"
.venv/bin/python -m pip install --quiet "${find_links[@]}" "${constraints[@]}" "torch==2.13.0" --quiet
say "step 3/3: installing kb and its $(grep -vc '^#' "$lock" 2>/dev/null || echo '') locked dependencies ($TARGET)"
.venv/bin/python -m pip install --quiet "${find_links[@]}" "${constraints[@]}" -e "$spec" --quiet
rm -f .venv/.kb-installed-*-"$TARGET"
touch "$stamp"
say "done in $((SECONDS - started)) s: $(.venv/bin/kb --version)"
