"""Evaluation against question sets in the format of ../shared/eval (see its README).

A set holds single questions (a ``question``) and conversations (``turns``, the gold fields
describing the answer to the last turn); either may carry an ``intent`` label. Metric
functions are pure; ``evaluate`` runs a KnowledgeBase over a set and ``format_report``
prints it.
"""

from __future__ import annotations

import html
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_PLAIN = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-", "‑": "-", "−": "-"})
_APPROACHES = (
    ("orchestrated", re.compile(r"orchestrated campaign|campaign orchestration|campagnes? orchestrées?")),
    ("api", re.compile(r"api-triggered|triggered (?:via|by) an api|déclenchée par l'api")),
    ("action", re.compile(r"action campaign|campagne d'action|scheduled campaign")),
    ("journey", re.compile(r"journey(?! optimizer)|parcours")),
)
MAX_PASSAGE_CHARS = 2500
# The intent labels a question set may carry (eval/check_questions.py checks the same list).
INTENTS = ("choose", "howto", "whatis", "can", "quantity", "smalltalk", "other")
# Files of the sets the team keeps unread: `kb eval` lists no failures for them unless asked.
HELD_OUT_MARKERS = tuple(f"fresh{n}" for n in range(2, 27))  # fresh2 … fresh26


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


# ---- question files ------------------------------------------------------------------------


def is_conversation(item: dict[str, Any]) -> bool:
    return "turns" in item


def last_turn(item: dict[str, Any]) -> str:
    """The text the gold fields are about: the question, or a conversation's last user turn."""
    return item["turns"][-1] if is_conversation(item) else item["question"]


def _shape_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "each line must be a JSON object"
    if not isinstance(item.get("lang"), str) or not item["lang"]:
        return "each line needs 'lang'"
    has_question, has_turns = "question" in item, "turns" in item
    if has_question and has_turns:
        return "a line has either 'question' (a single question) or 'turns' (a conversation), not both"
    if has_question:
        if not isinstance(item["question"], str) or not item["question"].strip():
            return "'question' must be a non-empty string"
    elif has_turns:
        turns = item["turns"]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            return "'turns' must be a list of non-empty strings (the user's messages, oldest first)"
    else:
        return "each line needs 'question' (a single question) or 'turns' (a conversation)"
    if "intent" in item and item["intent"] not in INTENTS:
        return f"'intent' must be one of {', '.join(INTENTS)}, got {item['intent']!r}"
    return None


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Single questions and conversations of one JSONL file, in file order."""
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        problem = _shape_problem(item)
        if problem:
            raise ValueError(f"{path}:{number}: {problem}")
        item.setdefault("id", f"line{number}")
        questions.append(item)
    return questions


# ---- judging one item ----------------------------------------------------------------------


@dataclass
class QuestionResult:
    question: dict[str, Any]
    labels: list[bool]
    answer: dict[str, Any]
    top: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@dataclass
class ConversationResult:
    """The answer to a conversation's last turn; its citations stand in for the hits."""

    question: dict[str, Any]  # the conversation line
    labels: list[bool]  # one per citation of the last answer, in citation order
    answer: dict[str, Any]  # the last answer (answer_view)
    earlier: list[str] = field(default_factory=list)  # kb's answers to the earlier turns
    failures: list[str] = field(default_factory=list)


def _answer_failures(item: dict[str, Any], answer: dict[str, Any]) -> list[str]:
    """What is wrong with the answer text itself, judged like the README says."""
    if item.get("abstain"):
        return [] if answer["abstained"] else ["answered an out-of-scope question"]
    failures = []
    if answer["abstained"]:
        failures.append(f"abstained (confidence {answer['confidence']:.2f})")
    if item.get("approach"):
        named = approach_named_first(answer["answer"])
        if named != item["approach"]:
            failures.append(f"approach {named!r}, expected {item['approach']!r}")
    for needle in item.get("answer_contains", []):
        if normalize(needle) not in normalize(answer["answer"]):
            failures.append(f"answer lacks {needle!r}")
    return failures


def _where(view: dict[str, Any]) -> str:
    return f"{view['lang']}:{view['path']}#{view['anchor']} ({view['kind']})"


