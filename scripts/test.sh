#!/usr/bin/env bash
# Set up, then run the whole test suite: the fast tests, then the long load and fuzz runs
# (marker "slow"). Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/python -m pytest "$@"
# The slow suite may legitimately select nothing when filtered by arguments (pytest exit 5).
.venv/bin/python -m pytest -m slow "$@" || [ $? -eq 5 ]
