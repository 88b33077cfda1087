"""`kb serve --workers N` (N > 1): N uvicorn processes, each on its own SO_REUSEPORT socket.

uvicorn's own multi-process mode shares one listening socket, and the worker whose event
loop wakes first accepts whatever is waiting: in the benchmark one worker took all 16
keep-alive connections of a cell while the other idled. With one socket per worker bound to
the same port with SO_REUSEPORT, the kernel spreads new connections over the workers.

This supervisor imports only the standard library and api/workers.py (`kb serve` execs it,
shedding the CLI's imports), starts the workers, restarts one that dies (at most
``MAX_RESTARTS`` a minute, then it stops them all and exits 1), forwards SIGINT / SIGTERM,
and removes the run folder (reload broadcast, metrics files) when it ends.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kb_service.api.announce import announce_in_background
from kb_service.api.workers import prepare_run_dir

MAX_RESTARTS = 5
STOP_TIMEOUT_S = 30.0


def _spawn(host: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kb_service.api.serve_worker", host, str(port)],
                            env=env)


def run(host: str, port: int, workers: int) -> int:
    run_dir = Path(tempfile.mkdtemp(prefix="kb-serve-"))
    env = {**os.environ, **prepare_run_dir(run_dir)}
    stopping = False
    received = signal.SIGTERM

    def stop(signum, _frame) -> None:
        nonlocal stopping, received
        stopping, received = True, signum

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    procs = [_spawn(host, port, env) for _ in range(workers)]
    announcing = announce_in_background(host, port, workers)  # "kb is serving …" once /readyz answers 200
    restarts: list[float] = []
    code = 0
    try:
        while not stopping:
            time.sleep(0.2)  # a supervisor's poll, not synchronisation: it only watches for exits
            for i, proc in enumerate(procs):
                if proc.poll() is None or stopping:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > MAX_RESTARTS:
                    print(f"kb serve: workers keep exiting (last exit code {proc.returncode}); stopping",
                          file=sys.stderr)
                    stopping, code = True, 1
                    break
                print(f"kb serve: worker {proc.pid} exited with {proc.returncode}; starting another",
                      file=sys.stderr)
                procs[i] = _spawn(host, port, env)
    finally:
        announcing.set()
        for proc in procs:
            if proc.poll() is None:
                # The signal received: SIGTERM drains each worker first (lifecycle.py), SIGINT does not.
                proc.send_signal(received)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)
    return code


def main() -> None:
    parser = argparse.ArgumentParser(prog="kb serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.exit(run(args.host, args.port, args.workers))


if __name__ == "__main__":
    main()