def judge(question: dict[str, Any], hits: list[dict[str, Any]], answer: dict[str, Any]) -> QuestionResult:
    labels = [is_relevant(h, question) for h in hits[:10]]
    result = QuestionResult(question=question, labels=labels, answer=answer, top=[_where(h) for h in hits[:3]])
    result.failures = _answer_failures(question, answer)
    if not question.get("abstain") and not any(labels[:5]):
        # listed after an abstention, before the answer-text checks, as it always was
        result.failures.insert(1 if answer["abstained"] else 0, "no relevant chunk in top 5")
    return result


def judge_conversation(conversation: dict[str, Any], answers: Sequence[dict[str, Any]]) -> ConversationResult:
    """Judge the answer to the last turn (``answers[-1]``); ``answers`` = one view per turn."""
    last = answers[-1]
    labels = [is_relevant(c, conversation) for c in last.get("citations", [])]
    result = ConversationResult(
        question=conversation, labels=labels, answer=last, earlier=[a["answer"] for a in answers[:-1]]
    )
    result.failures = _answer_failures(conversation, last)
    if not conversation.get("abstain") and not any(labels):
        result.failures.insert(1 if last["abstained"] else 0, "last answer cites no relevant passage")
    return result


def intent_failure(gold: str | None, predicted: str | None) -> list[str]:
    if gold is None or predicted is None or gold == predicted:
        return []
    return [f"intent {predicted!r}, expected {gold!r}"]


# ---- summaries -----------------------------------------------------------------------------


def _share(items: list, predicate) -> float | None:
    return round(sum(1 for r in items if predicate(r)) / len(items), 4) if items else None


def _answer_metrics(results: list) -> dict[str, Any]:
    """The answer-text figures, shared by single questions and conversations."""
    answerable = [r for r in results if not r.question.get("abstain")]
    oos = [r for r in results if r.question.get("abstain")]
    with_approach = [r for r in answerable if r.question.get("approach")]
    with_contains = [r for r in answerable if r.question.get("answer_contains")]
    return {
        "approach_accuracy": _share(
            with_approach, lambda r: approach_named_first(r.answer["answer"]) == r.question["approach"]
        ),
        "answer_contains_accuracy": _share(
            with_contains,
            lambda r: all(normalize(n) in normalize(r.answer["answer"]) for n in r.question["answer_contains"]),
        ),
        "abstention_accuracy": _share(oos, lambda r: r.answer["abstained"]),
        "false_abstention_rate": _share(answerable, lambda r: r.answer["abstained"]),
    }


def summarize(results: Iterable[QuestionResult]) -> dict[str, Any]:
    results = list(results)
    answerable = [r for r in results if not r.question.get("abstain")]

    def mean(metric):
        return round(sum(metric(r.labels) for r in answerable) / len(answerable), 4) if answerable else None

    return {
        "questions": len(results),
        "answerable": len(answerable),
        "out_of_scope": len(results) - len(answerable),
        "recall@1": _share(answerable, lambda r: any(r.labels[:1])),
        "recall@5": _share(answerable, lambda r: any(r.labels[:5])),
        "mrr@10": mean(reciprocal_rank),
        "ndcg@10": mean(ndcg),
        **_answer_metrics(results),
    }


def summarize_conversations(results: Iterable[ConversationResult]) -> dict[str, Any]:
    results = list(results)
    answerable = [r for r in results if not r.question.get("abstain")]
    return {
        "conversations": len(results),
        "answerable": len(answerable),
        "out_of_scope": len(results) - len(answerable),
        "cites_relevant_first": _share(answerable, lambda r: any(r.labels[:1])),
        "cites_relevant_any": _share(answerable, lambda r: any(r.labels)),
        **_answer_metrics(results),
    }


