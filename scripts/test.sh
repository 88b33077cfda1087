#!/usr/bin/env bash
# Set up, then run the whole test suite: the fast tests, then the long load and fuzz runs
# (marker "slow"). Extra arguments go to both pytest runs.
#   scripts/test.sh                    everything (CI runs exactly this)
#   scripts/test.sh tests/test_cli.py  one file, in both runs
# Both runs share one corpus index, kept outside the checkout in KB_TEST_INDEX (default:
# ~/.cache/kb/test-index/<checkout>); it is rebuilt only when the corpus or the chunker
# changed. Nothing is written into the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
checkout_id=$(pwd | sha256sum | cut -c1-12)
export KB_TEST_INDEX=${KB_TEST_INDEX:-${XDG_CACHE_HOME:-$HOME/.cache}/kb/test-index/$checkout_id}
mkdir -p "$KB_TEST_INDEX"
echo "test: corpus index in $KB_TEST_INDEX (reused when up to date)" >&2
# pytest's cache folder would be .pytest_cache in the checkout: keep it out.
no_cache=(-p no:cacheprovider)
.venv/bin/python -m pytest "${no_cache[@]}" --durations=25 "$@"
# The slow suite may legitimately select nothing when filtered by arguments (pytest exit 5).
.venv/bin/python -m pytest "${no_cache[@]}" --durations=10 -m slow "$@" || [ $? -eq 5 ]
