"""Whole sections and pages put back together from the index's chunks (pure).

A section is the chunks of one page under one anchor, so a citation's URL (page URL +
``#anchor``) names exactly one. Its text is its chunks in page order, less the chunks that
only repeat part of another one: a table's rows (the table chunk has them all), a list's
items (the list chunk has them), a FAQ's question handle (the answer chunks start with it).

Imports nothing heavy: ``kb mcp --url`` and the API use it alike.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit
from weakref import WeakKeyDictionary

from kb_service.types import Chunk

# Chunks that are retrieval handles for text another chunk of the section already holds.
_NEVER_SHOWN = {"question"}


class SectionNotFound(LookupError):
    """No section at this URL; the message says what was looked for and what exists instead."""


def normalise_url(url: str) -> str:
    """The form URLs are compared in: scheme and host lower-cased, no query string, no
    trailing slash before the anchor. Citation URLs pass through unchanged."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. "http://[x": not a URL any section has
        return url.strip()
    path = parts.path.rstrip("/") or parts.path
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "", parts.fragment))


def section_text(chunks: Iterable[Chunk]) -> str:
    """The text of one section's chunks: page order, each line range shown once."""
    ordered = sorted(chunks, key=lambda c: (c.line_start, -c.line_end, c.chunk_id))
    taken: list[Chunk] = []
    for chunk in ordered:
        if chunk.kind in _NEVER_SHOWN:
            continue
        if any(t.line_start <= chunk.line_start and chunk.line_end <= t.line_end for t in taken):
            continue  # a row of a table, an item of a list: the enclosing chunk has it
        taken.append(chunk)
    return "\n\n".join(c.text.strip() for c in taken if c.text.strip())


def section_view(chunks: Sequence[Chunk]) -> dict[str, Any]:
    """One section as plain data (the JSON the API returns and ``get_section`` shows)."""
    first = min(chunks, key=lambda c: (c.line_start, c.chunk_id))
    alt_urls = [c.alt_url for c in sorted(chunks, key=lambda c: c.line_start) if c.alt_url]
    return {
        "url": first.url,
        "path": first.path,
        "lang": first.lang,
        "title": first.title,
        "heading_path": _common_headings(chunks),
        "anchor": first.anchor,
        "line_start": min(c.line_start for c in chunks),
        "line_end": max(c.line_end for c in chunks),
        "alt_url": alt_urls[0] if alt_urls else None,
        "chunks": len(chunks),
        "text": section_text(chunks),
    }


def _common_headings(chunks: Sequence[Chunk]) -> list[str]:
    """The heading path every chunk of the section shares: under an anchor set on a heading,
    the chunks of its sub-units (FAQ questions, tabs) have longer paths of their own."""
    paths = [c.heading_path for c in chunks]
    common = list(paths[0])
    for path in paths[1:]:
        size = 0
        while size < min(len(common), len(path)) and common[size] == path[size]:
            size += 1
        common = common[:size]
    return common or list(min(chunks, key=lambda c: c.line_start).heading_path[:1])


@dataclass(frozen=True)
class _Page:
    lang: str
    path: str
    url: str  # the page URL without anchor, as the citations' URLs start
    sections: tuple[tuple[Chunk, ...], ...]  # in page order


class SectionIndex:
    """Sections by URL and pages by (lang, path), built once from an index's chunks."""

    def __init__(self, chunks: Iterable[Chunk]) -> None:
        by_url: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            by_url.setdefault(normalise_url(chunk.url), []).append(chunk)
        self._sections = {url: tuple(group) for url, group in by_url.items()}
        pages: dict[tuple[str, str], list[tuple[Chunk, ...]]] = {}
        for group in self._sections.values():
            pages.setdefault((group[0].lang, group[0].path), []).append(group)
        self._pages: dict[tuple[str, str], _Page] = {}
        self._page_by_url: dict[str, _Page] = {}
        for (lang, path), groups in pages.items():
            groups.sort(key=lambda g: min(c.line_start for c in g))
            page_url = normalise_url(groups[0][0].url.split("#", 1)[0])
            page = _Page(lang, path, page_url, tuple(groups))
            self._pages[(lang, path)] = page
            self._page_by_url[page_url] = page

    def section(self, url: str) -> dict[str, Any]:
        """The section ``url`` points to; SectionNotFound (with the page's sections when the
        page is known) otherwise."""
        key = normalise_url(url)
        group = self._sections.get(key)
        if group is not None:
            return section_view(group)
        page = self._page_by_url.get(key.split("#", 1)[0])
        if page is None:
            raise SectionNotFound(f"no indexed section at {url[:300]!r}: pass a citation or search-hit URL "
                                  "(page URL with its #anchor), as search_docs and ask_docs return them")
        listed = [g[0].url for g in page.sections[:12]]
        more = f" (and {len(page.sections) - 12} more)" if len(page.sections) > 12 else ""
        what = "names the page, not one of its sections" if "#" not in key else "has no section with this anchor"
        raise SectionNotFound(f"{url[:300]!r} {what}; its sections are: " + ", ".join(listed) + more)

    def page_sections(self, lang: str, path: str) -> list[dict[str, Any]] | None:
        """A page's sections with their text, in page order; None for a page not indexed."""
        page = self._pages.get((lang, path))
        if page is None:
            return None
        return [section_view(group) for group in page.sections]


def page_text(title: str, url: str, sections: Sequence[dict[str, Any]]) -> str:
    """A page as Markdown: its title and URL, then each section's heading, location and text."""
    lines = [f"# {title}".rstrip(), url, ""]
    for section in sections:
        headings = section["heading_path"]
        trail = " › ".join(headings[1:]) or (headings[0] if headings else "")
        lines.append(f"## {trail}".rstrip())
        lines.append(f"{section['url']} (lines {section['line_start']}-{section['line_end']})")
        lines.append("")
        lines.append(section["text"])
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_BUILT: WeakKeyDictionary = WeakKeyDictionary()
_BUILDING = threading.Lock()


def sections_of(kb: Any) -> SectionIndex:
    """The SectionIndex of ``kb``'s loaded index, built on first use and kept as long as that
    index is (a reload brings a new index, hence a new SectionIndex)."""
    index = kb.index
    with _BUILDING:
        # Keyed by the KnowledgeBase (its index, a dataclass with value equality, is not
        # hashable), remembering which index the sections came from.
        built = _BUILT.get(kb)
        if built is None or built[0] is not index:
            built = _BUILT[kb] = (index, SectionIndex(index.chunks))
        return built[1]
