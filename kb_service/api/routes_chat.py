"""Chat: answer the last user message in the light of the conversation, optionally as SSE."""

from __future__ import annotations

from typing import Sequence

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kb_service.config import Settings
from kb_service.types import Answer
from kb_service.views import answer_view
from kb_service.api.deps import Service, ServiceDep, ServingDep, note_question, run_cpu
from kb_service.api.errors import ApiError
from kb_service.api.routes_query import check_length
from kb_service.api.schemas import AnswerPublic, ChatRequest, error_responses
from kb_service.api.security import require_client
from kb_service.api.streaming import FastJSONResponse, event_stream, sse_event, word_groups

router = APIRouter(prefix="/v1", tags=["chat"], dependencies=[Depends(require_client)])


def checked_conversation(turns: Sequence[tuple[str, str]], settings: Settings) -> list[dict]:
    """``(role, text)`` turns as kb.chat messages, after the limits every chat route applies."""
    if len(turns) > settings.max_messages:
        raise ApiError(413, "too_many_messages",
                       f"messages has {len(turns)} turns; the limit is {settings.max_messages} (max_messages): "
                       "send only the recent part of the conversation")
    users = [i for i, (role, _) in enumerate(turns) if role == "user"]
    if not users:
        raise ApiError(422, "invalid_request", "messages: must contain at least one message with role 'user'")
    last = users[-1]
    if not turns[last][1].strip():
        raise ApiError(422, "invalid_request", f"messages.{last}.content: must not be empty or whitespace")
    for i in users:
        check_length(turns[i][1], settings.max_question_chars, f"messages.{i}.content")
    return [{"role": role, "content": text} for role, text in turns if role in ("user", "assistant")]


async def answer_conversation(request: Request, service: Service, kb, messages: list[dict], *, k: int,
                              lang: str | None, surface: str) -> tuple[Answer, str]:
    """The answer to the last user message, and the ``answer_id`` it was recorded under."""
    question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    note_question(request, question)
    answer = await run_cpu(service, kb.chat, messages, k=k, lang=lang)
    if answer.abstained:
        service.metrics.abstentions.inc()
    # The last user message as asked: a follow-up is stored without the turns it follows.
    return answer, service.record_answer(answer, question, surface)


@router.post(
    "/chat",
    response_model=AnswerPublic,
    responses={
        **error_responses(400, 401, 413, 415, 422, 429, 503, 504),
        200: {
            "description": "The answer as JSON, or with `stream: true` as Server-Sent Events.",
            "content": {
                "text/event-stream": {
                    "example": 'event: answer\ndata: {"delta": "Action Campaign — Simple scheduled "}\n\n'
                    'event: citations\ndata: {"answer_id": "5b0e4f7c9a2d4e1f8c3b6a7d0e9f1a2b", "citations": [], '
                    '"see_also": [], "abstained": false, '
                    '"confidence": 0.9}\n\nevent: done\ndata: {}\n\n'
                }
            },
        },
    },
)
async def chat(body: ChatRequest, request: Request, service: ServiceDep, serving: ServingDep) -> Response:
    """Answer the last user message in the light of the earlier user turns.

    A follow-up such as "and for a monthly newsletter?" after "which approach for cart
    abandonment?" is answered as "which approach for a monthly newsletter?". Assistant turns
    are accepted and ignored. At most `max_messages` turns and `max_question_chars` per user
    turn (413 beyond).

    With `stream: true` the answer comes as Server-Sent Events: `answer` events
    (`{"delta": "..."}`, word groups that join into the answer), one `citations` event
    (`{answer_id, citations, see_also, abstained, confidence, lang, approach}`), then `done`.
    Rate the answer with `POST /v1/feedback` and its `answer_id`.
    """
    messages = checked_conversation([(m.role, m.content) for m in body.messages], service.settings)
    answer, answer_id = await answer_conversation(request, service, serving.kb, messages, k=body.k,
                                                  lang=body.lang, surface="chat")
    view = answer_view(answer, answer_id, serving.info.get("build"))
    if not body.stream:
        return FastJSONResponse(view)
    events = [sse_event("answer", {"delta": piece}) for piece in word_groups(view["answer"])]
    events.append(sse_event("citations", {key: view[key] for key in ("answer_id", "citations", "see_also",
                                                                      "abstained", "confidence", "lang", "approach")}))
    events.append(sse_event("done", {"took_ms": view["took_ms"]}))
    return event_stream(events)
