"""Feedback on answers (``POST /v1/feedback``) and the coverage-gaps report (``GET /v1/admin/gaps``)."""

from __future__ import annotations

from functools import partial

import anyio.to_thread
from fastapi import APIRouter, Depends, Query

from kb_service.feedback import StoreUnavailable, gaps_report, parse_since
from kb_service.api.deps import ServiceDep, ServingDep
from kb_service.api.errors import ApiError
from kb_service.api.schemas import FEEDBACK_COMMENT_CHARS, FeedbackPublic, FeedbackRequest, GapsPublic, error_responses
from kb_service.api.security import require_admin, require_client
from kb_service.api.streaming import FastJSONResponse

router = APIRouter()


def _unavailable(reason: str) -> ApiError:
    return ApiError(503, "feedback_unavailable", f"the answer database is unavailable ({reason}): retry later",
                    {"Retry-After": "30"})


@router.post("/v1/feedback", status_code=202, response_model=FeedbackPublic, tags=["feedback"],
             dependencies=[Depends(require_client)], responses=error_responses(400, 401, 404, 413, 415, 422, 429, 503))
async def post_feedback(body: FeedbackRequest, service: ServiceDep) -> FastJSONResponse:
    """Rate an answer `up` or `down`, with an optional comment (at most 2,000 characters).

    `answer_id` comes with every answer (`/v1/ask`, `/v1/chat`, `/v1/chat/completions`,
    where the completion `id` works too). A second vote on the same answer replaces the first.
    404 `answer_not_found` for an id this server never gave (or one older than `retention_days`).
    """
    if body.comment is not None and len(body.comment) > FEEDBACK_COMMENT_CHARS:
        raise ApiError(413, "comment_too_long", f"comment is {len(body.comment)} characters long; the limit is "
                       f"{FEEDBACK_COMMENT_CHARS}")
    try:
        found = await anyio.to_thread.run_sync(service.recorder.feedback, body.answer_id, body.rating, body.comment)
    except StoreUnavailable as exc:
        raise _unavailable(str(exc)) from None
    if not found:
        raise ApiError(404, "answer_not_found", f"no answer {body.answer_id!r} is stored: send the answer_id of an "
                       "answer from this server (answers older than retention_days are purged)")
    service.metrics.feedback.labels(body.rating).inc()
    return FastJSONResponse({"status": "accepted", "answer_id": body.answer_id, "rating": body.rating},
                            status_code=202)


@router.get("/v1/admin/gaps", response_model=GapsPublic, tags=["admin"], dependencies=[Depends(require_admin)],
            responses=error_responses(401, 403, 422, 429, 503))
async def get_gaps(
    service: ServiceDep,
    serving: ServingDep,
    since: str = Query("7d", description="How far back: a number and s, m, h, d or w (e.g. 7d, 24h)."),
) -> FastJSONResponse:
    """The coverage-gaps report: questions abstained on or down-voted, grouped into topics.

    Each topic is named by its most central question, with its counts, examples and the
    closest sections of the docs; topics that a later index build now answers are listed
    under `resolved` with that build. Also the most down-voted answers. See docs/feedback.md.
    """
    try:
        since_s = parse_since(since)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    if not service.recorder.available:
        raise _unavailable(service.recorder.open_error or "not open yet")
    report = await anyio.to_thread.run_sync(partial(gaps_report, service.recorder.store, serving.kb, since_s=since_s,
                                                    build=serving.info.get("build")))
    return FastJSONResponse(report)
