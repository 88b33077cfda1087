"""The ingest pipeline: sources -> pages -> chunks -> vectors -> a new index build.

Incremental: vectors of chunks whose embedded text is unchanged are reused from the live
index, so only new or edited text is embedded; with nothing changed nothing is written.
Atomic: the index layer writes a complete build before switching to it.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from kb_service.ingest.chunking import chunk_document
from kb_service.config import SourceConfig
from kb_service.ingest.corpus import CorpusScan, SourceDocument, page_url, scan_sources, translation_pairs
from kb_service.models.sentence_transformers import Embedder
from kb_service.store.index import FORMAT_VERSION, IndexLoadError, index_lock, load_index, read_manifest, write_index
from kb_service.text.units import embed_texts, split_units
from kb_service.types import Chunk

# Progress callback: (done, total) chunks embedded so far.
Progress = Callable[[int, int], None]
# Stage callback: one line saying what the ingest does now ("read 312 pages …"), for the edge to print.
Stage = Callable[[str], None]


@dataclass
class IngestReport:
    pages: int = 0
    chunks: int = 0
    chunks_by_kind: dict[str, int] = field(default_factory=dict)
    chunks_by_lang: dict[str, int] = field(default_factory=dict)
    pages_added: list[str] = field(default_factory=list)
    pages_changed: list[str] = field(default_factory=list)
    pages_removed: list[str] = field(default_factory=list)
    pages_unchanged: list[str] = field(default_factory=list)
    embedded: int = 0
    units_embedded: int = 0  # answer units (text.units) embedded afresh
    reused: int = 0
    missing_links: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    up_to_date: bool = False
    build_dir: Path | None = None

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


class NothingToIndex(RuntimeError):
    """No page could be read from any source."""


def chunker_version() -> str:
    """A digest of the parser and chunker source: editing either re-chunks every page."""
    from kb_service.text import units

    from . import chunking, markdown

    digest = hashlib.sha256()
    for module in (markdown, chunking, units):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def chunking_params(embedder: Embedder) -> dict:
    return {"max_tokens": embedder.max_tokens, "chunker": chunker_version()}


def _chunk_id(lang: str, path: str, anchor: str, kind: str, text: str) -> str:
    digest = hashlib.sha256(f"{lang}\n{path}\n{anchor}\n{kind}\n{text}".encode("utf-8")).hexdigest()
    return digest[:20]


def _text_key(embed_text: str) -> str:
    return hashlib.sha256(embed_text.encode("utf-8")).hexdigest()


def build_chunks(documents: list[SourceDocument], embedder: Embedder) -> list[Chunk]:
    """Chunk every page and attach identity, URLs and the other-language URL."""
    drafts_by_doc = {
        (doc.lang, doc.path): chunk_document(
            doc.parsed, count_tokens=embedder.count_tokens, max_tokens=embedder.max_tokens
        )
        for doc in documents
    }
    anchors_by_doc = {key: {d.anchor for d in drafts} for key, drafts in drafts_by_doc.items()}
    twins = translation_pairs(documents)
    chunks: list[Chunk] = []
    seen_ids: set[str] = set()
    for doc in documents:
        other_lang = "fr" if doc.lang == "en" else "en"
        twin = twins.get((other_lang, doc.path))
        for draft in drafts_by_doc[(doc.lang, doc.path)]:
            chunk_id = _chunk_id(doc.lang, doc.path, draft.anchor, draft.kind, draft.text)
            ordinal = 2
            while chunk_id in seen_ids:  # the same text twice in one section
                chunk_id = _chunk_id(doc.lang, doc.path, draft.anchor, draft.kind, f"{draft.text}\n#{ordinal}")
                ordinal += 1
            seen_ids.add(chunk_id)
            alt_url = None
            if twin is not None:
                twin_anchor = draft.anchor if draft.anchor in anchors_by_doc[(other_lang, doc.path)] else None
                alt_url = page_url(twin.url_pattern, other_lang, doc.path, twin_anchor)
            chunks.append(
                Chunk(
                    chunk_id=chunk_id,
                    source=doc.source,
                    path=doc.path,
                    lang=doc.lang,
                    title=doc.parsed.meta.title or (draft.heading_path[0] if draft.heading_path else doc.path),
                    heading_path=draft.heading_path,
                    anchor=draft.anchor,
                    url=page_url(doc.url_pattern, doc.lang, doc.path, draft.anchor),
                    alt_url=alt_url,
                    line_start=draft.line_start,
                    line_end=draft.line_end,
                    kind=draft.kind,
                    text=draft.text,
                    embed_text=draft.embed_text,
                    cells=draft.cells,
                    group=f"{doc.lang}:{doc.path}:{draft.group}" if draft.group else "",
                    units=tuple(unit.text for unit in split_units(draft.text, draft.kind)),
                )
            )
    return chunks


def _previous_vectors(index_root: Path, model: str) -> tuple[dict | None, dict[str, np.ndarray]]:
    """Vectors of the live index (chunks and units) keyed by embedded-text hash; empty when
    there is none usable."""
    try:
        loaded = load_index(index_root, expected_model=model, verify=True)
    except IndexLoadError:
        return None, {}
    vectors = {_text_key(c.embed_text): loaded.vectors[row] for row, c in enumerate(loaded.chunks)}
    for chunk in loaded.chunks:
        for text, vector in zip(unit_embed_texts(chunk), loaded.units_of(chunk.chunk_id)):
            vectors.setdefault(_text_key(text), vector)
    return loaded.manifest, vectors


def unit_embed_texts(chunk: Chunk) -> list[str]:
    """What is embedded for each of ``chunk``'s units (text.units.unit_embed_texts)."""
    return embed_texts(chunk.text, chunk.kind, chunk.cells)


