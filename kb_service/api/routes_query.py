"""Search and ask: the two one-shot question routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ..views import answer_view, hit_view
from .deps import ServiceDep, ServingDep, note_question, run_cpu
from .errors import ApiError
from .schemas import AnswerPublic, AskRequest, SearchPublic, SearchRequest, error_responses
from .security import require_client
from .streaming import FastJSONResponse

router = APIRouter(prefix="/v1", tags=["query"], dependencies=[Depends(require_client)])

QUERY_ERRORS = error_responses(400, 401, 413, 415, 422, 429, 503, 504)


def check_length(text: str, limit: int, what: str = "question") -> None:
    if len(text) > limit:
        raise ApiError(413, "question_too_long",
                       f"{what} is {len(text)} characters long; the limit is {limit} (max_question_chars)")


@router.post("/search", response_model=SearchPublic, responses=QUERY_ERRORS)
async def search(body: SearchRequest, request: Request, service: ServiceDep, serving: ServingDep) -> FastJSONResponse:
    """The best-matching documentation sections for a query, best first.

    Hybrid retrieval (dense + BM25, fused). With `lang`, only sections in that language;
    with `path_prefix`, only pages under that path. The query is at most `max_question_chars`
    characters (413 beyond).
    """
    check_length(body.query, service.settings.max_question_chars, "query")
    note_question(request, body.query)
    result = await run_cpu(service, serving.kb.search, body.query, k=body.k, lang=body.lang,
                           path_prefix=body.path_prefix)
    return FastJSONResponse({"hits": [hit_view(h) for h in result.hits], "took_ms": round(result.took_ms, 3)})


@router.post("/ask", response_model=AnswerPublic, responses=QUERY_ERRORS)
async def ask(body: AskRequest, request: Request, service: ServiceDep, serving: ServingDep) -> FastJSONResponse:
    """A grounded answer with numbered citations, or an abstention when the docs do not cover it.

    The answer text refers to citations as "[n]"; `see_also` lists further sections (or,
    when `abstained` is true, the closest ones). The question is at most
    `max_question_chars` characters (413 beyond); control characters are removed.
    """
    check_length(body.question, service.settings.max_question_chars)
    note_question(request, body.question)
    answer = await run_cpu(service, serving.kb.ask, body.question, k=body.k, lang=body.lang)
    if answer.abstained:
        service.metrics.abstentions.inc()
    return FastJSONResponse(answer_view(answer))
