"""Evaluation against question sets in the format of ../shared/eval (see its README).

Metric functions are pure; ``evaluate`` runs a KnowledgeBase over the questions.
"""

from __future__ import annotations

import html
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_PLAIN = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-", "‑": "-", "−": "-"})
_APPROACHES = (
    ("orchestrated", re.compile(r"orchestrated campaign|campaign orchestration|campagnes? orchestrées?")),
    ("api", re.compile(r"api-triggered|triggered (?:via|by) an api|déclenchée par l'api")),
    ("action", re.compile(r"action campaign|campagne d'action|scheduled campaign")),
    ("journey", re.compile(r"journey(?! optimizer)|parcours")),
)
MAX_PASSAGE_CHARS = 2500


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", html.unescape(text)).translate(_ZERO_WIDTH).translate(_PLAIN)
    text = re.sub(r"[*_`]", "", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def approach_named_first(answer: str) -> str | None:
    text = normalize(answer)
    found = [(m.start(), name) for name, pattern in _APPROACHES for m in [pattern.search(text)] if m]
    return min(found)[1] if found else None


def is_relevant(hit: dict[str, Any], question: dict[str, Any]) -> bool:
    if hit["lang"] != question["lang"]:
        return False
    text = normalize(hit["text"])
    if len(text) > MAX_PASSAGE_CHARS:
        return False
    for gold in question.get("relevant", []):
        if hit["path"].endswith(gold["path"]) and all(normalize(e) in text for e in gold["evidence"]):
            return True
    return False


def reciprocal_rank(labels: list[bool], cutoff: int = 10) -> float:
    for rank, ok in enumerate(labels[:cutoff], start=1):
        if ok:
            return 1.0 / rank
    return 0.0


def ndcg(labels: list[bool], cutoff: int = 10) -> float:
    """Binary nDCG; the ideal ranking puts the retrieved relevant chunks first."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, ok in enumerate(labels[:cutoff], start=1) if ok)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(sum(labels), cutoff) + 1))
    return dcg / ideal if ideal else 0.0


def load_questions(path: Path) -> list[dict[str, Any]]:
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(item, dict) or "question" not in item or "lang" not in item:
            raise ValueError(f"{path}:{number}: each line needs at least 'question' and 'lang'")
        item.setdefault("id", f"line{number}")
        questions.append(item)
    return questions


@dataclass
class QuestionResult:
    question: dict[str, Any]
    labels: list[bool]
    answer: dict[str, Any]
    top: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def judge(question: dict[str, Any], hits: list[dict[str, Any]], answer: dict[str, Any]) -> QuestionResult:
    labels = [is_relevant(h, question) for h in hits[:10]]
    top = [f"{h['lang']}:{h['path']}#{h['anchor']} ({h['kind']})" for h in hits[:3]]
    result = QuestionResult(question=question, labels=labels, answer=answer, top=top)
    if question.get("abstain"):
        if not answer["abstained"]:
            result.failures.append("answered an out-of-scope question")
        return result
    if answer["abstained"]:
        result.failures.append(f"abstained (confidence {answer['confidence']:.2f})")
    if not any(labels[:5]):
        result.failures.append("no relevant chunk in top 5")
    if question.get("approach"):
        named = approach_named_first(answer["answer"])
        if named != question["approach"]:
            result.failures.append(f"approach {named!r}, expected {question['approach']!r}")
    for needle in question.get("answer_contains", []):
        if normalize(needle) not in normalize(answer["answer"]):
            result.failures.append(f"answer lacks {needle!r}")
    return result


def summarize(results: Iterable[QuestionResult]) -> dict[str, Any]:
    results = list(results)
    answerable = [r for r in results if not r.question.get("abstain")]
    oos = [r for r in results if r.question.get("abstain")]
    with_approach = [r for r in answerable if r.question.get("approach")]
    with_contains = [r for r in answerable if r.question.get("answer_contains")]

    def share(items, predicate):
        return round(sum(1 for r in items if predicate(r)) / len(items), 4) if items else None

    return {
        "questions": len(results),
        "answerable": len(answerable),
        "out_of_scope": len(oos),
        "recall@1": share(answerable, lambda r: any(r.labels[:1])),
        "recall@5": share(answerable, lambda r: any(r.labels[:5])),
        "mrr@10": round(sum(reciprocal_rank(r.labels) for r in answerable) / len(answerable), 4) if answerable else None,
        "ndcg@10": round(sum(ndcg(r.labels) for r in answerable) / len(answerable), 4) if answerable else None,
        "approach_accuracy": share(
            with_approach, lambda r: approach_named_first(r.answer["answer"]) == r.question["approach"]
        ),
        "answer_contains_accuracy": share(
            with_contains,
            lambda r: all(normalize(n) in normalize(r.answer["answer"]) for n in r.question["answer_contains"]),
        ),
        "abstention_accuracy": share(oos, lambda r: r.answer["abstained"]),
        "false_abstention_rate": share(answerable, lambda r: r.answer["abstained"]),
    }


def evaluate(kb, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Run every question through ``kb`` (search for ranking, ask for the answer)."""
    from kb_service.views import answer_view, hit_view

    results = []
    for q in questions:
        hits = [hit_view(h) for h in kb.search(q["question"], k=10).hits]
        answer = answer_view(kb.ask(q["question"]))
        results.append(judge(q, hits, answer))
    by_lang = {
        lang: summarize(r for r in results if r.question["lang"] == lang)
        for lang in sorted({r.question["lang"] for r in results})
    }
    return {
        "overall": summarize(results),
        "by_lang": by_lang,
        "failures": [
            {
                "id": r.question["id"],
                "lang": r.question["lang"],
                "question": r.question["question"],
                "problems": r.failures,
                "answer": r.answer["answer"],
                "top": r.top,
            }
            for r in results
            if r.failures
        ],
    }


METRIC_LABELS = [
    ("recall@1", "Recall@1"),
    ("recall@5", "Recall@5"),
    ("mrr@10", "MRR@10"),
    ("ndcg@10", "nDCG@10"),
    ("approach_accuracy", "Approach accuracy"),
    ("answer_contains_accuracy", "Answer-contains accuracy"),
    ("abstention_accuracy", "Abstention accuracy"),
    ("false_abstention_rate", "False-abstention rate"),
]


def format_report(report: dict[str, Any], name: str = "") -> str:
    langs = list(report["by_lang"])
    header = "| metric | all | " + " | ".join(langs) + " |"
    lines = [f"Evaluation{f' of {name}' if name else ''}: {report['overall']['questions']} questions "
             f"({report['overall']['out_of_scope']} out of scope)", "", header,
             "|---|---|" + "---|" * len(langs)]

    def cell(value):
        return "n/a" if value is None else f"{value:.3f}"

    for key, label in METRIC_LABELS:
        row = [cell(report["overall"][key])] + [cell(report["by_lang"][l][key]) for l in langs]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    if report["failures"]:
        lines += ["", f"Failures ({len(report['failures'])}):"]
        for f in report["failures"]:
            lines.append(f"- {f['id']} [{f['lang']}] {f['question']}")
            lines.append(f"    {'; '.join(f['problems'])}")
            lines.append(f"    answer: {' '.join(f['answer'].split())[:160]}")
            lines.append(f"    top: {', '.join(f['top'])}")
    return "\n".join(lines)
