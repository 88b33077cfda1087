"""Request and response bodies. Responses mirror ``kb_service.views`` (the one JSON shape);
the models here document it in OpenAPI and let the tests check the two never drift apart.

Unknown fields in request bodies are ignored (OpenAI clients send many we do not use).
Length limits that depend on the settings (``max_question_chars``, ``max_messages``) are
checked by the routes, which answer 413 with the limit in the message.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Lang = Literal["en", "fr"]

# C0/C1 control characters except tab, newline and carriage return, and lone surrogates
# (valid JSON escapes, but not encodable text): removed, never an error.
_STRIP = {c: None for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A, 0x0D)}
_STRIP.update({c: None for c in range(0xD800, 0xE000)})


def clean_text(value: str) -> str:
    """``value`` without control characters and lone surrogates."""
    return value.translate(_STRIP)


def _required_text(value: str) -> str:
    value = clean_text(value)
    if not value.strip():
        raise ValueError("must not be empty or whitespace")
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


# Every ``k`` is strict: "5", " 5 ", 5.0 and true are refused with 422 naming k, not coerced.


# ---- requests ------------------------------------------------------------------------------


class SearchRequest(_Request):
    query: str = Field(description="What to look for, in English or French.")
    k: int = Field(10, ge=1, le=50, strict=True, description="Number of hits (1–50).")
    lang: Lang | None = Field(None, description="Only hits in this language; default: the query's language first.")
    path_prefix: str | None = Field(None, max_length=500, description="Only pages whose path starts with this.")

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"query": "cart abandonment", "k": 5, "lang": "en"}]},
    )

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        return _required_text(value)

    @field_validator("path_prefix")
    @classmethod
    def _path_prefix(cls, value: str | None) -> str | None:
        return clean_text(value) if value else None


class AskRequest(_Request):
    question: str = Field(description="The question, in English or French (at most `max_question_chars`).")
    k: int = Field(5, ge=1, le=50, strict=True, description="Sections to consider (1–50).")
    lang: Lang | None = Field(None, description="Answer in this language; default: detected from the question.")

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"question": "Which approach for cart abandonment?"}]},
    )

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        return _required_text(value)


FEEDBACK_COMMENT_CHARS = 2000
_ANSWER_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex, as AnswerRecorder.record gives them


class FeedbackRequest(_Request):
    answer_id: str = Field(min_length=1, max_length=64,
                           description="The `answer_id` of an answer (or the `id` of a chat completion).")
    rating: Literal["up", "down"] = Field(description="Was the answer right and useful?")
    comment: str | None = Field(None, description=f"What was wrong or missing (at most {FEEDBACK_COMMENT_CHARS} "
                                "characters; 413 beyond).")

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"answer_id": "5b0e4f7c9a2d4e1f8c3b6a7d0e9f1a2b", "rating": "down",
                                         "comment": "This does not say how to schedule it."}]},
    )

    @field_validator("answer_id")
    @classmethod
    def _answer_id(cls, value: str) -> str:
        value = value.strip().removeprefix("chatcmpl-")
        if not _ANSWER_ID.fullmatch(value):
            raise ValueError("must be the answer_id of an answer (32 hexadecimal digits) or a chat completion id")
        return value

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: str | None) -> str | None:
        value = clean_text(value).strip() if value else None
        return value or None


class ChatMessage(_Request):
    # A system turn (a chat-bot's own instructions) is accepted and not searched.
    role: Literal["system", "user", "assistant"]
    content: str

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        return clean_text(value)


class ChatRequest(_Request):
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="The conversation, oldest first; the last user message is answered "
        "(at most `max_messages` turns).",
    )
    stream: bool = Field(False, description="Answer as Server-Sent Events: `answer` pieces, `citations`, `done`.")
    lang: Lang | None = None
    k: int = Field(5, ge=1, le=50, strict=True)

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "messages": [
                        {"role": "user", "content": "Which approach for cart abandonment?"},
                        {"role": "assistant", "content": "A journey … [1]"},
                        {"role": "user", "content": "And for a monthly newsletter?"},
                    ]
                }
            ]
        },
    )


OpenAIRole = Literal["system", "developer", "user", "assistant", "tool", "function"]


class OpenAIMessage(_Request):
    role: OpenAIRole
    # A string, a list of content parts ({"type": "text", "text": ...}), or null (tool calls).
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return clean_text(self.content)
        parts = [p.get("text", "") for p in self.content if isinstance(p, dict) and p.get("type") == "text"]
        return clean_text("\n".join(p for p in parts if isinstance(p, str)))


class ChatCompletionRequest(_Request):
    model: str = Field("kb", description="Any name is accepted; the answer always comes from `kb`.")
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    # temperature, top_p, max_tokens, n, ... are accepted and ignored (extra="ignore").

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "model": "kb",
                    "messages": [
                        {"role": "system", "content": "You are a helpful assistant."},
                        {"role": "user", "content": "Which approach for a monthly newsletter?"},
                    ],
                }
            ]
        },
    )


# ---- responses ------------------------------------------------------------------------------


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HitPublic(_Public):
    chunk_id: str
    path: str
    lang: str
    title: str
    heading_path: list[str]
    anchor: str
    url: str
    line_start: int
    line_end: int
    kind: str
    text: str
    score: float


class CitationPublic(HitPublic):
    number: int = Field(description='Referenced as "[number]" in the answer text.')
    snippet: str
    alt_url: str | None = Field(description="The same section in the other language, when it exists.")


class SearchPublic(_Public):
    hits: list[HitPublic]
    took_ms: float


class AnswerPublic(_Public):
    answer_id: str | None = Field(description="Quote it in `POST /v1/feedback` to rate this answer.")
    answer: str
    abstained: bool = Field(description="True when the docs do not cover the question; see_also then lists the closest sections.")
    confidence: float = Field(ge=0, le=1)
    lang: str
    approach: str | None = Field(
        description="The option the answer recommends (with the Journey Optimizer profile: journey | action | api | "
        "orchestrated); null unless the question asks to choose."
    )
    intent: str = Field("other", description="What the question was understood to ask: choose | howto | whatis | can | "
                        "quantity | smalltalk | other.")
    citations: list[CitationPublic]
    see_also: list[HitPublic]
    took_ms: float
    index_build: str | None = Field(None, description="The index build that answered (the same on every replica once "
                                                      "a rollout has finished).")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "answer_id": "5b0e4f7c9a2d4e1f8c3b6a7d0e9f1a2b",
                    "answer": "Action Campaign — Simple scheduled message to audience [1]",
                    "abstained": False,
                    "confidence": 0.91,
                    "lang": "en",
                    "approach": "action",
                    "intent": "choose",
                    "citations": [
                        {
                            "chunk_id": "3f1c0a9b2d4e5f607182",
                            "path": "help/using/start/journeys-vs-campaigns.md",
                            "lang": "en",
                            "title": "Journeys vs Campaigns",
                            "heading_path": ["Journeys vs Campaigns", "Decision guide"],
                            "anchor": "decision-guide",
                            "url": "https://experienceleague.adobe.com/en/docs/journey-optimizer/using/start/journeys-vs-campaigns#decision-guide",
                            "line_start": 40,
                            "line_end": 52,
                            "kind": "table_row",
                            "text": "Approach: Action Campaign | Use: Send monthly newsletter to subscribers",
                            "score": 0.0328,
                            "number": 1,
                            "snippet": "Send monthly newsletter to subscribers",
                            "alt_url": "https://experienceleague.adobe.com/fr/docs/journey-optimizer/using/start/journeys-vs-campaigns#decision-guide",
                        }
                    ],
                    "see_also": [],
                    "took_ms": 4.2,
                    "index_build": "20261201T120000123456Z-1a2b3c",
                }
            ]
        },
    )


class DocumentPublic(_Public):
    path: str
    lang: str
    title: str
    url: str
    chunks: int


class DocumentsPublic(_Public):
    documents: list[DocumentPublic]


class SectionPublic(_Public):
    heading_path: list[str]
    anchor: str
    url: str
    line_start: int
    line_end: int
    chunks: int


class SectionTextPublic(_Public):
    """One whole section: the chunks of one page under one anchor, with their text."""

    url: str
    path: str
    lang: str
    title: str
    heading_path: list[str]
    anchor: str
    line_start: int
    line_end: int
    alt_url: str | None = Field(description="The same section in the other language, when that page exists.")
    chunks: int
    text: str


class OutlinePublic(_Public):
    path: str
    lang: str
    title: str
    url: str
    sections: list[SectionPublic | SectionTextPublic] = Field(
        description="Each section's heading path, anchor, URL and line range; with `text=true`, "
                    "whole sections (by anchor) with their text.")


class IndexInfoPublic(BaseModel):
    model: str | None
    dim: int | None
    format_version: int | None
    built_at: str | None
    build: str | None
    dense: dict[str, Any] | None
    counts: dict[str, Any] | None
    documents: int
    query_backend: str


class ReloadPublic(_Public):
    status: Literal["reloaded"]
    build: str | None
    chunks: int
    documents: int
    workers: int = 1
    took_ms: float


class FeedbackPublic(_Public):
    status: Literal["accepted"]
    answer_id: str
    rating: Literal["up", "down"]


class GapSectionPublic(BaseModel):
    chunk_id: str
    title: str | None
    heading: str | None
    url: str | None
    score: float | None = None


class GapExamplePublic(BaseModel):
    question: str
    asks: int


class GapTopicPublic(BaseModel):
    topic: str = Field(description="The most central question of the group.")
    asks: int
    questions: int = Field(description="Distinct questions in the group.")
    abstained: int
    down_votes: int
    langs: dict[str, int]
    last_asked: str
    examples: list[GapExamplePublic]
    sections: list[GapSectionPublic] = Field(description="The closest sections of the docs.")
    resolved_by: str | None = Field(description="The index build whose replay answered every question of the group.")


class DownVotedPublic(BaseModel):
    question: str | None
    down_votes: int
    comments: list[str]
    last: str
    resolved_by: str | None
    cited: list[GapSectionPublic]


class GapsPublic(BaseModel):
    since: str
    until: str
    build: str | None
    answers: int
    abstained: int
    up_votes: int
    down_votes: int
    gap_answers: int
    questions_not_stored: int
    topics: list[GapTopicPublic]
    resolved: list[GapTopicPublic]
    most_down_voted: list[DownVotedPublic]
    replays: list[dict[str, Any]]


class StatusPublic(BaseModel):
    status: str
    build: str | None = Field(None, description="/readyz: the index build being served.")
    refused: dict[str, str | None] | None = Field(
        None, description="/readyz: a published build that failed to load (`build`, `error`); the previous one serves.")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. invalid_request, index_unavailable.")
    message: str = Field(description="What is wrong and how to fix it.")
    request_id: str | None = Field(None, description="Quote it when reporting a problem.")


class ErrorPublic(BaseModel):
    error: ErrorDetail

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"error": {"code": "invalid_request", "message": "question: must not be empty or whitespace",
                                    "request_id": "5f2b9c0e8d7a4b1c"}}]
        }
    )


class ModelPublic(_Public):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelListPublic(_Public):
    object: Literal["list"]
    data: list[ModelPublic]


class CompletionMessagePublic(_Public):
    role: Literal["assistant"]
    content: str


class CompletionChoicePublic(_Public):
    index: int
    message: CompletionMessagePublic
    finish_reason: Literal["stop"]


class UsagePublic(_Public):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionPublic(_Public):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[CompletionChoicePublic]
    usage: UsagePublic
    citations: list[CitationPublic] = Field(description="Structured sources of the answer (extra to the OpenAI format).")
    answer_id: str = Field(description="Rate the answer with `POST /v1/feedback` (the `id` without `chatcmpl-` "
                           "is the same; extra to the OpenAI format).")
    system_fingerprint: str | None = Field(None, description="The index build that answered (`index_build` elsewhere).")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error statuses a route can answer."""
    described = {
        400: "Malformed JSON or invalid UTF-8 (`invalid_json`).",
        401: "Missing or wrong API key (`unauthorized`).",
        403: "Admin routes are disabled (`admin_disabled`).",
        404: "Not found (`document_not_found`, `section_not_found`, `answer_not_found`, `not_found`).",
        409: "Reload failed; the previous index keeps serving (`reload_failed`).",
        413: "Body larger than `max_body_bytes`, question longer than `max_question_chars` or more than `max_messages` turns.",
        415: "Content-Type is not application/json (`unsupported_media_type`).",
        422: "A field is invalid; the message names it (`invalid_request`).",
        429: "Rate limit reached, or too many failed authentications from this address; see Retry-After "
             "(`rate_limited`).",
        503: "Index loading or unavailable, server overloaded, or the answer database unavailable; see Retry-After.",
        504: "The request took longer than `request_timeout_s` (`timeout`).",
    }
    return {s: {"model": ErrorPublic, "description": described[s]} for s in statuses}