def summarize_intents(pairs: Iterable[tuple[str, str | None]], available: bool = True) -> dict[str, Any]:
    """Intent accuracy and confusion over (gold, predicted) pairs of the labelled items.

    ``available`` is False when the KnowledgeBase assigns no intent: the figures are then
    n/a (None) rather than a zero that would read as a measured failure.
    """
    pairs = list(pairs)
    confusion: dict[str, dict[str, int]] = {}
    for gold, predicted in pairs:
        row = confusion.setdefault(gold, {})
        row[str(predicted)] = row.get(str(predicted), 0) + 1
    return {
        "available": available,
        "labelled": len(pairs),
        "accuracy": _share(pairs, lambda p: p[0] == p[1]) if available else None,
        "confusion": {gold: dict(sorted(row.items())) for gold, row in sorted(confusion.items())} if available else {},
    }


# ---- running a KnowledgeBase ---------------------------------------------------------------


def converse(kb, turns: Sequence[str], *, k: int = 5) -> list:
    """Ask each user turn with the history so far, kb's own earlier answers as assistant turns.

    Returns one Answer per turn; the last one answers the conversation.
    """
    messages: list[dict[str, str]] = []
    answers = []
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        answer = kb.chat(list(messages), k=k)
        answers.append(answer)
        messages.append({"role": "assistant", "content": answer.answer})
    return answers


def predicted_intent(kb, item: dict[str, Any]) -> str | None:
    """The intent kb assigns to the item's (last) question, or None when kb has no ``understand``."""
    understand = getattr(kb, "understand", None)
    if understand is None:
        return None
    history = item["turns"][:-1] if is_conversation(item) else ()
    intent = understand(last_turn(item), history=history).intent
    return str(getattr(intent, "value", intent))  # a str-valued enum reads as its value


def _failure_entry(result, extra: dict[str, Any]) -> dict[str, Any]:
    item = result.question
    entry = {"id": item["id"], "lang": item["lang"]}
    entry.update({"turns": item["turns"]} if is_conversation(item) else {"question": item["question"]})
    entry.update({"problems": result.failures, "answer": result.answer["answer"]})
    entry.update(extra)
    return entry


def _by_lang(results: list, summary) -> dict[str, Any]:
    return {lang: summary([r for r in results if r.question["lang"] == lang]) for lang in sorted({r.question["lang"] for r in results})}


