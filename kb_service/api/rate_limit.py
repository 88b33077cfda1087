"""Rate limits that hold for the whole server: requests per client, failed authentications.

The counting is the ``limits`` library's moving window (at most N hits in any 60 s, no
burst at a window boundary). Where the counts live decides what "per client" means:

- ``redis_url`` set: Redis (limits' Redis storage). Every process and every replica that
  names the same Redis shares one count per client.
- several workers of one ``kb serve --workers N`` and no Redis: ``SQLiteWindowStorage``, a
  SQLite file in the server's run folder. A per-worker memory store would multiply each
  limit by N (the kernel spreads a client's connections over the workers); limits has no
  storage that is shared between processes without a server of its own (memcached, Redis,
  MongoDB, etcd), and a small WAL-mode SQLite file is: it is in the standard library, its
  transactions serialise the workers' updates, and it costs ~20 µs a hit on a local disk.
- one process: limits' memory storage.

A storage that fails (Redis down) lets requests through, with a warning in the log: the
limits protect the service, and a broken counter must not take the service down with it.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from pathlib import Path

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("kb_service.api")

SQLITE_FILE = "rate-limits.sqlite"


class SQLiteWindowStorage(Storage, MovingWindowSupport):
    """limits storage in one SQLite file, shared by the processes that open it.

    Moving windows are rows ``(key, at)``, one per hit; fixed-window counters (the rest of
    limits' storage interface) are rows ``(key, count, expires)``. Expired rows are swept
    every ``SWEEP_EVERY`` hits, so the file stays as small as the traffic of one window.
    """

    STORAGE_SCHEME = ["kb+sqlite"]
    SWEEP_EVERY = 1000

    def __init__(self, uri: str | None = None, *, path: Path | str | None = None, **options) -> None:
        super().__init__(uri, **options)
        if path is None:
            if not uri or not uri.startswith("kb+sqlite://"):
                raise ValueError("SQLiteWindowStorage needs a path or a kb+sqlite:///path uri")
            path = uri[len("kb+sqlite://"):]
        self.path = Path(path)
        self._lock = threading.Lock()  # one connection, used from the event loop and threads
        # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE below, which
        # take the write lock up front, so two workers never both read a count then write.
        self._db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        self._set_wal()
        self._db.execute("PRAGMA synchronous=OFF")  # counters of the last minute: no fsync needed
        self._db.execute("CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at)")
        self._db.execute("CREATE TABLE IF NOT EXISTS counters "
                         "(key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)")
        self._writes = 0

    def _set_wal(self, attempts: int = 50) -> None:
        """Switch the file to WAL. Workers starting together race for it, and SQLite answers
        the losers "database is locked" at once, whatever the busy timeout: try again."""
        for attempt in range(attempts):
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.02 * (attempt + 1))

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _transaction(self, work):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._db, time.time())
                self._writes += 1
                if self._writes % self.SWEEP_EVERY == 0:
                    self._sweep(self._db, time.time())
                self._db.execute("COMMIT")
                return result
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @staticmethod
    def _sweep(db: sqlite3.Connection, now: float) -> None:
        # kb's windows are a minute: hits older than an hour count for nothing.
        db.execute("DELETE FROM hits WHERE at < ?", (now - 3600,))
        db.execute("DELETE FROM counters WHERE expires <= ?", (now,))

    # ---- moving window (what kb uses) -----------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False

        def work(db: sqlite3.Connection, now: float) -> bool:
            (count,) = db.execute("SELECT COUNT(*) FROM hits WHERE key = ? AND at > ?", (key, now - expiry)).fetchone()
            if count + amount > limit:
                return False
            db.executemany("INSERT INTO hits (key, at) VALUES (?, ?)", [(key, now)] * amount)
            return True

        return self._transaction(work)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        with self._lock:
            oldest, count = self._db.execute("SELECT MIN(at), COUNT(*) FROM hits WHERE key = ? AND at > ?",
                                             (key, now - expiry)).fetchone()
        return (oldest if count else now), count

    # ---- fixed window (the rest of limits' storage interface) ------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        def work(db: sqlite3.Connection, now: float) -> int:
            db.execute("DELETE FROM counters WHERE key = ? AND expires <= ?", (key, now))
            db.execute("INSERT INTO counters (key, count, expires) VALUES (?, ?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET count = count + excluded.count", (key, amount, now + expiry))
            return db.execute("SELECT count FROM counters WHERE key = ?", (key,)).fetchone()[0]

        return self._transaction(work)

    def get(self, key: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT count FROM counters WHERE key = ? AND expires > ?",
                                   (key, time.time())).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        with self._lock:
            row = self._db.execute("SELECT expires FROM counters WHERE key = ?", (key,)).fetchone()
        return row[0] if row else time.time()

    def check(self) -> bool:
        try:
            with self._lock:
                self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        def work(db: sqlite3.Connection, now: float) -> int:
            removed = db.execute("DELETE FROM hits").rowcount
            return removed + db.execute("DELETE FROM counters").rowcount

        return self._transaction(work)

    def clear(self, key: str) -> None:
        self._transaction(lambda db, now: (db.execute("DELETE FROM hits WHERE key = ?", (key,)),
                                           db.execute("DELETE FROM counters WHERE key = ?", (key,))))


def limit_storage(redis_url: str | None, run_dir: Path | None) -> Storage:
    """Redis when configured, else a SQLite file shared by the workers, else memory (see above)."""
    if redis_url:
        return storage_from_string(redis_url)
    if run_dir is not None:
        return SQLiteWindowStorage(path=Path(run_dir) / SQLITE_FILE)
    return MemoryStorage()


class RateLimits:
    """The two limits of a kb server: requests per client, failed authentications per address."""

    def __init__(self, per_minute: int, auth_failures_per_minute: int, storage: Storage) -> None:
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        self.requests = RateLimitItemPerMinute(per_minute, namespace="kb-requests") if per_minute > 0 else None
        self.auth_failures = (RateLimitItemPerMinute(auth_failures_per_minute, namespace="kb-auth-failures")
                              if auth_failures_per_minute > 0 else None)
        self._warned_at = 0.0

    def take(self, client: str) -> float:
        """Count one request of ``client``: 0 when it may go on, else the seconds to wait."""
        if self.requests is None:
            return 0.0
        return self._hit(self.requests, client)

    def auth_blocked(self, address: str) -> float:
        """Seconds until ``address`` may try a key again; 0 when it has failures to spare."""
        if self.auth_failures is None:
            return 0.0
        try:
            if self.limiter.test(self.auth_failures, address):
                return 0.0
            return self._wait(self.auth_failures, address)
        except self.storage.base_exceptions as exc:
            self._storage_failed(exc)
            return 0.0

    def note_auth_failure(self, address: str) -> None:
        if self.auth_failures is not None:
            self._hit(self.auth_failures, address)

    def _hit(self, item, identifier: str) -> float:
        try:
            if self.limiter.hit(item, identifier):
                return 0.0
            return self._wait(item, identifier)
        except self.storage.base_exceptions as exc:
            self._storage_failed(exc)
            return 0.0

    def _wait(self, item, identifier: str) -> float:
        reset, _remaining = self.limiter.get_window_stats(item, identifier)
        return max(1.0, math.ceil(reset - time.time()))

    def _storage_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at > 10:  # once per 10 s, not once per request
            self._warned_at = now
            log.warning("rate limit storage unavailable: requests are let through",
                        extra={"fields": {"event": "rate_limit_storage_error", "error": repr(exc)}})
