#!/usr/bin/env bash
# Time a newcomer's first start: clone this checkout into a temporary folder (../shared
# linked beside it), run scripts/serve.sh there with a fresh .venv and an empty ONNX export
# cache, and time until /readyz answers 200 and a first /v1/ask answers; then stop the
# server and print the figures. serve.sh's own lines, time-stamped, go to serve.log there.
#   scripts/time_fresh_clone.sh [PORT]        (default port 18714; about 2-7 min on 2 cores)
set -euo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd)
port=${1:-18714}
base=$(mktemp -d /tmp/kb-fresh-clone.XXXXXX)
ln -s "$(cd "$checkout/../shared" && pwd)" "$base/shared"
git clone -q "$checkout" "$base/kb"
cd "$base/kb"
export KB_CACHE_DIR="$base/cache"
now() { python3 -c 'import time; print(f"{time.time():.2f}")'; }
start=$(now)
# A session of its own, so that the whole server (serve.sh, kb serve's supervisor, its
# workers) stops with one signal to that group.
setsid bash -c "echo \$\$ > $base/group.pid; exec bash scripts/serve.sh --port $port 2>&1 | while IFS= read -r line; do printf '%s %s\n' \"\$(date +%T)\" \"\$line\"; done > $base/serve.log" &
ready=""
deadline=$((SECONDS + 1800))  # a bound for the slowest machine, not a sleep
while [ $SECONDS -lt $deadline ]; do
  if curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; then ready=$(now); break; fi
  sleep 0.2
done
answer=$(curl -s -X POST "http://127.0.0.1:$port/v1/ask" -H 'content-type: application/json' \
  -d '{"question":"which approach for cart abandonment?"}' | head -c 100)
answered=$(now)
kill -TERM -- "-$(cat "$base/group.pid")" 2>/dev/null || true
python3 - "$start" "$ready" "$answered" <<'PY'
import sys
start, ready, answered = sys.argv[1], sys.argv[2], sys.argv[3]
print(f"fresh clone to /readyz 200: {float(ready) - float(start):.1f} s" if ready else "never ready")
print(f"fresh clone to the first answer: {float(answered) - float(start):.1f} s")
PY
echo "first answer: $answer…"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); steps in $base/serve.log"
