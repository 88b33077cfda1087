"""Results cut to ``max_chars``, with a cursor to fetch the rest (pure).

The server is stateless (any replica may answer the next call), so a cursor holds all it
needs: which tool made it, where the next page starts, a digest of the whole result, and
for an answer the ``answer_id`` its first page was recorded under (the later pages are not
recorded again: they are the same answer).
Asked for the next page, the tool computes the result again (answers are deterministic for
one index) and refuses a cursor whose digest does not match: the arguments changed, or the
index was reloaded in between.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass

# A cut looks back this far for a paragraph or line end, so a page does not stop mid-sentence.
_LOOK_BACK = 0.3
_ANSWER_ID = re.compile(r"[0-9a-f]{32}")  # what AnswerRecorder.record hands out


class CursorError(ValueError):
    """The cursor is malformed or belongs to another result; the message says what to do."""


@dataclass(frozen=True)
class Cursor:
    tool: str
    offset: int
    digest: str
    ref: str = ""  # the answer_id of the result, when it has one


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def encode_cursor(cursor: Cursor) -> str:
    fields = {"t": cursor.tool, "o": cursor.offset, "h": cursor.digest, **({"r": cursor.ref} if cursor.ref else {})}
    raw = json.dumps(fields, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, tool: str, expected_digest: str) -> int:
    """The offset a cursor of ``tool`` points to, checked against the result's digest."""
    return read_cursor(token, tool, expected_digest).offset


def read_cursor(token: str, tool: str, expected_digest: str) -> Cursor:
    """The cursor ``token`` of ``tool``, checked against the result's digest."""
    try:
        raw = base64.urlsafe_b64decode(token.strip() + "=" * (-len(token.strip()) % 4))
        data = json.loads(raw)
        cursor = Cursor(str(data["t"]), int(data["o"]), str(data["h"]), str(data.get("r", "")))
    except (ValueError, KeyError, TypeError):
        raise CursorError(f"cursor {token[:60]!r} is not a cursor this server made: pass the next_cursor "
                          "of a previous result unchanged, or no cursor for the first page") from None
    if cursor.tool != tool:
        raise CursorError(f"this cursor was made by {cursor.tool}, not {tool}: pass it to {cursor.tool}")
    if cursor.digest != expected_digest or cursor.offset < 0 or (cursor.ref and not _ANSWER_ID.fullmatch(cursor.ref)):
        raise CursorError("this cursor belongs to another result (other arguments, or the index was reloaded "
                          "since): call again with the same arguments and no cursor")
    return cursor


def cut_text(text: str, offset: int, max_chars: int) -> tuple[str, int | None]:
    """``text`` from ``offset``, at most ``max_chars`` long, ended at a paragraph, line or word
    end when one is near; and where the next page starts (None when this is the last)."""
    if offset >= len(text):
        return "", None
    end = offset + max_chars
    if end >= len(text):
        return text[offset:], None
    floor = end - int(max_chars * _LOOK_BACK)
    for separator in ("\n\n", "\n", " "):
        at = text.rfind(separator, floor, end)
        if at > offset:
            return text[offset:at], at + len(separator)
    return text[offset:end], end


def fit_items(sizes: list[int], start: int, max_chars: int) -> int:
    """The end of the run of items from ``start`` whose sizes add up to at most ``max_chars``
    (always at least one item, so that paging moves on)."""
    end, used = start, 0
    while end < len(sizes) and (end == start or used + sizes[end] <= max_chars):
        used += sizes[end]
        end += 1
    return end
