"""The tools' results as pages: readable text and the same content as structured data (pure).

Each function takes the API's JSON shapes (kb_service/views.py, kb_service/sections.py) and
returns ``(text, structured)`` for one page of at most ``max_chars`` characters of text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from kb_service.mcp_server.paging import Cursor, cut_text, decode_cursor, digest, encode_cursor, fit_items, read_cursor
from kb_service.views import where

# What a hit's header lines take besides its text, for fitting hits into a page.
_HIT_OVERHEAD = 240


class SectionRef(BaseModel):
    """Where a passage is: enough to cite it and to fetch it whole with get_section."""

    title: str
    heading_path: list[str]
    url: str = Field(description="Public URL of the section, with its #anchor; get_section(url) returns it whole.")
    path: str = Field(description="Markdown file of the page in the docs source.")
    lang: str
    line_start: int
    line_end: int


class SearchHit(SectionRef):
    kind: str = Field(description="paragraph, list, table, table_row, faq, code, callout or section.")
    score: float
    text: str
    truncated: bool = Field(False, description="True when text was cut to fit max_chars: get_section(url) has it all.")


class SearchResult(BaseModel):
    query: str
    lang: str | None = Field(description="The language filter asked for (null: both languages).")
    hits: list[SearchHit] = Field(description="This page of hits, best first.")
    total: int = Field(description="Number of hits found, on every page.")
    next_cursor: str | None = Field(description="Pass as cursor to get the next hits; null on the last page.")


class Citation(SectionRef):
    number: int = Field(description='Referenced as "[n]" in the answer text.')
    snippet: str
    alt_url: str | None = Field(None, description="The same section in the other language, when it exists.")


class AskResult(BaseModel):
    answer: str = Field(description="This page of the answer text (the whole answer unless next_cursor is set).")
    abstained: bool = Field(description="True when kb did not answer because the docs do not support an answer.")
    not_found: bool = Field(description="Same as abstained: the docs do not answer this; see closest.")
    approach: str | None = Field(description="The approach the docs recommend, when the answer names one.")
    confidence: float
    lang: str = Field(description="Language of the answer.")
    citations: list[Citation] = Field(description="The sections the answer quotes (on the first page).")
    closest: list[SectionRef] = Field(description="When not_found: the closest sections (not an answer). "
                                      "Otherwise: further relevant sections.")
    answer_id: str | None = Field(None, description="The id this answer was recorded under: quote it to rate the "
                                  "answer (POST /v1/feedback on the kb server). Null when kb records no answers.")
    next_cursor: str | None = Field(description="Pass as cursor to get the rest of the answer; null when complete.")


class SectionResult(SectionRef):
    anchor: str
    alt_url: str | None = Field(description="The same section in the other language, when it exists.")
    text: str = Field(description="This page of the section's text.")
    offset: int = Field(description="Where this page starts in the section's text.")
    total_chars: int = Field(description="Length of the whole section's text.")
    next_cursor: str | None = Field(description="Pass as cursor to get the rest of the text; null on the last page.")


def _ref(view: dict[str, Any]) -> dict[str, Any]:
    return {key: view[key] for key in SectionRef.model_fields}


def _location(view: dict[str, Any]) -> str:
    return f"{view['url']}\n   {view['path']} lines {view['line_start']}-{view['line_end']} ({view['lang']})"


def search_page(query: str, lang: str | None, hits: list[dict[str, Any]], max_chars: int,
                cursor: str | None) -> tuple[str, SearchResult]:
    fingerprint = digest(query, lang or "", *(h["chunk_id"] for h in hits))
    start = decode_cursor(cursor, "search_docs", fingerprint) if cursor else 0
    sizes = [len(h["text"]) + _HIT_OVERHEAD for h in hits]
    end = fit_items(sizes, start, max_chars) if start < len(hits) else start
    page: list[SearchHit] = []
    blocks: list[str] = []
    for rank, hit in enumerate(hits[start:end], start=start + 1):
        text, rest = cut_text(hit["text"], 0, max(200, max_chars - _HIT_OVERHEAD))
        truncated = rest is not None
        page.append(SearchHit(**_ref(hit), kind=hit["kind"], score=hit["score"], text=text, truncated=truncated))
        more = " […] (cut: get_section gives the whole section)" if truncated else ""
        blocks.append(f"{rank}. {where(hit)} ({hit['kind']}, score {hit['score']:.3f})\n   {_location(hit)}\n\n"
                      f"{text}{more}")
    next_cursor = encode_cursor(Cursor("search_docs", end, fingerprint)) if end < len(hits) else None
    if not hits:
        text = f"No section matches {query!r}" + (f" in {lang}." if lang else ".")
    else:
        head = f"{len(hits)} sections for {query!r}" + (f" ({lang})" if lang else "")
        head += f", {start + 1}-{end} here:" if (start, end) != (0, len(hits)) else ":"
        text = head + "\n\n" + "\n\n".join(blocks)
        if next_cursor:
            text += f"\n\n[{len(hits) - end} more: call search_docs again with cursor={next_cursor!r}]"
    return text, SearchResult(query=query, lang=lang, hits=page, total=len(hits), next_cursor=next_cursor)


def ask_page(question: str, lang: str | None, view: dict[str, Any], max_chars: int,
             cursor: str | None) -> tuple[str, AskResult]:
    answer = view["answer"]
    fingerprint = digest(question, lang or "", answer)
    # A later page is the same answer as the first: it keeps the first page's answer_id.
    position = read_cursor(cursor, "ask_docs", fingerprint) if cursor else None
    offset = position.offset if position else 0
    answer_id = (position.ref if position else "") or view.get("answer_id")
    first = offset == 0
    citations = [Citation(**_ref(c), number=c["number"], snippet=c.get("snippet", ""), alt_url=c.get("alt_url"))
                 for c in view.get("citations", [])] if first else []
    closest = [SectionRef(**_ref(h)) for h in view.get("see_also", [])] if first else []
    trailer = _citation_lines(view, citations, closest, answer_id) if first else ""
    budget = max(200, max_chars - len(trailer)) if first else max_chars
    text_part, next_offset = cut_text(answer, offset, budget)
    next_cursor = (encode_cursor(Cursor("ask_docs", next_offset, fingerprint, answer_id or ""))
                   if next_offset is not None else None)
    abstained = bool(view["abstained"])
    lines = []
    if abstained and first:
        lines.append("NOT FOUND: the docs do not support an answer to this question; kb does not guess.")
    lines.append(text_part)
    if next_cursor:
        lines.append(f"[answer continues: call ask_docs again with cursor={next_cursor!r}]")
    text = "\n\n".join(line for line in lines if line) + trailer
    result = AskResult(answer=text_part, abstained=abstained, not_found=abstained, approach=view.get("approach"),
                       confidence=view.get("confidence", 0.0), lang=view.get("lang", lang or "en"),
                       citations=citations, closest=closest, answer_id=answer_id,
                       next_cursor=next_cursor)
    return text, result


def _citation_lines(view: dict[str, Any], citations: list[Citation], closest: list[SectionRef],
                    answer_id: str | None) -> str:
    lines: list[str] = []
    if citations:
        lines.append("\n\nCitations:")
        for c in citations:
            lines.append(f"[{c.number}] {where(c.model_dump())}\n    {c.url}\n    {c.path} lines "
                         f"{c.line_start}-{c.line_end} ({c.lang})" + (f"\n    other language: {c.alt_url}" if c.alt_url else ""))
    if closest:
        lines.append("\n\nClosest sections (not an answer):" if view["abstained"] else "\n\nSee also:")
        lines.extend(f"- {where(s.model_dump())}: {s.url}" for s in closest)
    if view.get("approach"):
        lines.append(f"\n\nRecommended approach: {view['approach']}")
    if answer_id:
        lines.append(f"\n\nanswer_id: {answer_id} (to rate this answer: POST /v1/feedback on the kb server)")
    return "\n".join(lines)


def section_page(section: dict[str, Any], max_chars: int, cursor: str | None) -> tuple[str, SectionResult]:
    full = section["text"]
    fingerprint = digest(section["url"], full)
    offset = decode_cursor(cursor, "get_section", fingerprint) if cursor else 0
    header = f"{where(section)}\n{_location(section)}".replace("\n   ", "\n")
    if section.get("alt_url"):
        header += f"\nother language: {section['alt_url']}"
    budget = max(200, max_chars - len(header) - 120)
    text_part, next_offset = cut_text(full, offset, budget)
    next_cursor = encode_cursor(Cursor("get_section", next_offset, fingerprint)) if next_offset is not None else None
    text = f"{header}\n\n{text_part}"
    if offset or next_cursor:
        shown = f"characters {offset}-{offset + len(text_part)} of {len(full)}"
        text += f"\n\n[{shown}" + (f": call get_section again with cursor={next_cursor!r}]" if next_cursor else "]")
    result = SectionResult(**_ref(section), anchor=section["anchor"], alt_url=section.get("alt_url"), text=text_part,
                           offset=offset, total_chars=len(full), next_cursor=next_cursor)
    return text, result
