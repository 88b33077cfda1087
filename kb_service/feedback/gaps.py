"""The coverage-gaps report: what users asked that the docs did not answer, grouped by meaning.

Gap questions are those kb abstained on or whose answer was down-voted. Identical questions
(case and spacing aside) are counted once with their number of asks; the distinct questions
are embedded with the knowledge base's own query embedder and grouped by average-linkage
agglomerative clustering on cosine distance, cut at a fixed threshold. The input is sorted
first, so the same questions always give the same groups. Each group is named by its most
central question (the highest mean similarity to the others) and listed with the closest
sections of the docs, so a docs writer sees what to write and where it would go.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import numpy as np

# Questions whose average cosine distance stays under this are one topic. With MiniLM-L6,
# rewordings of one need sit at 0.14-0.33 from each other; different needs that name the same
# product sit at 0.35-0.55 (the product's name pulls them together) and unrelated ones near
# 1.0. At 0.5 pricing and CRM questions merged; 0.4 keeps them apart (the hand-grouped set
# in tests/test_feedback_gaps.py).
TOPIC_DISTANCE = 0.4
MAX_QUESTIONS = 2000  # the newest gap answers read per report: bounds the clustering's n²
EXAMPLES = 5
SECTIONS = 3
TOP_DOWN_VOTED = 10

_SINCE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class KnowledgeBaseLike(Protocol):
    def embed_query(self, text: str) -> np.ndarray: ...
    def search(self, query: str, *, k: int = 10, lang: str | None = None, path_prefix: str | None = None): ...


def parse_since(text: str) -> float:
    """``"7d"`` → seconds: a number and one of s, m, h, d, w; ValueError naming the problem."""
    match = _SINCE.match(text or "")
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"since must be a positive number followed by s, m, h, d or w (e.g. 7d, 24h), got {text!r}")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def question_key(question: str) -> str:
    """Identical questions up to case and spacing share a key."""
    return " ".join(question.split()).casefold()


# ---- pure clustering ---------------------------------------------------------------------------


def cluster_questions(vectors: np.ndarray, threshold: float = TOPIC_DISTANCE) -> list[list[int]]:
    """Row indices grouped by average-linkage clustering on cosine distance, cut at ``threshold``.

    Groups come sorted by their first member, members in row order: deterministic for a given
    row order. One row is one group.
    """
    n = len(vectors)
    if n == 0:
        return []
    if n == 1:
        return [[0]]
    from scipy.cluster.hierarchy import fcluster, linkage

    unit = _normalised(vectors)
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    condensed = distances[np.triu_indices(n, k=1)]
    labels = fcluster(linkage(condensed, method="average"), t=threshold, criterion="distance")
    groups: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        groups[int(label)].append(row)
    return sorted(groups.values(), key=lambda members: members[0])


def central_member(vectors: np.ndarray, members: list[int]) -> int:
    """The member with the highest mean cosine similarity to the others (the first on a tie)."""
    if len(members) == 1:
        return members[0]
    unit = _normalised(vectors[members])
    mean_similarity = (unit @ unit.T).sum(axis=1)
    return members[int(np.argmax(np.round(mean_similarity, 6)))]


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


# ---- the report --------------------------------------------------------------------------------


@dataclass
class _Question:
    key: str
    forms: Counter = field(default_factory=Counter)
    asks: int = 0
    abstained: int = 0
    down_votes: int = 0
    langs: Counter = field(default_factory=Counter)
    last: float = 0.0
    resolved_by: set = field(default_factory=set)
    unresolved: int = 0

    @property
    def text(self) -> str:
        # The most frequent spelling; the smallest on a tie, so the name never flips.
        return min(self.forms.items(), key=lambda item: (-item[1], item[0]))[0]


def gaps_report(store, kb: KnowledgeBaseLike, *, since_s: float, now: float | None = None,
                build: str | None = None, threshold: float = TOPIC_DISTANCE) -> dict[str, Any]:
    """The report as plain JSON-ready data (see docs/feedback.md for its fields)."""
    now = time.time() if now is None else now
    since = now - since_s
    rows = store.gaps(since, MAX_QUESTIONS)
    questions: dict[str, _Question] = {}
    unstored = 0
    for row in rows:
        if not row["question"]:
            unstored += 1
            continue
        q = questions.setdefault(question_key(row["question"]), _Question(question_key(row["question"])))
        q.forms[" ".join(row["question"].split())] += 1
        q.asks += 1
        q.abstained += row["abstained"]
        q.down_votes += row["rating"] == "down"
        q.langs[row["lang"] or "?"] += 1
        q.last = max(q.last, row["created_at"])
        if row["resolved_build"]:
            q.resolved_by.add(row["resolved_build"])
        else:
            q.unresolved += 1
    ordered = [questions[key] for key in sorted(questions)]
    vectors = np.array([kb.embed_query(q.text) for q in ordered]) if ordered else np.zeros((0, 1))
    topics = [_topic(kb, ordered, vectors, members) for members in cluster_questions(vectors, threshold)]
    topics.sort(key=lambda t: (-t["asks"], t["topic"]))
    return {
        "since": _iso(since),
        "until": _iso(now),
        "build": build,
        **store.totals(since),
        "gap_answers": len(rows),
        "questions_not_stored": unstored,
        "topics": [t for t in topics if t["resolved_by"] is None],
        "resolved": [t for t in topics if t["resolved_by"] is not None],
        "most_down_voted": _most_down_voted(kb, rows),
        "replays": [{"build": r["build"], "finished_at": _iso(r["finished_at"]) if r["finished_at"] else None,
                     "questions": r["questions"], "resolved": r["resolved"]} for r in store.replays()[:5]],
    }


def _topic(kb: KnowledgeBaseLike, ordered: list[_Question], vectors: np.ndarray, members: list[int]) -> dict:
    name = ordered[central_member(vectors, members)]
    group = [ordered[i] for i in members]
    examples = sorted(group, key=lambda q: (-q.asks, q.key))[:EXAMPLES]
    langs = Counter()
    for q in group:
        langs.update(q.langs)
    resolved = set().union(*(q.resolved_by for q in group))
    # Resolved only when no ask of the topic is still open; then by the latest build named.
    resolved_by = sorted(resolved)[-1] if resolved and not any(q.unresolved for q in group) else None
    lang = langs.most_common(1)[0][0]
    hits = kb.search(name.text, k=SECTIONS, lang=lang if lang in ("en", "fr") else None).hits
    return {
        "topic": name.text,
        "asks": sum(q.asks for q in group),
        "questions": len(group),
        "abstained": sum(q.abstained for q in group),
        "down_votes": sum(q.down_votes for q in group),
        "langs": dict(sorted(langs.items())),
        "last_asked": _iso(max(q.last for q in group)),
        "examples": [{"question": q.text, "asks": q.asks} for q in examples],
        "sections": [_section(h.chunk, round(float(h.score), 4)) for h in hits],
        "resolved_by": resolved_by,
    }


def _most_down_voted(kb: KnowledgeBaseLike, rows: list[dict]) -> list[dict]:
    by_answer: dict[tuple, dict] = {}
    for row in rows:
        if row["rating"] != "down":
            continue
        # One entry per question and cited sections: the same answer given to the same question.
        key = (question_key(row["question"]) if row["question"] else row["answer_id"], tuple(row["cited_chunks"]))
        entry = by_answer.setdefault(key, {"question": row["question"], "down_votes": 0, "comments": [],
                                           "cited_chunks": list(row["cited_chunks"]), "last": 0.0,
                                           "resolved_by": row["resolved_build"]})
        entry["down_votes"] += 1
        entry["last"] = max(entry["last"], row["created_at"])
        if row["comment"] and len(entry["comments"]) < EXAMPLES:
            entry["comments"].append(row["comment"])
    chunks = _chunks_by_id(kb)
    ranked = sorted(by_answer.values(), key=lambda e: (-e["down_votes"], -e["last"], e["question"] or ""))
    out = []
    for entry in ranked[:TOP_DOWN_VOTED]:
        cited = [_section(chunks[c]) if c in chunks else {"chunk_id": c, "title": None, "heading": None, "url": None}
                 for c in entry.pop("cited_chunks")]
        out.append({**entry, "last": _iso(entry["last"]), "cited": cited})
    return out


def _chunks_by_id(kb) -> dict:
    index = getattr(kb, "index", None)
    return {c.chunk_id: c for c in getattr(index, "chunks", ())} if index is not None else {}


def _section(chunk, score: float | None = None) -> dict:
    section = {"chunk_id": chunk.chunk_id, "title": chunk.title,
               "heading": " › ".join(chunk.heading_path[1:]) or chunk.title, "url": chunk.url}
    if score is not None:
        section["score"] = score
    return section


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
