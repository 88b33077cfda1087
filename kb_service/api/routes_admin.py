"""Operations: liveness, readiness, metrics (all open) and index reload (admin key)."""

from __future__ import annotations

import time
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, Depends
from starlette.responses import Response

from kb_service.store.index import IndexLoadError
from kb_service.api.deps import ServiceDep, log
from kb_service.api.workers import ReloadBusy
from kb_service.api.errors import ApiError
from kb_service.api.metrics import CONTENT_TYPE
from kb_service.api.schemas import ReloadPublic, StatusPublic, error_responses
from kb_service.api.security import require_admin
from kb_service.api.streaming import FastJSONResponse

router = APIRouter(tags=["operations"])


def _relative(message: str, index_root: Path) -> str:
    """``message`` with the index folder's absolute path left out: files named from it."""
    return message.replace(f"{index_root}/", "").replace(str(index_root), "the index folder")

# How long a reload waits for the other worker processes (each loads and warms the index).
WORKER_RELOAD_TIMEOUT_S = 60.0


@router.get("/healthz", response_model=StatusPublic)
async def healthz() -> FastJSONResponse:
    """Liveness: 200 while the process runs, even before the index is loaded."""
    return FastJSONResponse({"status": "ok"})


@router.get("/readyz", response_model=StatusPublic, responses=error_responses(503))
async def readyz(service: ServiceDep) -> FastJSONResponse:
    """Readiness: 200 once the index is loaded and warmed, with the build served; 503 before,
    if it cannot load, or while the server drains before it stops (SIGTERM).

    `refused` names a published build that failed to load (checksums, a half-copied
    folder) while the previous build keeps serving.
    """
    if service.draining:
        return FastJSONResponse({"status": "draining", "build": service.build(),
                                 "error": {"code": "draining", "message": "the server is shutting down"}},
                                status_code=503, headers={"Retry-After": "1"})
    if service.serving is not None:
        body = {"status": "ready", "build": service.build()}
        if service.refused is not None:
            body["refused"] = service.refused
        return FastJSONResponse(body)
    if service.load_error:
        return FastJSONResponse({"status": "unavailable",
                                 "error": {"code": "index_unavailable", "message": service.load_error}},
                                status_code=503, headers={"Retry-After": "30"})
    return FastJSONResponse({"status": "loading",
                             "error": {"code": "not_ready", "message": "the index is still loading"}},
                            status_code=503, headers={"Retry-After": "1"})


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}})
async def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics: requests, latency per route, abstentions, index size, reloads, rejections."""
    return Response(service.metrics.render(), media_type=CONTENT_TYPE)


@router.post("/v1/admin/reload", response_model=ReloadPublic, dependencies=[Depends(require_admin)],
             responses=error_responses(401, 403, 409, 429), tags=["admin"])
async def reload_index(service: ServiceDep) -> FastJSONResponse:
    """Load the index from disk again (after `kb ingest`) and swap it in without downtime.

    Requests already running finish on the previous index. Reloads are serialised. If the
    new index cannot be loaded the previous one keeps serving and the answer is 409
    `reload_failed` with the reason. With several worker processes (`kb serve --workers`),
    every worker reloads before the answer, which says how many did.
    """
    assert service.reload_lock is not None
    async with service.reload_lock:
        started = time.perf_counter()
        workers = 1
        try:
            if service.broadcast is None:
                serving = await anyio.to_thread.run_sync(service.reload)
            else:
                # Every worker reloads before the answer; one such reload at a time per server.
                serving, spread = await anyio.to_thread.run_sync(service.broadcast.reload_everywhere,
                                                                 WORKER_RELOAD_TIMEOUT_S)
        except ReloadBusy as exc:
            raise ApiError(409, "reload_in_progress", str(exc)) from None
        except IndexLoadError as exc:
            service.metrics.reloads.labels("failure").inc()
            log.error("reload failed", extra={"fields": {"event": "reload_failed", "error": str(exc)}})
            reason = _relative(str(exc), service.settings.index)
            raise ApiError(409, "reload_failed", f"{reason}; the previous index is still being served") from None
        except Exception:
            service.metrics.reloads.labels("failure").inc()
            raise  # unexpected: 500 internal_error, logged with its traceback
        if service.broadcast is not None:
            workers = spread["workers"]
            if spread["failed"] or spread["late"]:
                service.metrics.reloads.labels("failure").inc()
                late = [f"worker {pid}: no answer in {WORKER_RELOAD_TIMEOUT_S:g} s" for pid in spread["late"]]
                failed = [_relative(f, service.settings.index) for f in spread["failed"]]
                raise ApiError(409, "reload_failed", "this worker reloaded but not every worker did ("
                               + "; ".join(failed + late) + "); those keep their previous index")
        service.metrics.reloads.labels("success").inc()
    took_ms = round((time.perf_counter() - started) * 1000, 1)
    counts = serving.info.get("counts") or {}
    log.info("reloaded", extra={"fields": {"event": "reloaded", "build": serving.info.get("build"), "ms": took_ms,
                                           "workers": workers}})
    return FastJSONResponse({"status": "reloaded", "build": serving.info.get("build"), "chunks": counts.get("total", 0),
                             "documents": len(serving.documents), "workers": workers, "took_ms": took_ms})
