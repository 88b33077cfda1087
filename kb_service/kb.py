"""KnowledgeBase: the one public entry point. The CLI, the API and the evaluation call it.

A question goes through four stages, each a module with one job, data passed forward only:
understand (QueryAnalysis: language, intent, options, subject, conversation topic) ->
retrieve (dense + lexical candidates, fused) -> assess (is it answerable?) -> compose
(whole units, choice by evidence, citations). This class only wires them and owns the
loaded index, the query embedder and the profile.

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

from kb_service.assess import answerability
from kb_service.compose.answer import abstention_text, compose, in_language, render_lines
from kb_service.compose.choice import NEAREST_UNITS, Candidate
from kb_service.compose.passages import Passage
from kb_service.compose.requirements import Capability, Requirement, asked_in, capability_of, negated, without_negated
from kb_service.compose.stance import (
    is_check_row,
    is_comparison_material,
    prescribed_stances,
    matrix_columns,
    section_options,
    sharpen_group_stances,
    unit_stances,
)
from kb_service.profiles import load_profile
from kb_service.retrieve.hybrid import HybridRetriever, RetrievalResult
from kb_service.store.index import IndexLoadError, LoadedIndex, load_index
from kb_service.store.lexical import analyze
from kb_service.text.options import OptionCatalog
from kb_service.types import Answer, Hit, Profile, QueryAnalysis
from kb_service.understand.analysis import Understander
from kb_service.understand.intent import last_ask
from kb_service.understand.spelling import Speller, docs_words, is_common_word
from kb_service.understand.vocabulary import Vocabulary

ONNX_DIR = "onnx"
# For choice questions, chunks that speak for an option (decision rows, use cases) are
# preferred by this factor over chunks that merely mention one (measured on our own
# questions: approach accuracy 0.746 -> 0.810 at 1.25; docs/measurements.md).
RECOMMENDING_BOOST = 1.25
# For yes/no questions, rows of the feature-availability matrices (✅/❌ per option) are
# preferred by this factor.
CAPABILITY_BOOST = 1.25
# A follow-up's question vector leans this much toward the earlier turn's (then normalised):
# enough to keep the topic, not enough to answer the earlier question again.
CONTEXT_VECTOR_WEIGHT = 0.5
# How many of an option's own units, closest to the question, say what the option is about
# when passages speak only of a group of options (compose.choice).
PROTOTYPE_UNITS = 3
RETRIEVE_AT_LEAST = 8  # the composer and the vote read this far down the ranking


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


def _same_heading_place(index: LoadedIndex, own_rows: Sequence[int], their_rows: Sequence[int], row: int) -> int | None:
    """The twin of ``row`` by heading: the same ordinal among the section's headings, then
    among that heading's chunks, when both sides have as many headings and chunks there."""
    def headings(rows):
        order: list[tuple[str, ...]] = []
        for r in rows:
            if index.chunks[r].heading_path not in order:
                order.append(index.chunks[r].heading_path)
        return order

    own, theirs = headings(own_rows), headings(their_rows)
    path = index.chunks[row].heading_path
    if len(own) != len(theirs) or path not in own:
        return None
    target = theirs[own.index(path)]
    mine = [r for r in own_rows if index.chunks[r].heading_path == path]
    candidates = [r for r in their_rows if index.chunks[r].heading_path == target]
    return candidates[mine.index(row)] if len(mine) == len(candidates) and row in mine else (candidates[0] if candidates else None)


