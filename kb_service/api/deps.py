"""The serving state and the dependencies routes use: the current index, the settings, and
``run_cpu`` to run searches and answers in the answer threads with a timeout (or, with no
answer threads, on the event loop itself).

The knowledge base is swapped as a whole (``Serving``) on reload; each request takes the
current one once, at its start, so an in-flight request finishes on the index it began with.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Callable, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError

from kb_service.config import Settings
from kb_service.models.onnx import OnnxModelError
from kb_service.feedback import AnswerRecorder, StoreError, replay_gaps
from kb_service.types import Answer
from kb_service.store.index import IndexLoadError, read_manifest
from kb_service.store.index import IndexLoadError, current_build, read_manifest
from kb_service.kb import KnowledgeBase
from kb_service.api.errors import ApiError
from kb_service.api.build_watch import BuildWatcher
from kb_service.api.metrics import Metrics
from kb_service.api.rate_limit import RateLimits, limit_storage
from kb_service.api.workers import ReloadBroadcast, run_dir

log = logging.getLogger("kb_service.api")
T = TypeVar("T")
# Answer threads of a server that runs alone (worker_threads unset; see config.py).
AUTO_THREADS_ALONE = 2


@dataclass(frozen=True)
class Serving:
    """One loaded and warmed knowledge base, with the views that never change for it."""

    kb: KnowledgeBase
    documents: list[dict]
    info: dict


class Service:
    """Everything one app instance serves: settings, metrics, the current index, the limits."""

    def __init__(self, settings: Settings, kb: KnowledgeBase | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        # Keys as bytes once, for hmac.compare_digest on every request.
        self.api_keys = [k.encode("utf-8") for k in settings.api_key_list]
        self.admin_keys = [settings.admin_key.encode("utf-8")] if settings.admin_key else []
        self.limits = RateLimits(settings.rate_limit_per_minute, settings.auth_failures_per_minute,
                                 limit_storage(settings.redis_url, run_dir()))
        self.serving: Serving | None = None
        self.load_error: str | None = None
        self.loaded = threading.Event()  # set once the start-up load has ended, either way
        self._initial_kb = kb
        # The threads searches and answers run in; their number bounds the work in progress.
        self.executor = self._new_executor()
        self.reload_lock: anyio.Lock | None = None
        self._reloading = threading.Lock()  # an admin reload and another worker's broadcast
        self.broadcast: ReloadBroadcast | None = None  # set when this is one of several workers
        # Every answer of every surface is recorded through this one object (docs/feedback.md).
        self.recorder = AnswerRecorder.from_settings(
            settings, on_drop=lambda reason, count: self.metrics.records_dropped.labels(reason).inc(count))
        self.watcher: BuildWatcher | None = None  # set when poll_s > 0
        # The last build that failed to load (name, reason) while another kept serving; None
        # once a build loads. /readyz shows it, so a refused rollout is visible per replica.
        self.refused: dict[str, str | None] | None = None
        self.draining = False  # set on SIGTERM (lifecycle.py): /readyz answers 503 from then on

    # ---- start-up -----------------------------------------------------------------------

    def start(self) -> None:
        """Create the loop-bound objects, then load and warm the index in the background."""
        self.reload_lock = anyio.Lock()
        self.recorder.start()
        if self.executor is None:  # an app whose lifespan runs a second time
            self.executor = self._new_executor()
        shared = run_dir()
        if shared is not None:
            self.broadcast = ReloadBroadcast(shared, self.reload)
            self.broadcast.start_watching()
        # A daemon thread, so that stopping the server never waits for a slow load.
        threading.Thread(target=self._load_at_start, name="kb-load", daemon=True).start()
        if self.settings.poll_s > 0:
            self.watcher = BuildWatcher(self.settings.index, self.settings.poll_s, served=self.build,
                                        reload=self._reload_from_poll, ready=self.loaded,
                                        settled=self._forget_refused)
            self.watcher.start()

    @property
    def answer_threads(self) -> int:
        """``worker_threads``, or when unset: 0 in a worker of several, 2 in a lone process."""
        threads = self.settings.worker_threads
        if threads is None:
            threads = 0 if run_dir() is not None else AUTO_THREADS_ALONE
        return threads

    def _new_executor(self) -> ThreadPoolExecutor | None:
        threads = self.answer_threads
        if threads == 0:
            return None  # answers run on the event loop itself (see run_cpu)
        return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kb-answer")

    def stop(self) -> None:
        # Abandoned (timed-out) answers finish on their own; nothing waits for them.
        if self.executor is not None:
            self.executor.shutdown(wait=False)
            self.executor = None
        if self.broadcast is not None:
            self.broadcast.stop()
        self.recorder.stop()
        if self.watcher is not None:
            self.watcher.stop()
        self.metrics.process_exit()

    def _load_at_start(self) -> None:
        started = time.perf_counter()
        try:
            kb = self._initial_kb if self._initial_kb is not None else self._new_kb().load()
            kb.warm_up()
            with self._reloading:
                # A reload that finished while this load ran has published a newer index:
                # the start-up load must not put the older one back.
                if self.serving is None:
                    self._publish(kb)
            log.info("index ready", extra={"fields": {"event": "ready", "ms": _ms(started), **_summary(self.serving)}})
        except Exception as exc:
            if self.serving is not None:  # a reload during start-up already serves an index
                return
            # The log names the file; the public message (503 bodies, /readyz) names no path.
            self.load_error = PUBLIC_LOAD_ERROR
            problem = load_problem(exc)
            if problem is None:
                log.exception("index load failed", extra={"fields": {"event": "index_unavailable"}})
            else:
                self._note_refused(problem)
                log.error("index unavailable", extra={"fields": {"event": "index_unavailable", "error": problem}})
        finally:
            self.loaded.set()

    def _new_kb(self, embedder: Any = None) -> KnowledgeBase:
        return KnowledgeBase.from_settings(self.settings, embedder=embedder)

    def _publish(self, kb: KnowledgeBase) -> Serving:
        serving = Serving(kb=kb, documents=kb.documents(), info=kb.info())
        counts = serving.info.get("counts") or {}
        self.metrics.index_chunks.set(counts.get("total", 0))
        self.metrics.index_documents.set(len(serving.documents))
        previous = self.serving
        self.metrics.serve_build(serving.info.get("build"), self.build())
        self.recorder.build = serving.info.get("build")
        self.serving = serving  # one reference assignment: requests see the old or the new
        self.load_error = None
        self.refused = None
        if previous is None or previous.info.get("build") != serving.info.get("build"):
            self._replay_gaps_soon(serving)
        return serving

    def build(self) -> str | None:
        """The name of the build being served (None before the first load)."""
        serving = self.serving
        return serving.info.get("build") if serving is not None else None

    def start_draining(self) -> None:
        self.draining = True
        log.info("draining", extra={"fields": {"event": "draining", "build": self.build()}})

    def _note_refused(self, problem: str) -> None:
        """Remember why the build CURRENT names was not loaded; public (/readyz), so the
        index folder's absolute path is left out of the message, as in reload answers."""
        try:
            name = current_build(self.settings.index)
        except IndexLoadError:
            name = None
        root = str(self.settings.index)
        self.refused = {"build": name, "error": problem.replace(root + "/", "").replace(root, "the index folder")}

    def _forget_refused(self) -> None:
        self.refused = None  # CURRENT names the build served again: nothing is refused any more

    # ---- answers and their gaps ---------------------------------------------------------

    def record_answer(self, answer: Answer, question: str, surface: str) -> str:
        """Count the answer and queue its record; the ``answer_id`` to hand the client."""
        self.metrics.answers.labels("abstained" if answer.abstained else "answered").inc()
        return self.recorder.record(answer, question, answer.lang, surface)

    def _replay_gaps_soon(self, serving: Serving) -> None:
        """Replay stored gap questions against a newly published build, in the background.

        The first process to claim the build replays it (workers reload together); the
        replay asks questions like any client, so it runs beside the serving, not before it.
        """
        build = serving.info.get("build")
        if not build:
            return

        def replay() -> None:
            if not self.recorder.opened.wait(30) or not self.recorder.available:
                return
            try:
                replay_gaps(self.recorder.store, serving.kb, build)
            except (StoreError, SQLAlchemyError) as exc:  # the database went away: a later build replays them
                log.warning("gap replay stopped", extra={"fields": {"event": "gaps_replay_failed", "build": build,
                                                                    "error": str(exc).splitlines()[0]}})
            except Exception:
                log.exception("gap replay failed", extra={"fields": {"event": "gaps_replay_failed", "build": build}})

        threading.Thread(target=replay, name="kb-gap-replay", daemon=True).start()

    # ---- reload -------------------------------------------------------------------------

    def reload(self) -> Serving:
        """Load the index on disk again and swap it in (called in a worker thread, serialised).

        Reuses the loaded query embedder when the new index was built with the same model,
        so a reload costs the index load and a warm-up, not a model load. Any failure to
        read a file (the index's or the query model's) is an ``IndexLoadError`` naming it.
        """
        try:
            return self._reload()
        except IndexLoadError as exc:
            self._note_refused(str(exc))
            raise
        except Exception as exc:
            problem = load_problem(exc)
            if problem is None:
                raise
            self._note_refused(problem)
            raise IndexLoadError(problem) from exc

    def _reload(self) -> Serving:
        with self._reloading:
            manifest = read_manifest(self.settings.index)  # None when there is no usable build: load() says why
            embedder = None
            if manifest is not None and self.serving is not None:
                # KnowledgeBase has no public accessor for its embedder; read it defensively.
                current = getattr(self.serving.kb, "embedder", None)
                if current is not None and getattr(current, "name", None) == manifest.get("model"):
                    embedder = current
            kb = self._new_kb(embedder).load()
            kb.warm_up()
            return self._publish(kb)

    def _reload_from_poll(self) -> Serving:
        """``reload`` for the build watcher, counted in the reload metrics like an admin reload."""
        try:
            serving = self.reload()
        except Exception:
            self.metrics.reloads.labels("failure").inc()
            raise
        self.metrics.reloads.labels("success").inc()
        return serving


