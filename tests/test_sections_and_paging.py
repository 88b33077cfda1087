"""Whole sections from chunks (kb_service/sections.py) and the MCP results' paging
(kb_service/mcp_server/paging.py): pure functions on hand-made inputs."""

from __future__ import annotations

import pytest

from kb_service.mcp_server.paging import Cursor, CursorError, cut_text, decode_cursor, digest, encode_cursor, fit_items
from kb_service.sections import SectionIndex, SectionNotFound, normalise_url, page_text, section_text
from kb_service.types import Chunk

PAGE = "https://docs.example/en/guide/setup"


def chunk(n: int, kind: str, lines: tuple[int, int], text: str, anchor: str = "install",
          headings: tuple[str, ...] = ("Setup", "Install"), lang: str = "en") -> Chunk:
    return Chunk(chunk_id=f"c{n}", source="s", path="guide/setup.md", lang=lang, title="Setup guide",
                 heading_path=headings, anchor=anchor, url=f"{PAGE}#{anchor}",
                 alt_url=f"https://docs.example/fr/guide/setup#{anchor}", line_start=lines[0], line_end=lines[1],
                 kind=kind, text=text, embed_text=text)


CHUNKS = [
    chunk(1, "paragraph", (3, 4), "Install the agent first."),
    chunk(2, "table", (6, 8), "| Step | What |\n|---|---|\n| 1 | Download |"),
    chunk(3, "table_row", (8, 8), "Step: 1 | What: Download"),  # inside the table: not shown twice
    chunk(4, "question", (10, 10), "How long does it take?"),  # a retrieval handle, never shown
    chunk(5, "faq", (10, 12), "How long does it take?\nFive minutes.", headings=("Setup", "Install", "FAQ")),
    chunk(6, "paragraph", (20, 21), "Then configure it.", anchor="configure", headings=("Setup", "Configure")),
]


def test_a_section_shows_each_line_range_once_in_page_order():
    text = section_text(reversed(CHUNKS[:5]))
    assert text == ("Install the agent first.\n\n| Step | What |\n|---|---|\n| 1 | Download |\n\n"
                    "How long does it take?\nFive minutes.")


def test_a_section_is_found_by_its_citation_url_in_any_spelling():
    sections = SectionIndex(CHUNKS)
    found = sections.section(f"{PAGE}#install")
    assert (found["line_start"], found["line_end"], found["chunks"]) == (3, 12, 5)
    assert found["heading_path"] == ["Setup", "Install"]  # what all its chunks share
    assert found["alt_url"] == "https://docs.example/fr/guide/setup#install"
    assert sections.section(f"  HTTPS://DOCS.EXAMPLE/en/guide/setup/?utm=x#install ")["text"] == found["text"]
    assert normalise_url(f"{PAGE}/#a") == f"{PAGE}#a"


def test_a_url_that_is_not_a_section_says_what_is_there():
    sections = SectionIndex(CHUNKS)
    with pytest.raises(SectionNotFound, match="names the page.*#install.*#configure"):
        sections.section(PAGE)
    with pytest.raises(SectionNotFound, match="no section with this anchor"):
        sections.section(f"{PAGE}#nowhere")
    for junk in ("https://elsewhere.example/a#b", "http://[broken", "\x00", "#"):
        with pytest.raises(SectionNotFound, match="no indexed section"):
            sections.section(junk)


def test_a_page_lists_its_sections_in_order_with_their_text():
    sections = SectionIndex(CHUNKS).page_sections("en", "guide/setup.md")
    assert [s["anchor"] for s in sections] == ["install", "configure"]
    assert SectionIndex(CHUNKS).page_sections("fr", "guide/setup.md") is None
    text = page_text("Setup guide", PAGE, sections)
    assert text.startswith(f"# Setup guide\n{PAGE}\n\n## Install\n{PAGE}#install (lines 3-12)")
    assert "## Configure" in text and text.endswith("Then configure it.\n")


def test_cut_text_pages_rebuild_the_text_and_end_at_a_break():
    text = " ".join(f"word{i}" for i in range(300))  # 2,389 characters
    pages, offset = [], 0
    while offset is not None:
        page, offset = cut_text(text, offset, 500)
        assert len(page) <= 500 and not page.startswith(" ")
        pages.append(page)
    assert " ".join(pages) == text and len(pages) == 5
    assert cut_text("abc", 3, 500) == ("", None)
    assert cut_text("x" * 1000, 0, 400) == ("x" * 400, 400)  # no break near: a hard cut