def _embed_units(chunks: list[Chunk], old_vectors: dict[str, np.ndarray], embedder: Embedder,
                 progress: Progress | None) -> tuple[np.ndarray, int]:
    """Vectors of every chunk's units in order (each distinct text embedded once, reused from
    the live index when unchanged), and how many texts were embedded."""
    texts = [text for chunk in chunks for text in unit_embed_texts(chunk)]
    keys = [_text_key(text) for text in texts]
    todo = sorted({key: text for key, text in zip(keys, texts) if key not in old_vectors}.items())
    fresh = dict(old_vectors)
    if todo:
        embedded = _embed([text for _, text in todo], embedder, progress)
        fresh.update({key: vector for (key, _), vector in zip(todo, embedded)})
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = fresh[key]
    return out, len(todo)


def _embed(texts: list[str], embedder: Embedder, progress: Progress | None, batch_size: int = 32) -> np.ndarray:
    # Sorting by length keeps each batch's padding small, which matters on two cores.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    if progress:
        progress(0, len(order))  # said before the first batch, which may take a while
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        out[batch] = embedder.encode([texts[i] for i in batch], batch_size=batch_size)
        if progress:
            progress(min(start + batch_size, len(order)), len(order))
    return out


def _compare_pages(scan: CorpusScan, previous: dict | None, report: IngestReport) -> None:
    old = (previous or {}).get("documents", {})
    new = {f"{d.lang}:{d.path}": d.sha256 for d in scan.documents}
    for key, digest in new.items():
        if key not in old:
            report.pages_added.append(key)
        elif old[key].get("sha256") != digest:
            report.pages_changed.append(key)
        else:
            report.pages_unchanged.append(key)
    report.pages_removed = sorted(set(old) - set(new))


