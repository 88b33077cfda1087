"""Plain-dict views of hits and answers: the one JSON shape the API returns, the CLI prints
(``--json``) and remote mode reads back. Imports nothing heavy so ``kb ask --url`` stays light.
"""

from __future__ import annotations

from typing import Any

from kb_service.types import Answer, Citation, Hit


def hit_view(hit: Hit) -> dict[str, Any]:
    c = hit.chunk
    return {
        "chunk_id": c.chunk_id,
        "path": c.path,
        "lang": c.lang,
        "title": c.title,
        "heading_path": list(c.heading_path),
        "anchor": c.anchor,
        "url": c.url,
        "line_start": c.line_start,
        "line_end": c.line_end,
        "kind": c.kind,
        "text": c.text,
        "score": round(float(hit.score), 6),
    }


def citation_view(citation: Citation) -> dict[str, Any]:
    view = hit_view(citation.hit)
    view.update({"number": citation.number, "snippet": citation.snippet, "alt_url": citation.hit.chunk.alt_url})
    return view


def answer_view(answer: Answer, answer_id: str | None = None, index_build: str | None = None) -> dict[str, Any]:
    """``answer_id``: the id the answer was recorded under (for feedback), None when not recorded;
    ``index_build``: the build that answered, so a client (or a rollout check) can tell."""
    return {
        "answer_id": answer_id,
        "answer": answer.answer,
        "abstained": answer.abstained,
        "confidence": round(float(answer.confidence), 4),
        "lang": answer.lang,
        "approach": answer.approach,
        "intent": answer.intent,
        "citations": [citation_view(c) for c in answer.citations],
        "see_also": [hit_view(h) for h in answer.see_also],
        "took_ms": round(answer.took_ms, 3),
        "index_build": index_build,
    }


def index_view(manifest: dict[str, Any], query_backend: str) -> dict[str, Any]:
    """The live index in the keys of ``GET /v1/index``, read from its manifest alone."""
    return {
        "model": manifest.get("model"),
        "dim": manifest.get("dim"),
        "format_version": manifest.get("format_version"),
        "built_at": manifest.get("created_at"),
        "build": manifest.get("build"),
        "dense": manifest.get("dense"),
        "counts": manifest.get("chunk_counts"),
        "documents": len(manifest.get("documents", {})),
        "query_backend": query_backend,
    }


def format_index(view: dict[str, Any]) -> str:
    """``index_view`` as an aligned two-column table for people."""
    counts = view.get("counts") or {}
    dense = view.get("dense") or {}
    rows = [
        ("model", f"{view['model']} ({view['dim']} dimensions)"),
        ("built at", view["built_at"] or "-"),
        ("build", view["build"] or "-"),
        ("format version", str(view["format_version"])),
        ("documents", str(view["documents"])),
        ("chunks", str(counts.get("total", "-"))),
        ("  by language", ", ".join(f"{k} {v}" for k, v in sorted((counts.get("by_lang") or {}).items())) or "-"),
        ("  by kind", ", ".join(f"{k} {v}" for k, v in sorted((counts.get("by_kind") or {}).items())) or "-"),
        ("dense index", ", ".join(f"{k} {v}" for k, v in dense.items()) or "-"),
        ("query backend", view["query_backend"]),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def where(view: dict[str, Any]) -> str:
    trail = " › ".join([view.get("title", "")] + [h for h in view.get("heading_path", [])[1:]])
    return trail.strip(" ›")


def format_answer(view: dict[str, Any]) -> str:
    """Readable text: the answer, then numbered citations as title › heading, URL, lines."""
    lines = [view["answer"], ""]
    if view.get("citations"):
        for c in view["citations"]:
            lines.append(f"[{c['number']}] {where(c)}")
            lines.append(f"    {c['url']}")
            lines.append(f"    {c['path']} lines {c['line_start']}-{c['line_end']} ({c['lang']})")
            if c.get("alt_url"):
                lines.append(f"    other language: {c['alt_url']}")
    if view.get("see_also"):
        lines.append("See also:" if view.get("citations") else "Closest sections:")
        for h in view["see_also"]:
            lines.append(f"  - {where(h)}  {h['url']}")
    lines.append(f"(confidence {view['confidence']:.2f}, {view['took_ms']:.1f} ms)")
    return "\n".join(lines).rstrip()


def format_hits(hits: list[dict[str, Any]]) -> str:
    lines = []
    for rank, h in enumerate(hits, start=1):
        text = " ".join(h["text"].split())
        lines.append(f"{rank:>2}. [{h['score']:.4f}] {where(h)} ({h['kind']}, {h['lang']})")
        lines.append(f"    {h['url']}  lines {h['line_start']}-{h['line_end']}")
        lines.append(f"    {text[:200]}{'…' if len(text) > 200 else ''}")
    return "\n".join(lines) if lines else "No results."
