"""A replica's watch on the folder it serves: load a newly published build by itself.

Every ``poll_s`` seconds a background thread reads CURRENT (one small file). When it names
a build other than the one served, the replica reloads (``Service.reload``: checksums
verified, the new index loaded and warmed beside the old one, then swapped in, so requests
never wait). A build that fails to load is refused: the old one keeps serving, /readyz
names the refused build and why, and it is not tried again until its files change (a copy
that was still in progress and has finished) or CURRENT names another build.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

from kb_service.store.index import BUILDS_DIR, IndexLoadError, current_build

log = logging.getLogger("kb_service.api")


def files_signature(build_dir: Path) -> tuple:
    """Names, sizes and modification times of a build's files: changes when a copy progresses."""
    try:
        return tuple(sorted((str(p.relative_to(build_dir)), st.st_size, st.st_mtime_ns)
                            for p in build_dir.rglob("*") if p.is_file() for st in [p.stat()]))
    except OSError:
        return ()


class BuildWatcher:
    """Polls ``root``'s CURRENT; calls ``reload`` when it names a build not served yet.

    ``served`` returns the build name being served (None before any); ``ready`` is set once
    the start-up load has ended, so the watcher never races it; ``settled`` is called when
    CURRENT names the build served again (a refused build was rolled back).
    """

    def __init__(self, root: Path, interval_s: float, served: Callable[[], str | None],
                 reload: Callable[[], object], ready: threading.Event,
                 settled: Callable[[], None] = lambda: None) -> None:
        self.root = Path(root)
        self.interval_s = interval_s
        self.served = served
        self.reload = reload
        self.ready = ready
        self.settled = settled
        self._refused: dict[str, tuple] = {}  # build name -> files signature when it was refused
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kb-build-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.ready.is_set():
                self.check()

    def check(self) -> bool:
        """One poll; True when a new build was loaded."""
        try:
            name = current_build(self.root)
        except IndexLoadError:
            return False  # a corrupt pointer: keep serving; the reload error would say the same each poll
        if name is None:
            return False
        if name == self.served():
            self.settled()
            return False
        signature = files_signature(self.root / BUILDS_DIR / name)
        if self._refused.get(name) == signature:
            return False
        try:
            self.reload()
        except IndexLoadError as exc:
            self._refused[name] = signature
            log.error("published build refused", extra={"fields": {"event": "build_refused", "build": name,
                                                                    "error": str(exc)}})
            return False
        except Exception:  # unexpected: logged with its traceback, and not retried every poll
            self._refused[name] = signature
            log.exception("published build failed to load", extra={"fields": {"event": "build_refused", "build": name}})
            return False
        self._refused.pop(name, None)
        log.info("published build loaded", extra={"fields": {"event": "reloaded", "by": "poll", "build": self.served()}})
        return True
