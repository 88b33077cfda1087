"""Lexical retrieval: BM25 (bm25s) over one language's chunks, with a Snowball stemmer.

``analyze`` is the single text -> terms function, used for documents and queries alike, so
both sides always agree. Its decisions:

- Unicode NFKC, lower-case; typographic apostrophes (’ ‘ ʼ ´ `) become ``'``.
- French elisions (l' d' qu' j' n' s' c' m' t' and jusqu' lorsqu' puisqu' quoiqu')
  are dropped, so "l'abandon" indexes as "abandon".
- Accents are folded (é -> e, ç -> c) *before* stop-word removal and stemming, on both sides:
  a question typed without accents ("parametres", "evenements") then matches exactly as
  an accented one does. Folding first is the consistent order: stem-then-fold gives
  "orchestrée" -> "orchestr" but "orchestree" -> "orchestre".
- Tokens are runs of letters/digits: hyphens, underscores, apostrophes, dots and slashes
  split ("opt-in" -> "opt", "in"; "profile_id" -> "profile", "id").
- Stop words (bm25s' English/French lists, folded) are removed, then Snowball
  "english"/"french" (PyStemmer) stems what is left.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

# Bump when ``analyze`` changes: an index built by another analyzer would silently mismatch
# queries, so ``load`` refuses it.
ANALYZER_VERSION = 1

SNOWBALL = {"en": "english", "fr": "french"}

# bm25s defaults (Lucene variant of BM25); saved next to the index and checked at load.
BM25_PARAMS = {"method": "lucene", "k1": 1.5, "b": 0.75}

META_NAME = "kb_lexical.json"

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "´": "'", "`": "'", "′": "'"})
_FR_ELISION = re.compile(r"\b(?:jusqu|lorsqu|puisqu|quoiqu|qu|[ldjnscmt])'(?=\w)")
_TOKEN = re.compile(r"[^\W_]+")


def _fold(text: str) -> str:
    if text.isascii():  # nothing to fold; most English text, and the common case by far
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=None)
def _stopwords(lang: str) -> frozenset[str]:
    words = {"en": STOPWORDS_EN, "fr": STOPWORDS_FRENCH}[lang]
    # What splitting on apostrophes leaves of English contractions ("user's", "don't", "we'll").
    contractions = ("s", "t", "d", "ll", "m", "re", "ve", "don", "doesn", "didn", "isn", "aren",
                    "wasn", "weren", "won", "wouldn", "shouldn", "couldn", "haven", "hasn", "hadn", "can")
    extra = {"en": contractions, "fr": ()}[lang]
    return frozenset(_fold(w.lower()) for w in (*words, *extra))


@lru_cache(maxsize=None)
def _stemmer(lang: str) -> Stemmer.Stemmer:
    # PyStemmer keeps an internal cache; one instance per language per process.
    return Stemmer.Stemmer(SNOWBALL[lang])


def _check_lang(lang: str) -> None:
    if lang not in SNOWBALL:
        raise ValueError(f"unsupported language {lang!r} for lexical search; expected one of {sorted(SNOWBALL)}")


def analyze(text: str, lang: str) -> list[str]:
    """Turn ``text`` into the stemmed terms BM25 indexes and queries with (see module doc)."""
    _check_lang(lang)
    return list(_analyze(text, lang))


# Stems this long that open alike are one word's forms the stemmer split ("évaluées" →
# "evalue", "évaluation" → "evalu"; "publier" → "publi", "publication" → "publiqu").
SHARED_STEM = 5


def share_a_stem(terms: set[str], words: set[str]) -> bool:
    """Some term and some word are the same stem, or open with the same SHARED_STEM letters."""
    if terms & words:
        return True
    heads = {t[:SHARED_STEM] for t in terms if len(t) >= SHARED_STEM}
    return any(len(w) >= SHARED_STEM and w[:SHARED_STEM] in heads for w in words)


# Answering analyses the same chunk sentences, cells and headers for question after
# question (and each question up to five times): cached, analysis costs nothing after
# the first time. Bounded, so a stream of distinct questions cannot grow it without end.
@lru_cache(maxsize=65536)
def _analyze(text: str, lang: str) -> tuple[str, ...]:
    if not text.isascii():  # NFKC changes nothing in ASCII text
        text = unicodedata.normalize("NFKC", text)
    text = text.lower().translate(_APOSTROPHES)
    if lang == "fr":
        text = _FR_ELISION.sub(" ", text)
    text = _fold(text)
    stop = _stopwords(lang)
    words = [w for w in _TOKEN.findall(text) if w not in stop]
    return tuple(_stemmer(lang).stemWords(words))


class LexicalIndex:
    """BM25 over the texts of one language; results are row numbers into those texts."""

    def __init__(self, bm25: bm25s.BM25, lang: str, size: int) -> None:
        # Cheap: wraps an already-built bm25s retriever. Use ``build`` or ``load``.
        self._bm25 = bm25
        self.lang = lang
        self.size = size

    def __repr__(self) -> str:
        return f"LexicalIndex(lang={self.lang!r}, size={self.size})"

    @classmethod
    def build(cls, texts: list[str], lang: str) -> "LexicalIndex":
        """Index ``texts`` (row i = texts[i]) with ``lang``'s analyzer."""
        _check_lang(lang)
        if not texts:
            raise ValueError(f"no texts to index for language {lang!r}")
        corpus_tokens = [analyze(t, lang) for t in texts]
        if not any(corpus_tokens):
            # bm25s cannot build a vocabulary from nothing; an index where nothing matches
            # is the honest equivalent (one placeholder term no query can produce).
            corpus_tokens[0] = ["\x00"]
        bm25 = bm25s.BM25(**BM25_PARAMS)
        bm25.index(corpus_tokens, show_progress=False)
        return cls(bm25, lang, len(texts))

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(rows, scores)`` of the ``k`` best rows, best first; rows with score 0 dropped.

        An empty query, or one whose terms are all unknown, gives two empty arrays.
        """
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        if k <= 0 or self.size == 0 or not query:
            return empty
        vocab = self._bm25.vocab_dict
        # Each distinct term counts once: repeating a word in a question is not emphasis.
        ids = sorted({vocab[t] for t in analyze(query, self.lang) if t in vocab and t != ""})
        if not ids:
            return empty
        scores = np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)[: self.size]
        hits = np.flatnonzero(scores > 0)
        if hits.size > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        # Best first; ties by row number so results are deterministic.
        order = np.lexsort((hits, -scores[hits]))
        hits = hits[order]
        return hits.astype(np.int64), scores[hits]

    @property
    def vocabulary(self):
        """The analysed terms this index holds (a mapping; membership is what callers use)."""
        return self._bm25.vocab_dict

    def vocabulary_coverage(self, query: str, also_known: frozenset[str] = frozenset()) -> float:
        """Share of the query's distinct terms that occur anywhere in this index (0 if none).

        Out-of-scope questions ("who won the World Cup?") are mostly made of words the docs
        never use; this is one of the signals the answerer's confidence is built from.
        ``also_known``: terms to count as known although the index lacks them (synonyms).
        """
        terms = set(analyze(query, self.lang))
        if not terms:
            return 0.0
        vocab = self._bm25.vocab_dict
        return sum(1 for t in terms if t in vocab or t in also_known) / len(terms)

    def save(self, path: Path) -> None:
        """Write into directory ``path``: bm25s arrays (no pickle) + our own metadata json."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._bm25.save(path, allow_pickle=False, show_progress=False)
        meta = {
            "lang": self.lang,
            "size": self.size,
            "analyzer_version": ANALYZER_VERSION,
            "stemmer": SNOWBALL[self.lang],
            "bm25": BM25_PARAMS,
            "bm25s_version": bm25s.__version__,
        }
        (path / META_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "LexicalIndex":
        """Read an index written by ``save``; raises ValueError if it does not fit this code."""
        path = Path(path)
        meta = json.loads((path / META_NAME).read_text(encoding="utf-8"))
        lang = meta.get("lang")
        _check_lang(lang)
        if meta.get("analyzer_version") != ANALYZER_VERSION:
            raise ValueError(
                f"{path}: built with analyzer version {meta.get('analyzer_version')}, "
                f"this code uses {ANALYZER_VERSION}"
            )
        bm25 = bm25s.BM25.load(path, allow_pickle=False, mmap=False, show_progress=False)
        size = int(meta["size"])
        if int(bm25.scores["num_docs"]) != size:
            raise ValueError(f"{path}: bm25 holds {bm25.scores['num_docs']} documents, metadata says {size}")
        return cls(bm25, lang, size)