def _relative_place(index: LoadedIndex, rows: Sequence[int], row: int) -> float:
    """Where ``row`` starts within the lines ``rows`` span, from 0 (first) to 1 (last)."""
    starts = [index.chunks[r].line_start for r in rows]
    low, high = min(starts), max(starts)
    return (index.chunks[row].line_start - low) / (high - low) if high > low else 0.0


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
        profile: Profile | str | None = None,
    ) -> None:
        self.index_root = Path(index_root)
        self.expected_model = expected_model
        self.query_backend = query_backend
        self.onnx_quantize = onnx_quantize
        self.threads = threads
        self.fusion = fusion
        self.profile = load_profile(profile) if isinstance(profile, (str, Path)) else profile
        self.catalog = OptionCatalog(self.profile)
        self._embedder = embedder
        self._index: LoadedIndex | None = None
        self._retriever: HybridRetriever | None = None
        self._understander: Understander | None = None
        self._cache = _QuestionCache()
        self._stances: dict[str, tuple] = {}
        self._matrix: dict[str, dict[int, str]] = {}
        self._speaking: dict[str, float] = {}
        self._check_rows: dict[str, float] = {}
        # lang -> the availability rows of the comparison matrices
        self._capabilities: dict[str, list[Capability]] = {}
        self._tables: dict[str, list[Passage]] = {}  # lang -> comparison tables (options as columns)
        self._option_units: dict[str, np.ndarray] = {}
        self._twins: dict[tuple[str, str, str], list[int]] = {}
        self._anchors: dict[tuple[str, str], list[str]] = {}  # a page's anchors in page order
        self._comparison_units: dict[str, tuple[np.ndarray, list[tuple[int, int]]]] = {}

    @classmethod
    def from_settings(cls, settings, **overrides) -> "KnowledgeBase":
        """A KnowledgeBase configured from Settings (not loaded yet)."""
        options = dict(
            query_backend=settings.query_backend,
            onnx_quantize=settings.onnx_quantize,
            threads=settings.threads,
            expected_model=settings.model,
            profile=settings.profile or None,
        )
        options.update(overrides)
        return cls(settings.index, **options)

    # ---- lifecycle ---------------------------------------------------------------------

    def load(self) -> "KnowledgeBase":
        """Read and verify the index; raise IndexLoadError with a fix when it is unusable."""
        index = load_index(self.index_root, expected_model=self.expected_model, verify=True)
        self._index = index
        vocabulary = Vocabulary(self.profile.vocabulary if self.profile else None)
        retriever = HybridRetriever(index, fusion=self.fusion, vocabulary=vocabulary)
        self._retriever = retriever
        words = {lang: docs_words(c.text for c in index.chunks if c.lang == lang) for lang in retriever.languages()}
        self._understander = Understander(
            self.catalog,
            coverage=retriever.coverage,
            specificity=lambda term, lang: retriever.term_weight(lang)(term),
            languages=retriever.languages(),
            speller=Speller(words),
            known=lambda word, lang: word in words.get(lang, ()) or all(
                retriever.knows(lang)(term) for term in analyze(word, lang)),
        )
        self._read_structure(index)
        if self._embedder is None:
            self._embedder = make_query_embedder(
                self.index_root, index.manifest["model"], self.query_backend, self.threads, self.onnx_quantize
            )
        elif getattr(self._embedder, "name", None) != index.manifest.get("model"):
            raise IndexLoadError(
                f"index at {self.index_root} was built with model {index.manifest.get('model')!r}, "
                f"the query embedder is {getattr(self._embedder, 'name', '?')!r}: run `kb ingest` to rebuild"
            )
        return self

    def _read_structure(self, index: LoadedIndex) -> None:
        """Once per load: which option each unit speaks for, comparison-matrix columns, and the
        rows that pair each chunk with its twin in the other language."""
        pages = self.profile.comparison_pages if self.profile else ()
        sections = section_options(index.chunks, self.catalog) if self.catalog else {}
        option_rows: dict[str, list[np.ndarray]] = {}
        self._capabilities, self._tables = {}, {}
        comparisons = []
        for chunk in index.chunks:
            comparison = is_comparison_material(
                chunk, self.catalog, pages, sections.get((chunk.lang, chunk.path, chunk.heading_path), frozenset())
            )
            stances = (unit_stances(chunk, self.catalog, comparison) if comparison
                       else prescribed_stances(chunk, self.catalog))
            if [s.unit.text for s in stances] != list(chunk.units):
                raise IndexLoadError(
                    f"the index at {self.index_root} was chunked by another version of kb: run `kb ingest` to rebuild"
                )
            self._stances[chunk.chunk_id] = stances
            comparisons.append(comparison)
        if self.catalog:
            self._stances = sharpen_group_stances(index.chunks, self._stances, self.catalog)
        for row, (chunk, comparison) in enumerate(zip(index.chunks, comparisons)):
            stances = self._stances[chunk.chunk_id]
            if comparison and chunk.kind == "table":
                # A whole comparison table, for a question about one option's column.
                self._tables.setdefault(chunk.lang, []).append(Passage(
                    hit=Hit(chunk=chunk, score=0.0), units=stances, similarity=(0.0,) * len(stances), matrix={}))
            columns = matrix_columns(chunk, self.catalog) if comparison else {}
            if columns:
                self._matrix[chunk.chunk_id] = columns
                capability = capability_of(chunk, columns, analyze)
                if capability is not None:
                    self._capabilities.setdefault(chunk.lang, []).append(capability)
            if comparison and any(s.option for s in stances):
                # A prescription outside comparison material votes where retrieval finds
                # it; it is not sought out like the guide's own units (boost, prototypes,
                # nearest units below).
                self._speaking[chunk.chunk_id] = RECOMMENDING_BOOST
                vectors = index.units_of(chunk.chunk_id)
                for stance, vector in zip(stances, vectors):
                    if stance.option:
                        option_rows.setdefault(stance.option, []).append(vector)
            if is_check_row(chunk):
                self._check_rows[chunk.chunk_id] = CAPABILITY_BOOST
            self._twins.setdefault((chunk.lang, chunk.path, chunk.anchor), []).append(row)
            anchors = self._anchors.setdefault((chunk.lang, chunk.path), [])
            if chunk.anchor not in anchors:
                anchors.append(chunk.anchor)
        self._option_units = {option: np.stack(rows) for option, rows in option_rows.items()}

        # Every unit that speaks for an option, per language, for choice questions.
        self._comparison_units = {}
        for lang in {c.lang for c in index.chunks}:
            # A statement that several chunks hold (a list item in its list and in its
            # section) is one piece of evidence: it is kept once, in the chunk that says
            # least besides it, so that it is not counted once per chunk.
            kept: dict[tuple[str, str], tuple[int, int]] = {}
            for row, chunk in enumerate(index.chunks):
                if chunk.lang != lang or not comparisons[row]:
                    continue
                for u, stance in enumerate(self._stances[chunk.chunk_id]):
                    if not stance.option:
                        continue
                    said = (stance.option, " ".join(stance.unit.text.split()))
                    if said not in kept or len(chunk.units) < len(index.chunks[kept[said][0]].units):
                        kept[said] = (row, u)
            refs = sorted(kept.values())
            if refs:
                vectors = np.stack([index.units_of(index.chunks[row].chunk_id)[u] for row, u in refs])
                self._comparison_units[lang] = (vectors, refs)

    def warm_up(self) -> None:
        self.ask("which approach for cart abandonment?")
        self.ask("quelle approche pour une newsletter ?")
        for lang in self.retriever.languages():
            is_common_word("journey", lang)  # the word lists load on first use: not for a user

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

    # ---- understand --------------------------------------------------------------------

    def understand(self, question: str, *, lang: str | None = None, history: Sequence[str] = (),
                   previous_answer: str = "") -> QueryAnalysis:
        """What kb makes of ``question`` (after the earlier user turns ``history``, the last
        of which kb answered with ``previous_answer``)."""
        if self._understander is None:
            self.load()
        assert self._understander is not None
        return self._understander.analyze(question, lang=lang, history=history, previous_answer=previous_answer)

    def embed_query(self, text: str) -> np.ndarray:
        key = " ".join(text.split())
        vector = self._cache.get(key)
        if vector is None:
            vector = np.asarray(self._embedder.encode([key])[0], dtype=np.float32)
            self._cache.put(key, vector)
        return vector

    def _query_vector(self, analysis: QueryAnalysis) -> np.ndarray:
        vector = self.embed_query(analysis.query)
        if not analysis.context:
            return vector
        mixed = vector + CONTEXT_VECTOR_WEIGHT * self.embed_query(analysis.context)
        return (mixed / max(float(np.linalg.norm(mixed)), 1e-12)).astype(np.float32)

    # ---- retrieve ----------------------------------------------------------------------

    def _retrieve(self, analysis: QueryAnalysis, *, lang: str, k: int, path_prefix: str | None,
                  strict_lang: bool) -> RetrievalResult:
        retriever = self.retriever  # one index for the whole request, even across a reload
        boost: dict[str, float] = {}
        if analysis.intent == "choose":
            boost.update(self._speaking)
        if analysis.intent == "can":
            boost.update(self._check_rows)
        return retriever.retrieve(
            analysis.query,
            self._query_vector(analysis),
            lang=lang,
            k=k,
            path_prefix=path_prefix,
            strict_lang=strict_lang,
            boost=boost or None,
            context=analysis.context or None,
        )

    def search(self, query: str, *, k: int = 10, lang: str | None = None, path_prefix: str | None = None) -> SearchResult:
        started = time.perf_counter()
        analysis = self.understand(query, lang=lang)
        result = self._retrieve(analysis, lang=lang or analysis.lang, k=k, path_prefix=path_prefix,
                                strict_lang=lang is not None)
        return SearchResult(hits=result.hits, lang=result.lang, took_ms=(time.perf_counter() - started) * 1000)

    def retrieve_for(self, question: str, *, lang: str | None = None, k: int = 10) -> RetrievalResult:
        """The raw retrieval behind ``ask`` (used by calibration and diagnostics)."""
        analysis = self.understand(question, lang=lang)
        return self._retrieve(analysis, lang=analysis.lang, k=k, path_prefix=None, strict_lang=False)

    # ---- assess ------------------------------------------------------------------------

    def _passages(self, analysis: QueryAnalysis, hits: Sequence[Hit], vector: np.ndarray) -> list[Passage]:
        index = self.index
        need = self.embed_query(analysis.need) if analysis.need else None
        passages = []
        for hit in hits:
            chunk_id = hit.chunk.chunk_id
            units = self._stances.get(chunk_id, ())
            vectors = index.units_of(chunk_id) if units else None
            similarity = tuple((vectors @ vector).tolist()) if units else ()
            need_similarity = tuple((vectors @ need).tolist()) if units and need is not None else similarity
            passages.append(Passage(hit=hit, units=units, similarity=similarity, matrix=self._matrix.get(chunk_id, {}),
                                    need_similarity=need_similarity))
        return passages

    def features(self, analysis: QueryAnalysis, result: RetrievalResult, passages: Sequence[Passage],
                 candidates: Sequence[Candidate] | None = None) -> dict[str, float]:
        """The answerability evidence of one retrieval (also what calibration fits on)."""
        retriever = self.retriever
        lang = result.lang
        best_unit = max((max(p.similarity, default=0.0) for p in passages[:3]), default=0.0)
        terms = [retriever.terms_of(h.chunk.chunk_id) for h in result.hits[:3]]
        known = retriever.knows(lang)
        found = answerability.subject_found(analysis, terms, known)
        need_match = 0.0
        if analysis.intent == "choose":
            if candidates is None:
                candidates = self._candidates(analysis, lang, self._query_vector(analysis))
            need_match = max((c.cosine for c in candidates), default=0.0)
        features = answerability.features_of(result, analysis, best_unit, found, need_match)
        if analysis.intent != "choose":
            # A name the docs never use in the ask itself ("… in Adobe Target?") is what the
            # question is about, however long it is; names in a scenario's statements are the
            # asker's business, counted per words. A choice is about the need, not its names.
            ask = last_ask(analysis.text)
            # Retrieval counted them in its query already; most questions are their own ask.
            in_ask = result.unknown_names if ask == analysis.query else retriever.unknown_names(ask, lang)
            features["unknown_names"] = max(features["unknown_names"], float(in_ask))
        if analysis.context:
            # A follow-up's words are read with the conversation's: "je le monte comment ?"
            # uses few of the docs' words, the turns before it many.
            features["coverage"] = max(features["coverage"],
                                       retriever.coverage(f"{analysis.context} {analysis.query}", lang))
        return features

    def evidence(self, question: str, *, lang: str | None = None) -> dict[str, float]:
        """The answerability features of ``question`` as ``ask`` computes them (calibration)."""
        analysis = self.understand(question, lang=lang)
        vector = self._query_vector(analysis)
        result = self._retrieve(analysis, lang=analysis.lang, k=RETRIEVE_AT_LEAST, path_prefix=None, strict_lang=False)
        return self.features(analysis, result, self._passages(analysis, result.hits, vector))

    def _assess(self, analysis: QueryAnalysis, result: RetrievalResult, passages: Sequence[Passage],
                candidates: Sequence[Candidate] | None = None, requirements: Sequence[Requirement] = ()):
        if not result.hits or analysis.intent == "smalltalk":
            return answerability.Assessment(0.0, False, "nothing to answer")
        calibration = self.profile.calibration if self.profile else None
        missing = answerability.missing_answer_type(analysis, result.hits, analyze, self.retriever.knows(result.lang))
        features = self.features(analysis, result, passages, candidates)
        assessment = answerability.assess(features, calibration, missing)
        asks_for = any(not r.declined for r in requirements)
        if not assessment.answerable and not missing and asks_for and features["unknown_names"] < 1.0:
            # A choice whose need asks for what the comparison matrix lists is one the docs
            # answer, however loosely its scenario matches any passage as a whole; unless
            # names the docs never use are what it is about (one in every few words).
            return answerability.Assessment(answerability.threshold(calibration), True, "")
        if (not assessment.answerable and not missing and analysis.previous_answer and features["unknown_names"] < 1.0
                and answerability.quoted_in(analysis.previous_answer, result.hits[0].chunk.text)):
            # A follow-up that retrieves the very passage kb answered the turn before from asks
            # more of what the docs just answered ("can you give me the concrete example?"),
            # however little of it its own few words say.
            return answerability.Assessment(answerability.threshold(calibration), True, "")
        return assessment

    # ---- ask ---------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        k: int = 5,
        lang: str | None = None,
        path_prefix: str | None = None,
        history: Sequence[str] = (),
        previous_answer: str = "",
    ) -> Answer:
        """Answer ``question`` from the docs, or abstain; ``history`` = earlier user turns,
        ``previous_answer`` = kb's answer to the last of them.

        ``lang`` is the language to answer in: kb retrieves in the question's own language
        and cites the twin sections (same page, same anchor) in ``lang``. When the docs in
        the question's language do not answer, the other language's docs are tried."""
        started = time.perf_counter()
        analysis = self.understand(question, lang=lang, history=history, previous_answer=previous_answer)
        return self.answer(analysis, k=k, path_prefix=path_prefix, started=started)

    def answer(self, analysis: QueryAnalysis, *, k: int = 5, path_prefix: str | None = None,
               started: float | None = None) -> Answer:
        """Retrieve, assess and compose for an analysed question."""
        started = time.perf_counter() if started is None else started
        vector = self._query_vector(analysis)
        result = self._retrieve(analysis, lang=analysis.lang, k=max(k, RETRIEVE_AT_LEAST),
                                path_prefix=path_prefix, strict_lang=False)
        passages = self._passages(analysis, result.hits, vector)
        candidates, candidates_lang = self._candidates(analysis, result.lang, vector), result.lang
        requirements = self._requirements(analysis, result.lang, vector)
        assessment = self._assess(analysis, result, passages, candidates, requirements)
        if not assessment.answerable and analysis.intent != "smalltalk":
            other = self._other_language(analysis, result, k, path_prefix, vector)
            if other is not None:
                result, passages, assessment = other
        if not assessment.answerable:
            return self._abstention(analysis, result.hits, assessment.confidence, started)
        lang = passages[0].chunk.lang
        composed = compose(
            analysis,
            passages,
            catalog=self.catalog,
            prototypes=self._prototypes(self.embed_query(analysis.need) if analysis.need else vector),
            analyze=analyze,
            weight=self.retriever.term_weight(lang),
            candidates=candidates if lang == candidates_lang else self._candidates(analysis, lang, vector),
            docs_words=self.retriever.vocabulary.related_words(analysis.need or analysis.query, lang, whole_entries=True),
            requirements=requirements if lang == candidates_lang else self._requirements(analysis, lang, vector),
            tables=self._tables.get(lang, ()),
        )
        if analysis.intent == "quantity" and not answerability.states_a_figure(composed.text):
            # Asked how many or how long, an answer without a figure answers something else
            # (a list of guardrails, a best practice): the docs do not give that figure.
            return self._abstention(analysis, result.hits, min(assessment.confidence, answerability.MISSING_ANSWER_CONFIDENCE),
                                    started)
        if analysis.answer_lang != lang:
            # Asked to answer in another language: the same answer, quoted from the twin
            # sections (same page, same anchor) in that language.
            def twin(passage: Passage) -> Passage | None:
                hit = self._in_language([passage.hit], analysis.answer_lang)[0]
                return None if hit is passage.hit else self._passages(analysis, [hit], vector)[0]

            lines = in_language(composed.lines, twin)
            composed = render_lines(lines, analysis.answer_lang, self.catalog, composed.approach)
            passages = [twin(p) or p for p in passages]
        cited = {c.hit.chunk.chunk_id for c in composed.citations}
        return Answer(
            answer=composed.text,
            abstained=False,
            confidence=round(assessment.confidence, 4),
            citations=composed.citations,
            see_also=tuple(p.hit for p in passages[:k] if p.chunk.chunk_id not in cited)[:3],
            lang=passages[0].chunk.lang,
            approach=composed.approach if analysis.intent == "choose" else None,
            took_ms=(time.perf_counter() - started) * 1000,
            intent=analysis.intent,
        )

    def _abstention(self, analysis: QueryAnalysis, hits: Sequence[Hit], confidence: float, started: float) -> Answer:
        return Answer(
            answer=abstention_text(analysis.answer_lang),
            abstained=True,
            confidence=round(confidence, 4),
            citations=(),
            see_also=tuple(self._in_language(hits[:3], analysis.answer_lang)),
            lang=analysis.answer_lang,
            took_ms=(time.perf_counter() - started) * 1000,
            intent=analysis.intent,
        )

    def _other_language(self, analysis, result, k, path_prefix, vector):
        """The other language's retrieval when it answers (the question asked in one language
        about pages only the other has), else None."""
        others = [lang for lang in self.retriever.languages() if lang != result.lang]
        for lang in others:
            other = self._retrieve(analysis, lang=lang, k=max(k, RETRIEVE_AT_LEAST), path_prefix=path_prefix,
                                   strict_lang=True)
            if not other.hits:
                continue
            passages = self._passages(analysis, other.hits, vector)
            assessment = self._assess(analysis, other, passages)
            if assessment.answerable:
                return other, passages, assessment
        return None

    def _in_language(self, hits: Sequence[Hit], lang: str) -> list[Hit]:
        """Each hit replaced by its twin in ``lang`` (same page and anchor, the chunk of the
        same kind closest in meaning), or kept when the page has no twin there."""
        index = self.index
        out: list[Hit] = []
        for hit in hits:
            chunk = hit.chunk
            if chunk.lang == lang:
                out.append(hit)
                continue
            rows = self._twins.get((lang, chunk.path, chunk.anchor), [])
            if not rows:
                # The translation renamed its anchors ("#building-journeys", "#creation-de-
                # parcours"): the n-th section of one is the n-th of the other when both pages
                # have as many.
                own, theirs = self._anchors.get((chunk.lang, chunk.path), []), self._anchors.get((lang, chunk.path), [])
                if len(own) == len(theirs) and chunk.anchor in own:
                    rows = self._twins.get((lang, chunk.path, theirs[own.index(chunk.anchor)]), [])
            same_kind = [r for r in rows if index.chunks[r].kind == chunk.kind] or rows
            if not same_kind:
                out.append(hit)
                continue
            # Translations keep the page's order: the n-th chunk of this kind under the
            # anchor is the twin of the n-th, when both sides cut the section alike; else the
            # n-th under the n-th heading of the section (an FAQ's n-th question).
            own_rows = [r for r in self._twins.get((chunk.lang, chunk.path, chunk.anchor), [])
                        if index.chunks[r].kind == chunk.kind]
            own_row = index.row_of(chunk.chunk_id)
            by_heading = _same_heading_place(index, own_rows, same_kind, own_row)
            if len(own_rows) == len(same_kind) and own_row in own_rows:
                best = same_kind[own_rows.index(own_row)]
            elif by_heading is not None:
                best = by_heading
            else:
                # Else the chunk at the same relative place in the section: a translation
                # keeps the order of what it says, even where it is cut into chunks otherwise.
                place = _relative_place(index, own_rows or [own_row], own_row)
                best = min(same_kind, key=lambda r: abs(_relative_place(index, same_kind, r) - place))
            out.append(Hit(chunk=index.chunks[best], score=hit.score, dense_score=hit.dense_score,
                           lexical_score=hit.lexical_score, focus=None))
        return out

    def _candidates(self, analysis: QueryAnalysis, lang: str, vector: np.ndarray) -> list[Candidate]:
        """For a choice question: the comparison units of ``lang`` nearest to its need."""
        found = self._comparison_units.get(lang)
        if analysis.intent != "choose" or found is None:
            return []
        need = self.embed_query(analysis.need) if analysis.need else vector
        vectors, refs = found
        scores = vectors @ need
        top = np.argsort(-scores)[: NEAREST_UNITS * 2]
        index = self.index
        out = []
        for position in top.tolist():
            row, unit = refs[position]
            chunk = index.chunks[row]
            hit = Hit(chunk=chunk, score=float(scores[position]))
            stances = self._stances[chunk.chunk_id]
            similarity = tuple((index.units_of(chunk.chunk_id) @ need).tolist())
            passage = Passage(hit=hit, units=stances, similarity=similarity, matrix=self._matrix.get(chunk.chunk_id, {}),
                              need_similarity=similarity)
            out.append(Candidate(passage=passage, unit=unit, cosine=float(scores[position])))
        return out

    def _requirements(self, analysis: QueryAnalysis, lang: str, vector: np.ndarray) -> list[Requirement]:
        """For a choice question: the capabilities its need asks for or declines, with their rows."""
        found = self._capabilities.get(lang)
        if analysis.intent != "choose" or not found:
            return []
        groups = self.profile.needs.get(lang, ()) if self.profile else ()
        text = analysis.need or analysis.query
        need = without_negated(text, lang)
        asked = asked_in(need, lang, found, groups, analyze,
                         self.retriever.vocabulary.related_words(need, lang, whole_entries=True))
        declined_text = negated(text, lang)
        declined = ([c for c in asked_in(declined_text, lang, found, groups, analyze) if c not in asked]
                    if declined_text else [])
        index = self.index
        out = []
        for capability, is_declined in [(c, False) for c in asked] + [(c, True) for c in declined]:
            chunk = index.chunks[index.row_of(capability.chunk_id)]
            similarity = tuple((index.units_of(chunk.chunk_id) @ vector).tolist())
            passage = Passage(hit=Hit(chunk=chunk, score=0.0), units=self._stances[chunk.chunk_id],
                              similarity=similarity, matrix=self._matrix.get(chunk.chunk_id, {}))
            out.append(Requirement(capability, passage, declined=is_declined))
        return out

    def _prototypes(self, vector: np.ndarray) -> dict[str, float]:
        """Option -> mean cosine of the question with the option's closest own units."""
        out = {}
        for option, units in self._option_units.items():
            scores = np.sort(units @ vector)[::-1][:PROTOTYPE_UNITS]
            out[option] = float(scores.mean()) if len(scores) else 0.0
        return out

    def chat(self, messages: Sequence[dict], *, k: int = 5, lang: str | None = None) -> Answer:
        """Answer the last user message in the light of the earlier user turns. System and
        assistant turns are accepted and not searched: the docs answer the user's words."""
        users = [m["content"] for m in messages if m.get("role") == "user"]
        if not users:
            raise ValueError("messages must contain at least one user message")
        last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
        answers = [m["content"] for m in messages[:last_user] if m.get("role") == "assistant"]
        return self.ask(users[-1], k=k, lang=lang, history=users[:-1], previous_answer=answers[-1] if answers else "")

    # ---- corpus views ------------------------------------------------------------------

    def info(self) -> dict:
        """The loaded index in the keys of ``GET /v1/index`` (views.index_view)."""
        from kb_service.views import index_view

        return index_view(self.index.manifest, self.query_backend)

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
