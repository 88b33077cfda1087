"""Hybrid retrieval: dense (FAISS) and lexical (BM25) candidates fused, filtered, diversified.

Fusion and diversity are pure functions over chunk ids, so they are tested on hand-made
rankings; ``HybridRetriever`` only gathers candidates from the loaded index.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from kb_service.store.dense import SUBSET_EXACT_MAX
from kb_service.store.index import LoadedIndex
from kb_service.store.lexical import analyze
from kb_service.understand.spelling import word_frequency
from kb_service.understand.vocabulary import Vocabulary
from kb_service.types import FUSIONS, LANGUAGES, Hit, check_choice

RRF_K = 60  # Cormack, Clarke & Buettcher (SIGIR 2009): k=60 damps the head of each ranking.
CANDIDATES = 40  # per retriever; the corpus is small, so this covers every plausible chunk
DUPLICATE_COSINE = 0.92
# Share of the dense score in weighted fusion, per language. all-MiniLM-L6-v2 was trained on
# English: its French vectors are noisier, so French leans on BM25 with French stemming.
# Chosen on our own questions (eval/questions.jsonl); see README "Retrieval choices".
DENSE_WEIGHT = {"en": 0.7, "fr": 0.35}
RELATED_WORDS_WEIGHT = 0.15  # chosen on our own questions (eval/questions.jsonl)
# A vocabulary group that the question reaches only through words at most RARE_DF chunks use
# ("parcel": none; "réactiver": one, as "réactives") is searched by the docs' own words for
# it ("shipping", "logistics"; "réengager", "inactifs") at UNFAMILIAR_WORDS_WEIGHT instead:
# the user's word finds nothing, so the docs' words carry the question's subject. RARE_DF 0
# (words the docs never use) missed "réactiver". Weights 0.5, 0.7, 0.85 and 1.0 tried on our
# own questions (README "Retrieval choices"): 1.0 best, own MRR@10 0.864 -> 0.889, no dev or
# holdout figure lower. Only questions that reach such a group pay for the extra search.
RARE_DF = 1
UNFAMILIAR_WORDS_WEIGHT = 1.0
# A chunk holding a pair of the question's words in a row (stop words dropped) that at most
# this share of the language's chunks hold scores this much higher.
RARE_PAIR_SHARE = 0.02
PHRASE_BOOST = 1.15
# A word in capitals this common in the language (Zipf: "ok" 5.1, "crm" 3.0) is not a name.
EVERYDAY_CAPITALS_ZIPF = 5.0
# A follow-up turn is searched with the earlier turn's words beside its own, at this weight,
# so the conversation's topic helps without outvoting what the turn itself asks.
CONTEXT_WEIGHT = 0.5
_CAPITALISED_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+){1,3}\b")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
# Several capitalised words in a row, on one line: a name ("Adobe Analytics", "Salesforce Marketing Cloud").
_NAME_PHRASE = re.compile(r"\b[A-Z][\w’'-]*(?:[ \t]+[A-Z][\w’'-]*)+")


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], *, k: int = RRF_K, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Sum over rankings of weight / (k + rank), rank 1-based. Merged by id, never by position."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


def _min_max(scores: Mapping[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high - low < 1e-12:
        return {key: 1.0 for key in scores}
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def _idf(df: int, n: int) -> float:
    """BM25's IDF of a word that ``df`` of ``n`` chunks use."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def weighted_score_fusion(
    dense: Mapping[str, float], lexical: Mapping[str, float], *, dense_weight: float = 0.6
) -> dict[str, float]:
    """Convex mix of raw cosine and max-normalised BM25 (absent = 0).

    Cosine is kept raw (it is already on a comparable scale across queries); BM25 is divided
    by the query's best BM25 score so a single strong lexical match counts as 1.
    """
    top_lexical = max(lexical.values(), default=0.0)
    lexical_norm = {key: value / top_lexical for key, value in lexical.items()} if top_lexical > 0 else {}
    keys = set(dense) | set(lexical_norm)
    return {
        key: dense_weight * dense.get(key, 0.0) + (1 - dense_weight) * lexical_norm.get(key, 0.0)
        for key in keys
    }


