"""KnowledgeBase: the one public entry point. The CLI, the API and the evaluation call it.

Construction is cheap; ``load()`` reads and verifies the index and prepares the query
embedder; ``warm_up()`` runs one query so the first user does not pay for lazy loading.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from kb_service.compose import answer as answering
from kb_service.understand.conversation import contextualize
from kb_service.store.index import LoadedIndex, load_index
from kb_service.understand.language import language_scores
from kb_service.store.lexical import analyze
from kb_service.retrieve.hybrid import HybridRetriever, RetrievalResult
from kb_service.understand.small_talk import is_small_talk, without_greeting
from kb_service.types import Answer, Hit

ONNX_DIR = "onnx"
# For "which approach?" questions, chunks that recommend an approach (decision rows, use
# cases) are preferred by this factor over chunks that merely mention one. Chosen on our own
# questions; see README "Retrieval choices".
RECOMMENDING_BOOST = 1.25
# For yes/no capability questions ("can journeys be triggered by an API call?"), rows of the
# feature-availability matrices (✅/❌ per approach) are preferred by this factor.
CAPABILITY_BOOST = 1.25
# Below this lingua confidence a question is too short to tell English from French by its
# letters alone ("cart abandonment" scores French); the corpus vocabulary decides then.
AMBIGUOUS_LANGUAGE = 0.9
# Confidence given to an answer whose hits lack what the question asks for (a price, a figure).
MISSING_ANSWER_CONFIDENCE = 0.2


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    lang: str
    took_ms: float


class _QuestionCache:
    """LRU of question embeddings: chat-bots repeat themselves."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: np.ndarray) -> None:
        value.setflags(write=False)
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


def onnx_model_dir(index_root: Path, model: str, quantize: str) -> Path:
    slug = "".join(ch if ch.isalnum() else "-" for ch in model.lower()).strip("-")[-60:]
    return Path(index_root) / ONNX_DIR / f"{slug}-{quantize}"


def ensure_onnx_export(index_root: Path, model: str, quantize: str = "none") -> Path:
    """Export the model to ONNX once, next to the index (torch only when the export cache misses).

    An incomplete export, or one in an older format left by an earlier kb, is made again
    rather than refused: it is derived data."""
    from kb_service.models.export_cache import export_into
    from kb_service.models.onnx import OnnxModelError, read_export_info

    target = onnx_model_dir(index_root, model, quantize)
    try:
        read_export_info(target)
    except (OnnxModelError, ValueError):
        export_into(model, target, quantize=quantize)
    return target


def make_query_embedder(index_root: Path, model: str, backend: str, threads: int, quantize: str = "none"):
    if backend == "torch":
        from kb_service.models.sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(model, threads=threads)
    if backend != "onnx":
        raise ValueError(f"unknown query backend {backend!r}: use 'onnx' or 'torch'")
    from kb_service.models.onnx import OnnxEmbedder

    return OnnxEmbedder(ensure_onnx_export(index_root, model, quantize), name=model, threads=threads)


