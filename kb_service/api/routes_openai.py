"""OpenAI Chat Completions compatibility, so existing chat clients can use kb unmodified.

Any ``model`` name is accepted (clients hard-code one) and the answer always comes from
``kb``. System and developer messages are ignored; sampling parameters are accepted and
ignored. The answer is Markdown, as chat UIs render it: its "[n]" references link to the
sources listed under it; structured citations are in an extra top-level ``citations`` field
(on the final chunk when streaming), and the ``answer_id`` to rate it with in another (the
completion ``id`` is ``chatcmpl-<answer_id>``).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kb_service.views import where, answer_view
from kb_service.api.deps import ServiceDep, ServingDep
from kb_service.api.errors import ApiError
from kb_service.api.routes_chat import answer_conversation, checked_conversation
from kb_service.api.schemas import ChatCompletionPublic, ChatCompletionRequest, ModelListPublic, ModelPublic, error_responses
from kb_service.api.security import require_client
from kb_service.api.streaming import FastJSONResponse, event_stream, sse_data, word_groups

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(require_client)])

MODEL = "kb"
_CREATED = int(time.time())  # the "created" date of the model, as OpenAI lists it


def _model_card() -> dict:
    return {"id": MODEL, "object": "model", "created": _CREATED, "owned_by": "kb"}


_URL_ESCAPES = str.maketrans({" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E"})


def _url(url: str) -> str:
    """``url`` with the characters that would end a Markdown link destination percent-encoded."""
    return url.translate(_URL_ESCAPES)


def _link(text: str, url: str) -> str:
    """A Markdown link, brackets in its text escaped."""
    label = text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"[{label}]({_url(url)})"


def completion_text(view: dict) -> str:
    """The answer as Markdown: one paragraph per answer line, then "- [n] [title › heading](url)"
    per citation, and reference definitions "[n]: url" that make each "[n]" in the text a link
    to its source (or, for an abstention, the closest sections as links)."""
    paragraphs = [line.strip() for line in view["answer"].split("\n") if line.strip()]
    blocks = ["\n\n".join(paragraphs)]
    if view["citations"]:
        blocks.append("Sources:\n" + "\n".join(f"- [{c['number']}] {_link(where(c), c['url'])}"
                                               for c in view["citations"]))
        blocks.append("\n".join(f"[{c['number']}]: {_url(c['url'])}" for c in view["citations"]))
    elif view["see_also"]:
        blocks.append("Closest sections:\n" + "\n".join(f"- {_link(where(h), h['url'])}" for h in view["see_also"]))
    return "\n\n".join(blocks)


def _words(text: str) -> int:
    return len(text.split())


@router.get("/models", response_model=ModelListPublic, responses=error_responses(401, 429))
async def list_models() -> FastJSONResponse:
    """The models this server answers with: only `kb`."""
    return FastJSONResponse({"object": "list", "data": [_model_card()]})


@router.get("/models/{model}", response_model=ModelPublic, responses=error_responses(401, 404, 429))
async def get_model(model: str) -> FastJSONResponse:
    """One model: `kb`."""
    if model != MODEL:
        raise ApiError(404, "model_not_found", f"no model {model!r}: this server has only {MODEL!r}")
    return FastJSONResponse(_model_card())


@router.post(
    "/chat/completions",
    response_model=ChatCompletionPublic,
    responses={
        **error_responses(400, 401, 413, 415, 422, 429, 503, 504),
        200: {
            "description": "A `chat.completion` object, or with `stream: true` Server-Sent Events of "
            "`chat.completion.chunk` objects ending with `data: [DONE]`.",
            "content": {
                "text/event-stream": {
                    "example": 'data: {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "kb", '
                    '"choices": [{"index": 0, "delta": {"content": "Journeys — "}, "finish_reason": null}]}\n\n'
                    "data: [DONE]\n\n"
                }
            },
        },
    },
)
async def chat_completions(body: ChatCompletionRequest, request: Request, service: ServiceDep,
                           serving: ServingDep) -> Response:
    """OpenAI-compatible chat completion, answered from the docs.

    Works with the official `openai` clients (`base_url=http://host:port/v1`). The last user
    message is answered in the light of the earlier user turns; system, developer and tool
    messages are ignored. `stream: true` sends `chat.completion.chunk` objects as
    `data:` lines and ends with `data: [DONE]`; `stream_options.include_usage` adds a usage
    chunk. Usage counts are approximate (words, not tokens).
    """
    turns = [(m.role, m.text()) for m in body.messages]
    messages = checked_conversation(turns, service.settings)
    answer, answer_id = await answer_conversation(request, service, serving.kb, messages, k=5, lang=None,
                                                  surface="chat_completions")
    view = answer_view(answer, answer_id)
    content = completion_text(view)
    prompt_words = sum(_words(text) for _, text in turns)
    usage = {"prompt_tokens": prompt_words, "completion_tokens": _words(content),
             "total_tokens": prompt_words + _words(content)}
    completion_id = f"chatcmpl-{answer_id}"  # the id a client can rate with POST /v1/feedback
    created = int(time.time())
    if not body.stream:
        return FastJSONResponse({
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": usage,
            "citations": view["citations"],
            "answer_id": answer_id,
            "system_fingerprint": serving.info.get("build"),  # OpenAI's field for the backend's configuration
        })

    def chunk(delta: dict, finish_reason: str | None = None, **extra) -> bytes:
        return sse_data({"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                         "system_fingerprint": serving.info.get("build"),
                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra})

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in word_groups(content)]
    events.append(chunk({}, "stop", citations=view["citations"], answer_id=answer_id))
    if (body.stream_options or {}).get("include_usage"):
        events.append(sse_data({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                                "model": MODEL, "system_fingerprint": serving.info.get("build"), "choices": [],
                                "usage": usage}))
    events.append(sse_data(b"[DONE]"))
    return event_stream(events)
