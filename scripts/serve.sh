#!/usr/bin/env bash
# Set up, build or update the index (incremental: seconds when nothing changed), then serve.
#   scripts/serve.sh [--host 127.0.0.1] [--port 8000] [--workers 1]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export HF_HUB_OFFLINE=1
.venv/bin/kb ingest
exec .venv/bin/kb serve "$@"
