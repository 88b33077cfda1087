"""Response bodies: orjson for plain JSON, Server-Sent Events for streamed answers.

Answers are computed whole (extractive answers take milliseconds) and then streamed in
word groups, so a streaming client sees the same text, and errors still arrive as one
JSON error response before any event is sent. The event framing is FastAPI's own
(``fastapi.sse``): ``event: name`` / ``data: <json>`` lines ended by a blank line.
"""

from __future__ import annotations

import re
from typing import Any, AsyncIterator, Iterable

import orjson
from fastapi.sse import EventSourceResponse, format_sse_event
from starlette.responses import JSONResponse

WORDS_PER_PIECE = 6
_WORD = re.compile(r"\S+\s*")


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson: the hot-path response of every route.

    A JSONResponse subclass, so that FastAPI documents each route's ``response_model`` as
    its 200 schema in OpenAPI (for any other Response class it writes ``{"type": "string"}``).
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def word_groups(text: str, size: int = WORDS_PER_PIECE) -> list[str]:
    """``text`` cut into pieces of ``size`` words; the pieces join back to ``text`` exactly."""
    words = _WORD.findall(text)
    if not words:
        return [text] if text else []
    lead = text[: len(text) - len(text.lstrip())]
    pieces = ["".join(words[i : i + size]) for i in range(0, len(words), size)]
    pieces[0] = lead + pieces[0]
    return pieces


def sse_event(event: str, data: Any) -> bytes:
    """A named event (``event: answer`` / ``data: {...}``), as /v1/chat streams."""
    return format_sse_event(event=event, data_str=orjson.dumps(data).decode())


def sse_data(data: Any) -> bytes:
    """An unnamed event, as OpenAI streams use (``data: {...}``; ``data: [DONE]`` to end)."""
    payload = data.decode() if isinstance(data, bytes) else orjson.dumps(data).decode()
    return format_sse_event(data_str=payload)


async def _iterate(events: Iterable[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


def event_stream(events: Iterable[bytes]) -> EventSourceResponse:
    return EventSourceResponse(
        _iterate(events),
        # No caching, and no buffering by a reverse proxy (nginx honours X-Accel-Buffering).
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
