"""The one line `kb serve` ends with, printed once the server really answers.

``kb is serving http://127.0.0.1:8000 — chat at /, API docs at /docs`` is what a newcomer
looks for in the output, so it is printed only when ``/readyz`` says 200 (the index loaded
and warmed), not when the process starts: a port already taken or an index that cannot load
must not be announced as serving. With several workers, each loads its own copy of the
index, and the kernel hands each new connection to one of them (SO_REUSEPORT): the line
waits for a run of 200s on fresh connections long enough that a worker still loading would
almost surely have answered one of them 503 (6 per worker: a miss once in 4,000 for two).
Standard library only: the supervisor imports it.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request

READY_DEADLINE_S = 600.0  # an upper bound for loading and warming an index on a busy machine
POLL_INTERVAL_S = 0.25
READY_RUN_PER_WORKER = 6


def public_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serving_line(host: str, port: int) -> str:
    return f"kb is serving {public_url(host, port)} — chat at /, API docs at /docs"


def _probe_url(host: str, port: int) -> str:
    # A wildcard bind answers on loopback; asking there keeps the probe on this machine.
    local = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return public_url(local, port) + "/readyz"


def wait_and_announce(host: str, port: int, *, workers: int = 1, stopped: threading.Event | None = None,
                      deadline_s: float = READY_DEADLINE_S) -> bool:
    """Poll ``/readyz`` until every worker says 200, then print the serving line; False when
    that never came."""
    url = _probe_url(host, port)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP proxy
    needed = 1 if workers <= 1 else READY_RUN_PER_WORKER * workers
    run = 0
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and not (stopped and stopped.is_set()):
        try:
            # urllib opens a new connection each time, so the kernel may pick another worker
            with opener.open(url, timeout=2.0) as response:
                if response.status == 200:
                    run += 1
                    if run >= needed:
                        print(serving_line(host, port), file=sys.stderr, flush=True)
                        return True
                    continue
        except urllib.error.HTTPError as exc:  # 503: still loading, or the index cannot load
            run = 0
            try:
                error = json.loads(exc.read() or b"{}").get("error", {})
            except ValueError:
                error = {}
            if error.get("code") == "index_unavailable":
                print(f"kb serve: the server is up at {public_url(host, port)} but has no index: "
                      f"{error.get('message')}", file=sys.stderr, flush=True)
                return False
        except (OSError, ValueError):
            run = 0  # not listening yet
        time.sleep(POLL_INTERVAL_S)  # a bounded poll of a condition, not a synchronisation sleep
    return False


def announce_in_background(host: str, port: int, workers: int = 1) -> threading.Event:
    """Start the poll in a daemon thread; set the returned event to stop it early."""
    stopped = threading.Event()
    threading.Thread(target=wait_and_announce, args=(host, port), kwargs={"stopped": stopped, "workers": workers},
                     name="kb-announce", daemon=True).start()
    return stopped
