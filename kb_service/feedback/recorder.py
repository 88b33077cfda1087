"""Record answers off the request path: a bounded queue drained by one writer thread.

``record`` costs a uuid and a queue put; the writer batches what has arrived into one
transaction. When the queue is full or the database fails (down, disk full, locked), the
records are dropped and counted (``on_drop``): answering never waits for the database and
never fails because of it. The writer also opens the store (retrying while it cannot) and
runs the retention purge.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from typing import Callable

from kb_service.feedback.store import AnswerRecord, AnswerStore, Feedback, database_url
from kb_service.types import Answer

log = logging.getLogger("kb_service.feedback")

BATCH = 256  # records per transaction at most
LINGER_S = 0.05  # how long the writer waits to fill a batch once a record has arrived
RETRY_OPEN_S = 10.0  # between attempts to open a database that could not be opened
PURGE_EVERY_S = 3600.0
UNKNOWN_VOTE_RETRIES_S = (0.1, 0.2)  # > LINGER_S twice over; bounded, only for unknown ids
OPEN_WAIT_S = 10.0  # how long a vote waits for the first attempt to open the database
_STOP = object()


class StoreUnavailable(RuntimeError):
    """The answer database is not open (down, unreachable or misconfigured)."""


class AnswerRecorder:
    """The one object through which every surface (API routes, web page, MCP) records answers.

    ``record(answer, question, lang, surface) -> answer_id``; ``feedback(answer_id, rating,
    comment)``. ``start`` launches the writer; ``stop`` writes what is queued, within a bound.
    """

    def __init__(self, store: AnswerStore, *, store_questions: bool = True, retention_days: int = 90,
                 queue_size: int = 10_000, on_drop: Callable[[str, int], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.store_questions = store_questions
        self.retention_days = retention_days
        self.build: str | None = None  # the index build being served; set by the owner on each reload
        self.clock = clock
        self._on_drop = on_drop
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._pending: set[str] = set()  # answer ids queued, not yet written (or dropped)
        self._queued_votes = 0  # votes queued behind their answer, not yet written (or dropped)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._open = False
        self.open_error: str | None = None
        self.opened = threading.Event()  # set after the first attempt to open, either way
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._next_purge = 0.0
        self._next_open = 0.0

    @classmethod
    def from_settings(cls, settings, on_drop: Callable[[str, int], None] | None = None) -> "AnswerRecorder":
        """A recorder on the configured database (``database_url``, else SQLite in the data folder).

        Not started: call ``start`` (the API's Service does; the MCP server would too).
        """
        store = AnswerStore(database_url(settings.database_url, settings.data_folder))
        return cls(store, store_questions=settings.store_questions, retention_days=settings.retention_days,
                   queue_size=settings.record_queue, on_drop=on_drop)

    # ---- what surfaces call ----------------------------------------------------------------

    def record(self, answer: Answer, question: str, lang: str | None = None, surface: str = "api",
               build: str | None = None) -> str:
        """Queue one answer for the database; return its new ``answer_id`` (never raises)."""
        answer_id = uuid.uuid4().hex
        record = AnswerRecord(
            answer_id=answer_id, created_at=self.clock(), surface=surface, lang=lang or answer.lang,
            question=question if self.store_questions else None, abstained=bool(answer.abstained),
            confidence=float(answer.confidence), cited_chunks=tuple(c.hit.chunk.chunk_id for c in answer.citations),
            build=build if build is not None else self.build)
        with self._lock:
            self._pending.add(answer_id)
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._settle([answer_id])
            self._drop("queue_full", 1)
        return answer_id

    def feedback(self, answer_id: str, rating: str, comment: str | None) -> bool:
        """Rate an answer; False when it is unknown. Raises StoreUnavailable when the database is."""
        item = Feedback(answer_id=answer_id, rating=rating, comment=comment, at=self.clock())
        if not self._open:
            self.opened.wait(OPEN_WAIT_S)  # just started: the writer may be opening it now
        if not self._open:
            raise StoreUnavailable(self.open_error or "the answer database is not open yet")
        with self._lock:
            if answer_id in self._pending:
                # Still in the queue: the writer applies the vote right after the insert (FIFO).
                try:
                    self._queue.put_nowait(item)
                    self._queued_votes += 1
                    return True
                except queue.Full:
                    pass
        try:
            found = self.store.set_feedback(item)
            # Another worker process may have given the answer and not written it yet (its
            # writer lingers LINGER_S): look again a little later before saying "unknown".
            for delay in UNKNOWN_VOTE_RETRIES_S:
                if found:
                    break
                time.sleep(delay)
                found = self.store.set_feedback(item)
            return found
        except Exception as exc:
            raise StoreUnavailable(f"the answer database failed: {exc}") from exc

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._open

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="kb-answer-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued (for at most ``timeout`` s), then close the store."""
        if self._thread is None:
            return
        self._stopping.set()
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("answer writer did not finish in time", extra={"fields": {"event": "recorder_stop_timeout"}})
            return
        self._thread = None
        self.store.close()
        self._open = False

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written or dropped; False on timeout."""
        with self._idle:
            # A vote queued behind its answer may be written a batch after the answer is: flush
            # waits for both, or a caller that flushed could read the answer without its vote.
            return self._idle.wait_for(lambda: not self._pending and not self._queued_votes, timeout)

    # ---- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._maintain()
            try:
                first = self._queue.get(timeout=1.0)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            # Let more arrive before writing: one transaction per record costs ~170 µs of CPU
            # in the answering process, one per batch of 256 ~10 µs a record. Sleeping rather
            # than waking on every put spares a thread switch per answer.
            if first is not _STOP:
                self._stopping.wait(LINGER_S)
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            self._write([item for item in batch if item is not _STOP])
            if stop:
                # Anything that arrived after the stop marker is written too, in one last pass.
                rest = []
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not _STOP:
                        rest.append(item)
                self._write(rest)
                return

    def _write(self, items: list) -> None:
        if not items:
            return
        records = [i for i in items if isinstance(i, AnswerRecord)]
        try:
            if not self._open:
                raise StoreUnavailable(self.open_error or "not open")
            self.store.write(items)
        except Exception as exc:
            self._drop("database", len(records))
            if self._open:
                log.warning("answer records dropped", extra={"fields": {
                    "event": "records_dropped", "records": len(records), "error": str(exc).splitlines()[0]}})
        finally:
            self._settle([r.answer_id for r in records], votes=sum(1 for i in items if isinstance(i, Feedback)))

    def _settle(self, answer_ids: list[str], votes: int = 0) -> None:
        with self._idle:
            self._pending.difference_update(answer_ids)
            self._queued_votes = max(0, self._queued_votes - votes)
            self._idle.notify_all()

    def _maintain(self) -> None:
        """Open the store when it is not open yet; purge expired answers once an hour."""
        now = time.monotonic()
        if not self._open and now >= self._next_open:
            self._next_open = now + RETRY_OPEN_S
            try:
                self.store.open()
                self._open, self.open_error = True, None
                log.info("answer database open", extra={"fields": {"event": "answers_db_open",
                                                                   "dialect": self.store.dialect}})
            except Exception as exc:  # StoreError says why; anything else must not end the writer
                if self.open_error != str(exc):
                    log.error("answer database unavailable", extra={"fields": {
                        "event": "answers_db_unavailable", "error": str(exc)}})
                self.open_error = str(exc)
            finally:
                self.opened.set()
        if self._open and self.retention_days > 0 and now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY_S
            self.purge()

    def purge(self) -> int:
        """Delete answers older than ``retention_days`` (0: keep everything); the count deleted."""
        if self.retention_days <= 0 or not self._open:
            return 0
        try:
            deleted = self.store.purge(self.clock() - self.retention_days * 86400.0)
        except Exception as exc:
            log.warning("retention purge failed", extra={"fields": {"event": "purge_failed", "error": str(exc)}})
            return 0
        if deleted:
            log.info("expired answers purged", extra={"fields": {"event": "purged", "answers": deleted}})
        return deleted

    def _drop(self, reason: str, count: int) -> None:
        if count and self._on_drop is not None:
            self._on_drop(reason, count)
