"""Find the documents to index: read sources, follow links from entry pages, pair translations.

All file reading of Markdown lives here. Problems with one file (unreadable, binary, invalid
UTF-8, empty) become warnings naming the file; the rest of the corpus proceeds.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kb_service.config import SourceConfig
from kb_service.ingest.markdown import ParsedDocument, parse_markdown

PAGE_PREFIX = "help/using/"


@dataclass(frozen=True)
class SourceDocument:
    """One page read from a source root, parsed once."""

    source: str
    lang: str
    path: str  # relative to the source root, POSIX separators
    file: Path
    sha256: str
    url_pattern: str
    parsed: ParsedDocument
    depth: int = 0  # links followed from an entry page to reach it (0: an entry page)


@dataclass
class CorpusScan:
    documents: list[SourceDocument] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # (page that links, link target as resolved) for links to pages absent from the source
    missing_links: list[tuple[str, str]] = field(default_factory=list)


def read_markdown_file(file: Path) -> tuple[str | None, str | None]:
    """Return (text, None) or (None, warning). Never raises."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        return None, f"{file}: cannot read ({exc.strerror or exc})"
    if not raw.strip():
        return None, f"{file}: empty file, skipped"
    if b"\x00" in raw[:8192]:
        return None, f"{file}: binary file (NUL bytes), skipped"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"{file}: not valid UTF-8 (byte {exc.start}), skipped"
    return text, None


def page_url(pattern: str, lang: str, path: str, anchor: str | None) -> str:
    """Public URL of a page section: {lang}, {page} (below help/using/, no .md), {anchor}."""
    page = path[len(PAGE_PREFIX):] if path.startswith(PAGE_PREFIX) else path
    if page.endswith(".md"):
        page = page[: -len(".md")]
    url = pattern.format(lang=lang, page=page, anchor=anchor or "")
    return url.rstrip("#")


def _resolve_link(from_path: str, target: str) -> str | None:
    """Resolve a relative Markdown link against the linking page; None when it leaves the root."""
    if not target.endswith(".md") or "://" in target or target.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(from_path), target))
    if joined.startswith("../") or joined == "..":
        return None
    return joined


def scan_source(source: SourceConfig, link_depth: int, seen: set[tuple[str, str]]) -> CorpusScan:
    """Read a source's entry pages and the pages they link to, breadth first, to ``link_depth``."""
    scan = CorpusScan()
    root = source.root
    if not root.is_dir():
        message = f"source {source.name!r}: root folder {root} not found"
        scan.warnings.append(message + (", skipped" if source.optional else ""))
        return scan
    queue: deque[tuple[str, int]] = deque((entry, 0) for entry in source.entry)
    visited: set[str] = set()
    while queue:
        path, depth = queue.popleft()
        if path in visited:
            continue
        visited.add(path)
        file = root / path
        if not file.is_file():
            if depth == 0:
                scan.warnings.append(f"source {source.name!r}: entry page {file} not found")
            continue
        if (source.lang, path) in seen:
            continue  # an earlier source already provided this page
        text, problem = read_markdown_file(file)
        if problem:
            scan.warnings.append(problem)
            continue
        parsed = parse_markdown(text)
        scan.warnings.extend(f"{file}: {w}" for w in parsed.warnings)
        seen.add((source.lang, path))
        scan.documents.append(
            SourceDocument(
                source=source.name,
                lang=source.lang,
                path=path,
                file=file,
                sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                url_pattern=source.url,
                parsed=parsed,
                depth=depth,
            )
        )
        # Links of every read page are checked, so missing targets are counted even at the
        # depth limit; only pages within the limit are followed.
        for target in _link_targets(path, parsed):
            if not (root / target).is_file():
                scan.missing_links.append((path, target))
            elif depth < link_depth:
                queue.append((target, depth + 1))
    return scan


def _link_targets(path: str, parsed: ParsedDocument) -> Iterable[str]:
    seen: set[str] = set()
    for link in parsed.links:
        target = _resolve_link(path, link.target)
        if target and target != path and target not in seen:
            seen.add(target)
            yield target


def scan_sources(sources: list[SourceConfig], link_depth: int) -> CorpusScan:
    """Scan every source in order; a (lang, path) page is read from the first source having it."""
    total = CorpusScan()
    seen: set[tuple[str, str]] = set()
    for source in sources:
        scan = scan_source(source, link_depth, seen)
        total.documents.extend(scan.documents)
        total.warnings.extend(scan.warnings)
        total.missing_links.extend((f"{source.lang}:{a}", b) for a, b in scan.missing_links)
    return total


def translation_pairs(documents: list[SourceDocument]) -> dict[tuple[str, str], SourceDocument]:
    """Index documents by (lang, path), so a page's other-language twin is one lookup away."""
    return {(doc.lang, doc.path): doc for doc in documents}