def diversify(
    ranked: Sequence[str],
    *,
    group_of: Callable[[str], str],
    similarity: Callable[[str, str], float] | None = None,
    threshold: float = DUPLICATE_COSINE,
    limit: int | None = None,
) -> list[str]:
    """Reorder so that restatements of an already-chosen fact go to the back.

    A chunk is a restatement when it shares a non-empty group with a chosen chunk (a table
    and one of its rows) or its vector is within ``threshold`` cosine of one. Nothing is
    dropped: restatements still follow when nothing else is relevant.

    ``limit``: the caller reads only that many places. Once ``limit`` chunks are chosen, the
    first ``limit`` places cannot change, so the rest follows unexamined, in ranked order.
    """
    chosen: list[str] = []
    chosen_groups: set[str] = set()
    deferred: list[str] = []
    for position, item in enumerate(ranked):
        if limit is not None and len(chosen) >= limit:
            return chosen + deferred + list(ranked[position:])
        group = group_of(item)
        duplicate = bool(group) and group in chosen_groups
        if not duplicate and similarity is not None:
            duplicate = any(similarity(item, other) >= threshold for other in chosen)
        if duplicate:
            deferred.append(item)
        else:
            chosen.append(item)
            chosen_groups.add(group)
    return chosen + deferred


def best_items(fused: Mapping[str, float], parent_of: Mapping[str, str]) -> dict[str, tuple[str, float]]:
    """Parent id -> (its best-scoring handle, that handle's score)."""
    best: dict[str, tuple[str, float]] = {}
    for key, score in fused.items():
        parent = parent_of.get(key)
        if parent is not None and score > best.get(parent, ("", float("-inf")))[1]:
            best[parent] = (key, score)
    return best


def fold_items_into_parents(
    fused: Mapping[str, float],
    parent_of: Mapping[str, str],
    best: Mapping[str, tuple[str, float]] | None = None,
) -> tuple[dict[str, float], dict[str, str]]:
    """Small-to-big: a list item found is reported as the chunk holding the whole list.

    The parent takes the best score of itself and its items; ``focus`` remembers which item
    earned it, so the answer can quote that item. Items without a parent stay as they are.
    ``best`` is ``best_items(fused, parent_of)`` when the caller has it already.
    """
    best = best_items(fused, parent_of) if best is None else best
    folded = {key: score for key, score in fused.items() if key not in parent_of}
    focus: dict[str, str] = {}
    for parent, (item, score) in best.items():
        if score > folded.get(parent, float("-inf")):
            folded[parent] = score
            focus[parent] = item
    return folded, focus


# A handle that scored at least this share of its parent's score still names the part of
# the parent the question is about (focus), though the parent outscored it. Without it, an
# answer from a whole list or decision guide quoted its first lines, not the matching item.
# 0.85: own-set approach accuracy 0.809 -> 0.825; 0.7 changed nothing; no other figure moved.
FOCUS_HINT_RATIO = 0.85


def _close_item(item: tuple[str, float] | None, parent_score: float) -> str | None:
    return item[0] if item is not None and item[1] >= FOCUS_HINT_RATIO * parent_score else None


# Chunks that exist to be found, and stand for the chunk that holds them (small-to-big).
HANDLE_KINDS = ("list_item", "question")


def _item_parents(chunks: Sequence) -> dict[str, str]:
    """Handle chunk id -> id of the chunk (same page and section) whose lines contain it."""
    holders: dict[tuple, list] = {}
    for chunk in chunks:
        if chunk.kind not in HANDLE_KINDS + ("table", "table_row", "code"):
            holders.setdefault((chunk.lang, chunk.path, chunk.heading_path), []).append(chunk)
    parents: dict[str, str] = {}
    for chunk in chunks:
        if chunk.kind not in HANDLE_KINDS:
            continue
        section = holders.get((chunk.lang, chunk.path, chunk.heading_path), ())
        if chunk.kind == "question":
            # The question titles its section: it stands for the section's first chunk.
            if section:
                parents[chunk.chunk_id] = min(section, key=lambda c: c.line_start).chunk_id
            continue
        for holder in section:
            if holder.line_start <= chunk.line_start and chunk.line_end <= holder.line_end:
                parents[chunk.chunk_id] = holder.chunk_id
                break
    return parents


def _pairs(terms: Sequence[str]) -> list[tuple[str, str]]:
    """The analysed words two by two, in order: stop words dropped, so "dry run" and
    "run (in a) journey" are pairs alike; a phrase of the docs and its rewordings share them."""
    return [(a, b) for a, b in zip(terms, terms[1:]) if a != b]


def _document_frequencies(chunk_terms: Mapping[str, frozenset[str]], chunks: Sequence, lang: str) -> dict[str, int]:
    """Term -> number of ``lang`` chunks containing it (for IDF weights)."""
    table: dict[str, int] = {}
    for chunk in chunks:
        if chunk.lang == lang:
            for term in chunk_terms[chunk.chunk_id]:
                table[term] = table.get(term, 0) + 1
    return table


