"""What the uvicorn worker processes of one ``kb serve`` share: reloads and metrics.

With ``--workers N`` (N > 1) each worker is a separate process with its own copy of the
index, so an admin reload received by one worker must reach the others, and ``/metrics``
must count every worker's requests. ``kb serve`` makes a run folder for that and names it
in ``KB_RUN_DIR`` before the workers start:

- ``reload-epoch``: how many reloads were asked for. The worker that receives
  ``POST /v1/admin/reload`` reloads itself, raises the epoch, and waits until every live
  worker has written an acknowledgement (``ack-<pid>``: the epoch it has reached and
  whether its reload worked). Each worker watches the epoch from a background thread. So
  when the reload answers, every worker serves the new index, as with one worker.
- ``.reload.lock``: held by the worker whose reload is spreading, so that two reloads asked
  of two workers at once run one after the other instead of crossing.
- ``metrics/``: prometheus_client's multiprocess folder (``PROMETHEUS_MULTIPROC_DIR``).

With one worker there is no run folder and none of this runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger("kb_service.api")

RUN_DIR_ENV = "KB_RUN_DIR"
EPOCH_FILE = "reload-epoch"
RELOAD_LOCK_FILE = ".reload.lock"  # flock'ed by the worker whose reload is spreading
WATCH_INTERVAL_S = 0.1


class ReloadBusy(TimeoutError):
    """Another worker's reload held the server's reload lock for the whole wait."""


def run_dir() -> Path | None:
    value = os.environ.get(RUN_DIR_ENV)
    return Path(value) if value else None


def prepare_run_dir(path: Path) -> dict[str, str]:
    """Lay out a run folder for a multi-worker server; return the environment the workers need."""
    (path / "metrics").mkdir(parents=True, exist_ok=True)
    (path / EPOCH_FILE).write_text("0", encoding="utf-8")
    return {RUN_DIR_ENV: str(path), "PROMETHEUS_MULTIPROC_DIR": str(path / "metrics")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process with a recycled pid
        return True
    return True


class ReloadBroadcast:
    """One worker's side of the shared reload epoch.

    ``reload_here`` is the worker's own reload (``Service.reload``); it runs in the watcher
    thread when another worker asked for the reload.
    """

    def __init__(self, folder: Path, reload_here: Callable[[], object], pid: int | None = None) -> None:
        self.folder = folder
        self.reload_here = reload_here
        self.pid = pid or os.getpid()
        self.seen = self._read_epoch()
        self._stop = threading.Event()
        self._seen_lock = threading.Lock()  # the watcher must not re-reload what announce() just did
        self._ack_lock = threading.Lock()
        self._acked = -1
        self._ack(self.seen, ok=True)

    # ---- the epoch file --------------------------------------------------------------------

    def _read_epoch(self) -> int:
        try:
            return int((self.folder / EPOCH_FILE).read_text(encoding="utf-8").strip() or 0)
        except (OSError, ValueError):
            return 0

    def _bump_epoch(self) -> int:
        with open(self.folder / ".epoch.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            epoch = self._read_epoch() + 1
            tmp = self.folder / f".{EPOCH_FILE}.{self.pid}"
            tmp.write_text(str(epoch), encoding="utf-8")
            os.replace(tmp, self.folder / EPOCH_FILE)
            return epoch

    def _ack(self, epoch: int, ok: bool, error: str | None = None) -> None:
        # Never backwards: a watcher that finishes an older epoch's reload after this worker
        # announced a newer one must not make it look as if it had not reached the newer one
        # (that made a reload wait the full timeout and blame a worker that had reloaded).
        with self._ack_lock:
            if epoch < self._acked:
                return
            self._acked = epoch
            tmp = self.folder / f".ack-{self.pid}"
            tmp.write_text(json.dumps({"epoch": epoch, "ok": ok, "error": error}), encoding="utf-8")
            os.replace(tmp, self.folder / f"ack-{self.pid}")

    def _acks(self) -> dict[int, dict]:
        found = {}
        for path in self.folder.glob("ack-*"):
            try:
                pid = int(path.name[4:])
                found[pid] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
        return found

    # ---- the worker that received the reload -----------------------------------------------

    def reload_everywhere(self, timeout_s: float) -> tuple[object, dict]:
        """This worker's reload, then every other's: one such reload at a time per server.

        Returns what ``reload_here`` returned and what ``announce`` found. A second reload
        asked of another worker meanwhile waits for this one to end (its workers load the
        index once more after); past ``timeout_s`` of waiting it raises ``ReloadBusy``.
        """
        with self._exclusive(timeout_s):
            result = self.reload_here()
            return result, self.announce(timeout_s)

    @contextlib.contextmanager
    def _exclusive(self, timeout_s: float) -> Iterator[None]:
        with open(self.folder / RELOAD_LOCK_FILE, "w") as lock:
            deadline = time.monotonic() + timeout_s
            while True:  # a blocking flock cannot time out: poll it, bounded
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ReloadBusy(f"another reload of this server has been running for more than "
                                         f"{timeout_s:g} s: retry when it is done") from None
                    time.sleep(WATCH_INTERVAL_S / 2)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def announce(self, timeout_s: float) -> dict:
        """After this worker reloaded: have every other live worker reload, and wait for them.

        Returns ``{"workers": n, "failed": [...], "late": [...]}``: workers whose reload
        failed (they keep their previous index) or that did not answer within the timeout.
        """
        with self._seen_lock:
            epoch = self._bump_epoch()
            self.seen = epoch
        self._ack(epoch, ok=True)
        deadline = time.monotonic() + timeout_s
        while True:
            acks = {pid: ack for pid, ack in self._acks().items() if _alive(pid)}
            late = [pid for pid, ack in acks.items() if ack.get("epoch", 0) < epoch]
            if not late or time.monotonic() >= deadline:
                failed = [f"worker {pid}: {ack.get('error')}" for pid, ack in acks.items()
                          if ack.get("epoch", 0) >= epoch and not ack.get("ok")]
                return {"workers": len(acks), "failed": failed, "late": late}
            time.sleep(WATCH_INTERVAL_S / 2)

    # ---- every worker ----------------------------------------------------------------------

    def start_watching(self) -> None:
        threading.Thread(target=self._watch, name="kb-reload-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        (self.folder / f"ack-{self.pid}").unlink(missing_ok=True)

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            with self._seen_lock:
                epoch = self._read_epoch()
                if epoch <= self.seen:
                    continue
                self.seen = epoch
            try:
                self.reload_here()
            except Exception as exc:  # the worker keeps its previous index, and says why
                log.error("reload failed", extra={"fields": {"event": "reload_failed", "error": str(exc)}})
                self._ack(epoch, ok=False, error=str(exc))
            else:
                log.info("reloaded", extra={"fields": {"event": "reloaded", "by": "another worker"}})
                self._ack(epoch, ok=True)