def evaluate(kb, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Run every item through ``kb``: a question through search (ranking) and ask (answer),
    a conversation turn by turn through chat; labelled intents through ``kb.understand``.

    The report keeps the single-question shape at the top level (overall, by_lang,
    failures) and adds ``conversations`` and ``intent`` sections.
    """
    from kb_service.views import answer_view, hit_view

    singles: list[QuestionResult] = []
    conversations: list[ConversationResult] = []
    intents: list[tuple[str, str | None]] = []
    intent_langs: list[str] = []
    can_understand = getattr(kb, "understand", None) is not None
    for item in questions:
        if is_conversation(item):
            result = judge_conversation(item, [answer_view(a) for a in converse(kb, item["turns"])])
            conversations.append(result)
        else:
            hits = [hit_view(h) for h in kb.search(item["question"], k=10).hits]
            result = judge(item, hits, answer_view(kb.ask(item["question"])))
            singles.append(result)
        if item.get("intent"):
            predicted = predicted_intent(kb, item) if can_understand else None
            intents.append((item["intent"], predicted))
            intent_langs.append(item["lang"])
            result.failures += intent_failure(item["intent"], predicted)
    report: dict[str, Any] = {
        "overall": summarize(singles),
        "by_lang": _by_lang(singles, summarize),
        "failures": [_failure_entry(r, {"top": r.top}) for r in singles if r.failures],
        "conversations": {
            "overall": summarize_conversations(conversations),
            "by_lang": _by_lang(conversations, summarize_conversations),
            "failures": [
                _failure_entry(r, {"earlier_answers": r.earlier, "cited": [_where(c) for c in r.answer["citations"]]})
                for r in conversations
                if r.failures
            ],
        },
        "intent": summarize_intents(intents, available=can_understand),
    }
    report["intent"]["by_lang"] = {
        lang: summarize_intents([p for p, l in zip(intents, intent_langs) if l == lang], available=can_understand)["accuracy"]
        for lang in sorted(set(intent_langs))
    }
    return report


def without_failures(report: dict[str, Any]) -> dict[str, Any]:
    """The report with the per-item failure listings replaced by their counts (a held-out
    set is run and reported without anyone reading which items failed)."""
    hidden = dict(report, failures=None, failures_hidden=len(report["failures"]))
    conv = report["conversations"]
    hidden["conversations"] = dict(conv, failures=None, failures_hidden=len(conv["failures"]))
    return hidden


def lists_failures_by_default(path: Path | str) -> bool:
    return not any(marker in Path(path).name for marker in HELD_OUT_MARKERS)


# ---- text report ---------------------------------------------------------------------------


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
CONVERSATION_METRIC_LABELS = [
    ("cites_relevant_first", "Last answer's first citation relevant"),
    ("cites_relevant_any", "Last answer cites a relevant passage"),
    ("approach_accuracy", "Approach accuracy"),
    ("answer_contains_accuracy", "Answer-contains accuracy"),
    ("abstention_accuracy", "Abstention accuracy"),
    ("false_abstention_rate", "False-abstention rate"),
]


def _cell(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _metric_table(section: dict[str, Any], labels: list[tuple[str, str]]) -> list[str]:
    langs = list(section["by_lang"])
    lines = ["| metric | all | " + " | ".join(langs) + " |", "|---|---|" + "---|" * len(langs)]
    for key, label in labels:
        row = [_cell(section["overall"][key])] + [_cell(section["by_lang"][l][key]) for l in langs]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return lines


def _failure_lines(section: dict[str, Any]) -> list[str]:
    if section.get("failures") is None:
        count = section.get("failures_hidden", 0)
        return ["", f"Failures: {count}, not listed (--failures lists them)."] if count else []
    if not section["failures"]:
        return []
    lines = ["", f"Failures ({len(section['failures'])}):"]
    for f in section["failures"]:
        if "turns" in f:
            lines.append(f"- {f['id']} [{f['lang']}] " + " / ".join(f["turns"]))
        else:
            lines.append(f"- {f['id']} [{f['lang']}] {f['question']}")
        lines.append(f"    {'; '.join(f['problems'])}")
        lines.append(f"    answer: {' '.join(f['answer'].split())[:160]}")
        if "top" in f:
            lines.append(f"    top: {', '.join(f['top'])}")
        else:
            lines.append(f"    cited: {', '.join(f['cited']) or 'nothing'}")
    return lines


def format_intents(intent: dict[str, Any]) -> list[str]:
    if not intent["labelled"]:
        return []
    if not intent["available"]:
        return [f"Intent accuracy: n/a ({intent['labelled']} labelled; this kb assigns no intent)"]
    predicted = sorted({p for row in intent["confusion"].values() for p in row})
    by_lang = ", ".join(f"{lang} {_cell(value)}" for lang, value in intent.get("by_lang", {}).items())
    lines = [f"Intent accuracy: {_cell(intent['accuracy'])} over {intent['labelled']} labelled"
             + (f" ({by_lang})" if by_lang else ""), "",
             "| gold \\ predicted | " + " | ".join(predicted) + " |", "|---|" + "---|" * len(predicted)]
    for gold, row in intent["confusion"].items():
        lines.append(f"| {gold} | " + " | ".join(str(row.get(p, 0)) for p in predicted) + " |")
    return lines


def format_report(report: dict[str, Any], name: str = "") -> str:
    overall, conv = report["overall"], report["conversations"]["overall"]
    parts = [f"{overall['questions']} questions ({overall['out_of_scope']} out of scope)"] if overall["questions"] else []
    if conv["conversations"] or not parts:
        parts.append(f"{conv['conversations']} conversations ({conv['out_of_scope']} out of scope)")
    lines = [f"Evaluation{f' of {name}' if name else ''}: " + ", ".join(parts)]
    if overall["questions"]:
        lines += ["", *_metric_table(report, METRIC_LABELS), *_failure_lines(report)]
    if conv["conversations"]:
        lines += ["", "Conversations (the answer to the last turn; its citations stand in for the hits):", "",
                  *_metric_table(report["conversations"], CONVERSATION_METRIC_LABELS),
                  *_failure_lines(report["conversations"])]
    intent = format_intents(report["intent"])
    if intent:
        lines += ["", *intent]
    return "\n".join(lines)