def test_fit_items_takes_what_fits_and_at_least_one():
    assert fit_items([100, 200, 300], 0, 350) == 2
    assert fit_items([100, 200, 300], 1, 100) == 2  # too big alone: still one, so paging moves on
    assert fit_items([100, 200, 300], 0, 10_000) == 3


def test_a_cursor_only_continues_the_result_it_was_made_for():
    h = digest("query", "en", "c1", "c2")
    token = encode_cursor(Cursor("search_docs", 2, h))
    assert decode_cursor(token, "search_docs", h) == 2
    with pytest.raises(CursorError, match="made by search_docs, not get_section"):
        decode_cursor(token, "get_section", h)
    with pytest.raises(CursorError, match="another result"):
        decode_cursor(token, "search_docs", digest("other query"))
    for junk in ("", "not-a-cursor", "e30", "!!!"):
        with pytest.raises(CursorError, match="not a cursor"):
            decode_cursor(junk, "search_docs", h)


def _view(number: int, anchor: str) -> dict:
    return {"number": number, "title": "Setup guide", "heading_path": ["Setup", anchor.title()], "url": f"{PAGE}#{anchor}",
            "path": "guide/setup.md", "lang": "en", "line_start": 3, "line_end": 4, "snippet": "Install the agent.",
            "alt_url": None, "kind": "paragraph", "score": 0.5, "chunk_id": f"c-{anchor}", "text": "Install. " * 40}


def test_a_long_answer_comes_in_pages_with_its_citations_on_the_first():
    from kb_service.mcp_server.results import ask_page

    answer = " ".join(f"Sentence number {i} of the answer [1]." for i in range(120))
    answer_id = "5b0e4f7c9a2d4e1f8c3b6a7d0e9f1a2b"
    view = {"answer": answer, "abstained": False, "confidence": 0.9, "lang": "en", "approach": None,
            "citations": [_view(1, "install")], "see_also": [_view(0, "configure")], "answer_id": answer_id}
    parts, cursor, pages = [], None, 0
    while pages < 20:
        text, result = ask_page("how to install?", None, view, 1000, cursor)
        assert len(text) <= 1000 + 200
        first = pages == 0
        assert bool(result.citations) == first and ("Citations:" in text) == first
        assert (f"answer_id: {answer_id}" in text) == first
        assert result.answer_id == answer_id  # a later page is the same answer: the cursor keeps its id
        view = {**view, "answer_id": None}  # later pages are not recorded again (no id of their own)
        parts.append(result.answer)
        cursor, pages = result.next_cursor, pages + 1
        if cursor is None:
            break
    assert pages >= 4 and " ".join(parts) == answer
    with pytest.raises(CursorError):  # the same cursor for another question
        ask_page("something else?", None, view, 1000, encode_cursor(Cursor("ask_docs", 10, "0" * 16)))
    fingerprint = digest("how to install?", "", answer)
    with pytest.raises(CursorError):  # a cursor whose answer_id is not one kb hands out
        ask_page("how to install?", None, view, 1000, encode_cursor(Cursor("ask_docs", 10, fingerprint, "x" * 500)))


def test_an_abstention_is_not_found_with_the_closest_sections():
    from kb_service.mcp_server.results import ask_page

    view = {"answer": "The documentation doesn't cover this.", "abstained": True, "confidence": 0.1, "lang": "en",
            "approach": None, "citations": [], "see_also": [_view(0, "configure")], "answer_id": "a-1"}
    text, result = ask_page("how to bake a cake?", None, view, 4000, None)
    assert result.not_found and result.abstained and not result.citations and result.answer_id == "a-1"
    assert [s.url for s in result.closest] == [f"{PAGE}#configure"]
    assert text.startswith("NOT FOUND") and "Closest sections (not an answer):" in text


def test_search_hits_come_in_pages_that_fit():
    from kb_service.mcp_server.results import search_page

    hits = [_view(0, f"s{i}") for i in range(6)]  # 360 characters of text each
    seen, cursor = [], None
    for _ in range(6):
        text, result = search_page("install", "en", hits, 1300, cursor)
        assert len(result.hits) >= 1 and len(text) <= 1300 + 400
        seen += [h.url for h in result.hits]
        cursor = result.next_cursor
        if cursor is None:
            break
    assert seen == [h["url"] for h in hits] and result.total == 6