PUBLIC_LOAD_ERROR = ("the index cannot be loaded: the server log names the file and the fix "
                     "(usually: run `kb ingest`, then reload)")


def load_problem(exc: BaseException) -> str | None:
    """What an exception raised while loading an index says, with the file it concerns;
    None for an exception that is not about the files (a bug: logged with its traceback)."""
    if isinstance(exc, IndexLoadError):
        return str(exc)
    if isinstance(exc, OnnxModelError):
        return f"the query model cannot be loaded: {exc}"
    if isinstance(exc, OSError):
        where = exc.filename or "a file of the index"
        return f"{where} cannot be read ({exc.strerror or exc}): run `kb ingest` to rebuild"
    return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _summary(serving: Serving | None) -> dict:
    if serving is None:
        return {}
    return {"build": serving.info.get("build"), "documents": len(serving.documents),
            "chunks": (serving.info.get("counts") or {}).get("total")}


# ---- dependencies ----------------------------------------------------------------------------


async def get_service(request: Request) -> Service:
    # async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, one
    # thread round trip per request for a dictionary lookup.
    return request.app.state.service


async def current_serving(request: Request) -> Serving:
    """The index to answer this request with, taken once; 503 while none is usable."""
    service: Service = request.app.state.service
    serving = service.serving
    if serving is None:
        if service.load_error:
            raise ApiError(503, "index_unavailable", service.load_error, {"Retry-After": "30"})
        raise ApiError(503, "not_ready", "the index is still loading: retry in a moment", {"Retry-After": "1"})
    return serving


ServiceDep = Annotated[Service, Depends(get_service)]
ServingDep = Annotated[Serving, Depends(current_serving)]


async def run_cpu(service: Service, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in an answer thread (at most ``worker_threads`` at once), within the timeout;
    with no answer threads, right here on the event loop (no timeout: it takes milliseconds).

    On timeout the thread is abandoned (Python threads cannot be killed): it finishes its
    search in the background while the client gets 504. A plain executor rather than
    anyio's thread helpers: the event loop's share of the GIL is what limits one process
    under load, and anyio's bookkeeping cost ~10 % of it (docs/performance.md).
    """
    if service.executor is None:
        return fn(*args, **kwargs)
    timeout = service.settings.request_timeout_s
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            return await loop.run_in_executor(service.executor, partial(fn, *args, **kwargs))
    except TimeoutError:
        raise ApiError(504, "timeout", f"the request took longer than {timeout:g} s (request_timeout_s)") from None


def note_question(request: Request, text: str) -> None:
    """Keep the question for the request log line, only when ``log_questions`` is on."""
    if request.app.state.service.settings.log_questions:
        request.scope["kb.question"] = text