def _acronyms(chunks: Sequence) -> frozenset[str]:
    """Initials of the capitalised names the docs use ("AJO" for Adobe Journey Optimizer,
    "AEP", "CJA"): users abbreviate them, and an abbreviation is not an unknown name."""
    return frozenset(
        "".join(word[0] for word in name.split()).lower()
        for chunk in chunks
        for name in _CAPITALISED_NAME.findall(chunk.text)
    )


@dataclass(frozen=True)
class RetrievalResult:
    hits: list[Hit]
    lang: str
    top_dense: float  # best cosine in the searched rows (before filters were relaxed)
    coverage: float  # share of the question's content terms found in the corpus vocabulary
    unknown_names: int = 0  # capitalised words (names, acronyms) the docs never use


class HybridRetriever:
    """Dense + lexical retrieval over one loaded index."""

    def __init__(
        self, index: LoadedIndex, *, fusion: str = "weighted", dense_weight: Mapping[str, float] | None = None,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.index = index
        self.fusion = check_choice("fusion", fusion, FUSIONS)  # a misspelt name is not quietly RRF
        self.vocabulary = vocabulary or Vocabulary()
        self.dense_weight = dict(dense_weight or DENSE_WEIGHT)
        self._ids = [chunk.chunk_id for chunk in index.chunks]
        self._row = {chunk_id: row for row, chunk_id in enumerate(self._ids)}
        self._parent_of = _item_parents(index.chunks)
        # Corpus statistics behind the confidence features, computed once here so that no
        # request pays for them.
        self._chunk_terms = {
            c.chunk_id: frozenset(analyze(c.embed_text, c.lang)) for c in index.chunks if c.lang in LANGUAGES
        }
        self._df = {lang: _document_frequencies(self._chunk_terms, index.chunks, lang) for lang in LANGUAGES}
        # Two words in a row ("dry run", "merge policy") name one thing; a chunk holding a rare
        # such pair of the question is about what the question names.
        self._chunk_pairs = {
            c.chunk_id: frozenset(_pairs(analyze(c.text, c.lang))) for c in index.chunks if c.lang in LANGUAGES
        }
        self._pair_df = {lang: _document_frequencies(self._chunk_pairs, index.chunks, lang) for lang in LANGUAGES}
        self.acronyms = _acronyms(index.chunks)
        # Every chunk's text in lower case, for names of several capitalised words.
        self._all_text = "\n".join(" ".join(c.text.lower().split()) for c in index.chunks)
        self._rare_group_stems = {lang: self.vocabulary.rare_group_stems(lang, self._df[lang], RARE_DF) for lang in LANGUAGES}
        self._known_synonyms = {
            lang: self.vocabulary.known_through_groups(lang, lexical.vocabulary) for lang, lexical in index.lexical.items()
        }
        # The vectors as a plain ndarray view of the same memory map: np.memmap's per-index
        # bookkeeping cost more than the dot products themselves in diversify.
        self._vectors = index.vectors.view(np.ndarray)
        self._rows_by_lang = {
            lang: np.array([row for row, c in enumerate(index.chunks) if c.lang == lang], dtype=np.int64)
            for lang in {c.lang for c in index.chunks}
        }
        # IDF of every word the corpus uses, once: answers ask for it tens of times a question.
        self._idf_by_lang = {
            lang: {term: _idf(df, len(self._rows_by_lang.get(lang, ()))) for term, df in self._df[lang].items()}
            for lang in LANGUAGES
        }
        self._unseen_idf = {lang: _idf(0, len(self._rows_by_lang.get(lang, ()))) for lang in LANGUAGES}
        # Most queries search one whole language: its rows' vectors gathered once (exact
        # search is one matrix-vector product) and a row mask for the BM25 candidates.
        # Languages too large for exact subset search go through faiss' own filter instead.
        self._dense_subsets = {
            lang: index.dense.subset(rows) for lang, rows in self._rows_by_lang.items() if len(rows) <= SUBSET_EXACT_MAX
        }
        self._lang_masks = {lang: self._row_mask(rows) for lang, rows in self._rows_by_lang.items()}

    def _focus_text(self, handle_id: str | None) -> str | None:
        """The matched list item's text; a matched FAQ question says nothing the answer lacks."""
        if handle_id is None:
            return None
        chunk = self.index.chunks[self._row[handle_id]]
        return chunk.text if chunk.kind == "list_item" else None

    def languages(self) -> list[str]:
        return sorted(self._rows_by_lang)

    def _allowed_rows(self, lang: str, path_prefix: str | None) -> np.ndarray:
        rows = self._rows_by_lang.get(lang, np.zeros(0, dtype=np.int64))
        if path_prefix:
            chunks = self.index.chunks
            rows = rows[[chunks[row].path.startswith(path_prefix) for row in rows]] if len(rows) else rows
        return rows

    def _row_mask(self, rows: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(self._ids), dtype=bool)
        mask[rows] = True
        return mask

    def _dense(self, vector: np.ndarray, lang: str, allowed: np.ndarray, whole_language: bool) -> dict[str, float]:
        if not len(allowed):
            return {}
        subset = self._dense_subsets.get(lang) if whole_language else None
        if subset is not None:
            scores, found = subset.search(vector, min(CANDIDATES, len(subset)))
        else:
            scores, found = self.index.dense.search(vector, min(CANDIDATES, len(allowed)), rows=allowed)
        ids = self._ids
        # tolist: Python floats and ints in one C call each.
        return {ids[row]: score for score, row in zip(scores.tolist(), found.tolist())}

    def _lexical(self, question: str, lang: str, allowed_mask: np.ndarray, context: str | None = None) -> dict[str, float]:
        lexical = self.index.lexical.get(lang)
        if lexical is None:
            return {}
        global_rows = self.index.lexical_rows[lang]
        ids = self._ids
        result: dict[str, float] = {}
        # The question's own words count fully; related vocabulary ("basket" -> "cart")
        # only adds a fraction, so it can surface a passage but not outvote exact matches.
        searches = [(question, 1.0)]
        related, unfamiliar = self.vocabulary.related_words_by_familiarity(
            question, lang, self._rare_group_stems.get(lang, frozenset())
        )
        if context:
            searches.append((context, CONTEXT_WEIGHT))
        if related:
            searches.append((related, RELATED_WORDS_WEIGHT))
        if unfamiliar:
            searches.append((unfamiliar, UNFAMILIAR_WORDS_WEIGHT))
        for text, weight in searches:
            found, scores = lexical.search(text, CANDIDATES * 2)
            rows = global_rows[found]
            keep = allowed_mask[rows]
            for row, score in zip(rows[keep].tolist(), scores[keep].tolist()):
                key = ids[row]
                result[key] = result.get(key, 0.0) + weight * score
        return result

    def coverage(self, question: str, lang: str) -> float:
        lexical = self.index.lexical.get(lang)
        if lexical is None:
            return 0.0
        return lexical.vocabulary_coverage(question, self._known_synonyms.get(lang, frozenset()))

    def terms_of(self, chunk_id: str) -> frozenset[str]:
        """The analysed words of a chunk's embedded text (computed once at load)."""
        return self._chunk_terms.get(chunk_id, frozenset())

    def knows(self, lang: str) -> Callable[[str], bool]:
        """Whether an analysed word occurs in any ``lang`` chunk."""
        df = self._df.get(lang, {})
        return lambda term: df.get(term, 0) > 0

    def term_weight(self, lang: str) -> Callable[[str], float]:
        """An analysed word's IDF among ``lang``'s chunks: how telling it is of a passage."""
        known = self._idf_by_lang.get(lang, {})
        unseen = self._unseen_idf.get(lang, _idf(0, len(self._rows_by_lang.get(lang, ()))))
        # One dict lookup: composing an answer weighs words some five hundred times.
        return lambda term: known.get(term, unseen)

    def _rare_pairs(self, question: str, lang: str) -> frozenset[tuple[str, str]]:
        """The question's pairs of words in a row that few of ``lang``'s chunks hold."""
        table = self._pair_df.get(lang, {})
        most = RARE_PAIR_SHARE * len(self._rows_by_lang.get(lang, ()))
        return frozenset(p for p in _pairs(analyze(question, lang)) if 0 < table.get(p, 0) <= most)

    def unknown_names(self, question: str, lang: str) -> int:
        """Names and acronyms in the question (not its first word) that no chunk contains.

        "Marketo", "Salesforce", "Kubernetes", "Tokyo": a product or place the docs never
        mention is the clearest sign of a question about something else.
        """
        lexical = self.index.lexical.get(lang)
        if lexical is None:
            return 0
        words = _WORD.findall(question)[1:]
        # Capitalised (Marketo), all capitals (CRM) or capitals inside (iPhone, HubSpot, eBay).
        names = {w for w in words if w[0].isupper() or (len(w) > 1 and any(ch.isupper() for ch in w[1:]))}
        # Words of a vocabulary group ("Noël", "Christmas") and calendar words ("Tuesday") are
        # known words (known_through_groups): they name a season or a date, not a product.
        known = self._known_synonyms.get(lang, frozenset())
        # A name is the same in every language: "Federated Audience Composition" in a French
        # question is known when the English pages use it. A word in capitals that is an
        # everyday word ("OK") is emphasis, not a name.
        unknown = {
            name for name in names
            if analyze(name, lang) and lexical.vocabulary_coverage(name, known) == 0.0
            and name.lower() not in self.acronyms
            and not any(other.vocabulary_coverage(name) > 0.0 for code, other in self.index.lexical.items() if code != lang)
            and not (name.isupper() and word_frequency(name.lower(), lang) >= EVERYDAY_CAPITALS_ZIPF)
        }
        # A name of several capitalised words the docs know one by one but never together
        # ("Adobe Analytics" where the docs say "Customer Journey Analytics") names another
        # product as surely as one word they never use.
        phrases = 0
        for match in _NAME_PHRASE.finditer(question):
            parts = match.group(0).split()
            if match.start() == 0:
                parts = parts[1:]  # a question's first word is capitalised anyway
            phrase = " ".join(parts)
            # A phrase holding a word of a vocabulary group ("Black Friday") names a date or a
            # kind of system, as its words alone do.
            if (len(parts) >= 2 and not unknown & set(parts) and phrase.lower() not in self._all_text
                    and not set(analyze(phrase, lang)) & known):
                phrases += 1
        return len(unknown) + phrases


    def retrieve(
        self,
        question: str,
        vector: np.ndarray,
        *,
        lang: str,
        k: int = 10,
        path_prefix: str | None = None,
        strict_lang: bool = False,
        boost: Mapping[str, float] | None = None,
        context: str | None = None,
    ) -> RetrievalResult:
        """Top ``k`` hits for ``question`` (whose embedding is ``vector``) in ``lang``.

        Falls back to the other language when ``lang`` has no chunk under the filters, unless
        the caller asked for that language explicitly (``strict_lang``).
        """
        search_lang = lang
        allowed = self._allowed_rows(lang, path_prefix)
        if not len(allowed) and not strict_lang:
            for other in self.languages():
                candidate = self._allowed_rows(other, path_prefix)
                if len(candidate):
                    search_lang, allowed = other, candidate
                    break
        whole_language = not path_prefix
        allowed_mask = self._lang_masks.get(search_lang) if whole_language else None
        if allowed_mask is None:
            allowed_mask = self._row_mask(allowed)
        dense = self._dense(vector, search_lang, allowed, whole_language)
        lexical = self._lexical(question, search_lang, allowed_mask, context)
        if self.fusion == "weighted":
            fused = weighted_score_fusion(dense, lexical, dense_weight=self.dense_weight.get(search_lang, 0.5))
        else:
            fused = reciprocal_rank_fusion(
                [sorted(dense, key=dense.get, reverse=True), sorted(lexical, key=lexical.get, reverse=True)]
            )
        rare_pairs = self._rare_pairs(question, search_lang)
        if rare_pairs:
            chunk_pairs = self._chunk_pairs
            fused = {key: score * PHRASE_BOOST if not rare_pairs.isdisjoint(chunk_pairs.get(key, ())) else score
                     for key, score in fused.items()}
        if boost:
            fused = {key: score * boost.get(key, 1.0) for key, score in fused.items()}
        closest_items = best_items(fused, self._parent_of)
        fused, focus = fold_items_into_parents(fused, self._parent_of, closest_items)
        ranked = sorted(fused, key=lambda key: (-fused[key], key))
        row = self._row
        candidates = ranked[: max(k * 3, 30)]
        # All pairwise cosines of the candidates in one product: diversify asks for up to
        # n²/2 of them, one at a time.
        position = {key: i for i, key in enumerate(candidates)}
        block = self._vectors[[row[key] for key in candidates]]
        cosines = (block @ block.T).tolist()
        chunks = self.index.chunks
        groups = {key: chunks[row[key]].group for key in candidates}
        ordered = diversify(
            candidates,
            group_of=groups.__getitem__,
            similarity=lambda a, b: cosines[position[a]][position[b]],
            limit=k,
        )
        hits = [
            Hit(
                chunk=self.index.chunks[row[key]],
                score=round(fused[key], 6),
                dense_score=dense.get(focus.get(key, key), dense.get(key)),
                lexical_score=lexical.get(focus.get(key, key), lexical.get(key)),
                focus=self._focus_text(focus.get(key) or _close_item(closest_items.get(key), fused[key])),
            )
            for key in ordered[:k]
        ]
        return RetrievalResult(
            hits=hits,
            lang=search_lang,
            top_dense=max(dense.values(), default=0.0),
            coverage=self.coverage(question, search_lang),
            unknown_names=self.unknown_names(question, search_lang),
        )