class KnowledgeBase:
    def __init__(
        self,
        index_root: Path | str,
        *,
        query_backend: str = "onnx",
        onnx_quantize: str = "int8",
        threads: int = 1,
        fusion: str = "weighted",
        embedder=None,
        expected_model: str | None = None,
    ) -> None:
        self.index_root = Path(index_root)
        self.expected_model = expected_model
        self.query_backend = query_backend
        self.onnx_quantize = onnx_quantize
        self.threads = threads
        self.fusion = fusion
        self._embedder = embedder
        self._index: LoadedIndex | None = None
        self._retriever: HybridRetriever | None = None
        self._cache = _QuestionCache()
        self._recommending: dict[str, float] = {}
        self._capability_rows: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings, **overrides) -> "KnowledgeBase":
        """A KnowledgeBase configured from Settings (not loaded yet)."""
        options = dict(
            query_backend=settings.query_backend,
            onnx_quantize=settings.onnx_quantize,
            threads=settings.threads,
            expected_model=settings.model,
        )
        options.update(overrides)
        return cls(settings.index, **options)

    # ---- lifecycle ---------------------------------------------------------------------

    def load(self) -> "KnowledgeBase":
        """Read and verify the index; raise IndexLoadError with a fix when it is unusable."""
        index = load_index(self.index_root, expected_model=self.expected_model, verify=True)
        self._index = index
        self._retriever = HybridRetriever(index, fusion=self.fusion)
        self._recommending = {c.chunk_id: RECOMMENDING_BOOST for c in index.chunks if answering.is_recommending(c)}
        self._capability_rows = {c.chunk_id: CAPABILITY_BOOST for c in index.chunks if answering.is_check_row(c)}
        if self._embedder is None:
            self._embedder = make_query_embedder(
                self.index_root, index.manifest["model"], self.query_backend, self.threads, self.onnx_quantize
            )
        elif getattr(self._embedder, "name", None) != index.manifest.get("model"):
            from kb_service.store.index import IndexLoadError

            raise IndexLoadError(
                f"index at {self.index_root} was built with model {index.manifest.get('model')!r}, "
                f"the query embedder is {getattr(self._embedder, 'name', '?')!r}: run `kb ingest` to rebuild"
            )
        return self

    def warm_up(self) -> None:
        self.ask("which approach for cart abandonment?")
        self.ask("quelle approche pour une newsletter ?")

    @property
    def embedder(self):
        """The query embedder (shared with a reloaded KnowledgeBase of the same model)."""
        return self._embedder

    @property
    def index(self) -> LoadedIndex:
        if self._index is None:
            self.load()
        assert self._index is not None
        return self._index

    @property
    def retriever(self) -> HybridRetriever:
        if self._retriever is None:
            self.load()
        assert self._retriever is not None
        return self._retriever

    # ---- queries -----------------------------------------------------------------------

    def embed_query(self, text: str) -> np.ndarray:
        key = " ".join(text.split())
        vector = self._cache.get(key)
        if vector is None:
            vector = np.asarray(self._embedder.encode([key])[0], dtype=np.float32)
            self._cache.put(key, vector)
        return vector

    def _language(self, text: str, lang: str | None) -> str:
        """The explicit language, else the detected one; on a short, ambiguous question
        ("cart abandonment") the language whose docs know more of its words."""
        if lang:
            return lang
        scores = language_scores(text)
        if not scores:
            return "en"
        best = max(scores, key=scores.get)
        if scores[best] >= AMBIGUOUS_LANGUAGE:
            return best
        coverage = {code: self.retriever.coverage(text, code) for code in scores}
        top = max(coverage.values())
        return best if coverage.get(best, 0.0) >= top else max(coverage, key=coverage.get)

    def _retrieve(self, query: str, *, k: int, lang: str | None, path_prefix: str | None) -> RetrievalResult:
        retriever = self.retriever  # one index for the whole request, even across a reload
        boost = self._boost_for(query)
        return retriever.retrieve(
            query,
            self.embed_query(query),
            lang=self._language(query, lang),
            k=k,
            path_prefix=path_prefix,
            strict_lang=lang is not None,
            boost=boost,
        )

    def _boost_for(self, query: str) -> dict[str, float] | None:
        """Chunk preferences implied by the kind of question (see answer.is_*_question)."""
        boost: dict[str, float] = {}
        if answering.is_approach_question(query):
            boost.update(self._recommending)
        if answering.is_capability_question(query):
            boost.update(self._capability_rows)
        return boost or None

    def search(self, query: str, *, k: int = 10, lang: str | None = None, path_prefix: str | None = None) -> SearchResult:
        started = time.perf_counter()
        result = self._retrieve(without_greeting(query), k=k, lang=lang, path_prefix=path_prefix)
        return SearchResult(hits=result.hits, lang=result.lang, took_ms=(time.perf_counter() - started) * 1000)

    def ask(
        self,
        question: str,
        *,
        k: int = 5,
        lang: str | None = None,
        path_prefix: str | None = None,
        history: Sequence[str] = (),
    ) -> Answer:
        """Answer ``question`` from the docs, or abstain; ``history`` = earlier user turns."""
        started = time.perf_counter()
        # "thanks!" after a question is not a follow-up to it ("which approach for thanks!").
        question = without_greeting(question)
        query = contextualize(question, history) if history and not is_small_talk(question) else question
        answer_lang = self._language(query, lang)
        result = self._retrieve(query, k=max(k, 5), lang=lang or answer_lang, path_prefix=path_prefix)
        hits = result.hits
        conf = self._confidence(query, result)
        if not hits or conf < answering.ABSTAIN_BELOW:
            return Answer(
                answer=answering.abstention_text(answer_lang),
                abstained=True,
                confidence=round(conf, 4),
                citations=(),
                see_also=tuple(hits[:3]),
                lang=answer_lang,
                took_ms=(time.perf_counter() - started) * 1000,
            )
        composed = answering.compose(query, result.lang, hits, analyze=analyze,
                                     term_weight=self.retriever.term_weight(result.lang))
        cited = {c.hit.chunk.chunk_id for c in composed.citations}
        return Answer(
            answer=composed.text,
            abstained=False,
            confidence=round(conf, 4),
            citations=composed.citations,
            see_also=tuple(h for h in hits[:k] if h.chunk.chunk_id not in cited)[:3],
            lang=answer_lang,
            approach=composed.approach,
            took_ms=(time.perf_counter() - started) * 1000,
        )

    def _confidence(self, query: str, result: RetrievalResult) -> float:
        """Calibrated confidence, capped when the hits lack what the question asks for."""
        if not result.hits or is_small_talk(query):
            return 0.0
        conf = answering.confidence(answering.features_of(result))
        subject = self.retriever.subject_terms(query, result.lang)
        if answering.missing_answer_type(query, result.lang, result.hits, subject, analyze):
            conf = min(conf, MISSING_ANSWER_CONFIDENCE)
        return conf

    def retrieve_for(self, question: str, *, lang: str | None = None, k: int = 10) -> RetrievalResult:
        """The raw retrieval behind ``ask`` (used by calibration and diagnostics)."""
        return self._retrieve(question, k=k, lang=lang, path_prefix=None)

    def chat(self, messages: Sequence[dict], *, k: int = 5, lang: str | None = None) -> Answer:
        """Answer the last user message in the light of the earlier user turns."""
        users = [m["content"] for m in messages if m.get("role") == "user"]
        if not users:
            raise ValueError("messages must contain at least one user message")
        return self.ask(users[-1], k=k, lang=lang, history=users[:-1])

    # ---- corpus views ------------------------------------------------------------------

    def info(self) -> dict:
        manifest = self.index.manifest
        return {
            "model": manifest.get("model"),
            "dim": manifest.get("dim"),
            "format_version": manifest.get("format_version"),
            "built_at": manifest.get("created_at"),
            "build": manifest.get("build"),
            "dense": manifest.get("dense"),
            "counts": manifest.get("chunk_counts"),
            "documents": len(manifest.get("documents", {})),
            "query_backend": self.query_backend,
        }

    def documents(self) -> list[dict]:
        counts: dict[tuple[str, str], int] = {}
        for chunk in self.index.chunks:
            counts[(chunk.lang, chunk.path)] = counts.get((chunk.lang, chunk.path), 0) + 1
        docs = []
        for doc in self.index.manifest.get("documents", {}).values():
            docs.append(
                {
                    "path": doc["path"],
                    "lang": doc["lang"],
                    "title": doc.get("title", ""),
                    "url": doc.get("url", ""),
                    "chunks": counts.get((doc["lang"], doc["path"]), 0),
                }
            )
        return sorted(docs, key=lambda d: (d["lang"], d["path"]))

    def outline(self, lang: str, path: str) -> dict | None:
        """A page's sections in document order, or None for a page not in the index."""
        doc = self.index.manifest.get("documents", {}).get(f"{lang}:{path}")
        if doc is None:
            return None
        sections: dict[str, dict] = {}
        for chunk in sorted((c for c in self.index.chunks if c.lang == lang and c.path == path), key=lambda c: c.line_start):
            key = " > ".join(chunk.heading_path)
            section = sections.setdefault(
                key,
                {
                    "heading_path": list(chunk.heading_path),
                    "anchor": chunk.anchor,
                    "url": chunk.url,
                    "line_start": chunk.line_start,
                    "line_end": chunk.line_end,
                    "chunks": 0,
                },
            )
            section["line_end"] = max(section["line_end"], chunk.line_end)
            section["chunks"] += 1
        return {
            "path": path,
            "lang": lang,
            "title": doc.get("title", ""),
            "url": doc.get("url", ""),
            "sections": list(sections.values()),
        }