def ingest(
    *,
    sources: list[SourceConfig],
    link_depth: int,
    index_root: Path,
    embedder: Embedder,
    progress: Progress | None = None,
    stage: Stage | None = None,
    force: bool = False,
) -> IngestReport:
    """Build (or update) the index at ``index_root``; the previous index serves until the swap."""
    started = time.perf_counter()
    report = IngestReport()
    say = stage or (lambda _line: None)
    with index_lock(index_root):
        say(f"reading {len(sources)} source{'s' if len(sources) != 1 else ''} (links followed to depth {link_depth})…")
        scan = scan_sources(sources, link_depth)
        report.warnings.extend(scan.warnings)
        report.missing_links = scan.missing_links
        report.pages = len(scan.documents)
        if not scan.documents:
            raise NothingToIndex("no page could be read from any source: " + "; ".join(scan.warnings))
        by_lang = Counter(d.lang for d in scan.documents)
        say(f"read {report.pages} pages ({', '.join(f'{k} {v}' for k, v in sorted(by_lang.items()))})")

        manifest_now = read_manifest(index_root)
        previous, old_vectors = (None, {})
        if manifest_now and manifest_now.get("model") == embedder.name:
            previous, old_vectors = _previous_vectors(index_root, embedder.name)
        _compare_pages(scan, previous, report)

        params = chunking_params(embedder)
        unchanged = (
            not force
            and previous is not None
            and previous.get("format_version") == FORMAT_VERSION
            and previous.get("chunking") == params
            and not (report.pages_added or report.pages_changed or report.pages_removed)
        )
        if unchanged:
            report.up_to_date = True
            counts = previous.get("chunk_counts", {})
            report.chunks = int(counts.get("total", 0))
            report.chunks_by_kind = counts.get("by_kind", {})
            report.chunks_by_lang = counts.get("by_lang", {})
            report.reused = report.chunks
            report.seconds = time.perf_counter() - started
            return report

        chunks = build_chunks(scan.documents, embedder)
        keys = [_text_key(c.embed_text) for c in chunks]
        todo = [i for i, key in enumerate(keys) if key not in old_vectors]
        say(f"chunked into {len(chunks)} chunks: {len(todo)} to embed, {len(chunks) - len(todo)} reused")
        vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
        for i, key in enumerate(keys):
            if key in old_vectors:
                vectors[i] = old_vectors[key]
        embed_started = time.perf_counter()
        if todo:
            vectors[todo] = _embed([chunks[i].embed_text for i in todo], embedder, progress)
        unit_vectors, report.units_embedded = _embed_units(chunks, old_vectors, embedder, progress)
        report.embed_seconds = time.perf_counter() - embed_started
        report.embedded, report.reused = len(todo), len(chunks) - len(todo)
        report.chunks = len(chunks)
        report.chunks_by_kind = dict(Counter(c.kind for c in chunks))
        report.chunks_by_lang = dict(Counter(c.lang for c in chunks))

        manifest = {
            "model": embedder.name,
            "chunking": params,
            "link_depth": link_depth,
            "sources": [
                {"name": s.name, "root": str(s.root), "lang": s.lang, "url": s.url, "entry": s.entry}
                for s in sources
            ],
            "documents": {
                f"{d.lang}:{d.path}": {
                    "source": d.source,
                    "lang": d.lang,
                    "path": d.path,
                    "title": d.parsed.meta.title,
                    "sha256": d.sha256,
                    "url": page_url(d.url_pattern, d.lang, d.path, None),
                    "depth": d.depth,
                }
                for d in scan.documents
            },
            "ingest": {
                "embedded": report.embedded,
                # Arithmetic of this run's chunk embeddings (reused vectors keep theirs).
                "precision": getattr(embedder, "precision", "fp32"),
                "reused": report.reused,
                "missing_links": len(scan.missing_links),
            },
        }
        manifest["ingest"]["units_embedded"] = report.units_embedded
        say("writing the new index build…")
        report.build_dir = write_index(
            index_root, chunks=chunks, vectors=vectors, manifest=manifest, unit_vectors=unit_vectors
        )
        report.seconds = time.perf_counter() - started
        return report
