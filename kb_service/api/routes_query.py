"""Search and ask: the two one-shot question routes.

What each route does lives in ``search_content`` and ``ask_content``, which the FastAPI
routes and the ASGI fast path (fast_path.py) both call, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from kb_service.views import answer_view, hit_view
from kb_service.api.deps import Service, Serving, ServiceDep, ServingDep, note_question, run_cpu
from kb_service.api.errors import ApiError
from kb_service.api.schemas import AnswerPublic, AskRequest, SearchPublic, SearchRequest, error_responses
from kb_service.api.security import require_client
from kb_service.api.streaming import FastJSONResponse

router = APIRouter(prefix="/v1", tags=["query"], dependencies=[Depends(require_client)])

QUERY_ERRORS = error_responses(400, 401, 413, 415, 422, 429, 503, 504)


def check_length(text: str, limit: int, what: str = "question") -> None:
    if len(text) > limit:
        raise ApiError(413, "question_too_long",
                       f"{what} is {len(text)} characters long; the limit is {limit} (max_question_chars)")


async def search_content(request: Request, service: Service, serving: Serving, body: SearchRequest) -> dict[str, Any]:
    check_length(body.query, service.settings.max_question_chars, "query")
    note_question(request, body.query)
    result = await run_cpu(service, serving.kb.search, body.query, k=body.k, lang=body.lang,
                           path_prefix=body.path_prefix)
    return {"hits": [hit_view(h) for h in result.hits], "took_ms": round(result.took_ms, 3)}


async def ask_content(request: Request, service: Service, serving: Serving, body: AskRequest) -> dict[str, Any]:
    check_length(body.question, service.settings.max_question_chars)
    note_question(request, body.question)
    answer = await run_cpu(service, serving.kb.ask, body.question, k=body.k, lang=body.lang)
    if answer.abstained:
        service.metrics.abstentions.inc()
    return answer_view(answer, service.record_answer(answer, body.question, "ask"), serving.info.get("build"))


@router.post("/search", response_model=SearchPublic, responses=QUERY_ERRORS)
async def search(body: SearchRequest, request: Request, service: ServiceDep, serving: ServingDep) -> FastJSONResponse:
    """The best-matching documentation sections for a query, best first.

    Hybrid retrieval (dense + BM25, fused). With `lang`, only sections in that language;
    with `path_prefix`, only pages under that path. The query is at most `max_question_chars`
    characters (413 beyond).
    """
    return FastJSONResponse(await search_content(request, service, serving, body))


@router.post("/ask", response_model=AnswerPublic, responses=QUERY_ERRORS)
async def ask(body: AskRequest, request: Request, service: ServiceDep, serving: ServingDep) -> FastJSONResponse:
    """A grounded answer with numbered citations, or an abstention when the docs do not cover it.

    The answer text refers to citations as "[n]"; `see_also` lists further sections (or,
    when `abstained` is true, the closest ones). The question is at most
    `max_question_chars` characters (413 beyond); control characters are removed. Rate the
    answer with `POST /v1/feedback` and its `answer_id`.
    """
    return FastJSONResponse(await ask_content(request, service, serving, body))
