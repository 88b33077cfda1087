#!/usr/bin/env bash
# Set up (serving packages only), build or update the index (incremental: seconds when
# nothing changed), then serve. Ends with "kb is serving http://127.0.0.1:8000 — …".
#   scripts/serve.sh [--host 127.0.0.1] [--port 8000] [--workers 1]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh serve
export HF_HUB_OFFLINE=1
echo "serve: building or refreshing the index (the first run embeds every page: a few minutes on 2 cores)" >&2
.venv/bin/kb ingest
exec .venv/bin/kb serve "$@"
