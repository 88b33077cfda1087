"""Choosing what to quote: whole units, by meaning and by the words asked for (pure).

A unit's score mixes its cosine with the question (unit vectors from ingest, same model)
and the share of the question's telling words it holds. The best unit is quoted with its
lead-in; units nearly as good from the same passage follow in page order, within a length
budget. When the question asks for a figure or a yes/no and the passage states it, the
unit that states it is quoted even if another scored higher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb_service.compose.passages import Analyzer, Passage, TermWeight, word_overlap
from kb_service.store.lexical import share_a_stem
from kb_service.text.units import is_pointer, leans_back, plain
from kb_service.types import QueryAnalysis

WORD_SHARE = 0.5  # weight of the word overlap beside the cosine (both in [0, 1])
FOCUS_BONUS = 0.1  # the list item retrieval matched is what the question was about
POINTER_SHARE = 0.2  # a pointer to another page is quoted only when the passage has nothing else
NEARLY_AS_GOOD = 0.85  # further units must score this share of the best one
MAX_UNITS = 3
BUDGET_CHARS = 480
# A list under a lead-in ("Two categories:", "Common reasons:") is quoted whole when it is
# short enough: the lead-in promises all of it, and one item of three misleads.
LIST_ITEMS = 8
STANDS_OUT = 1.5  # a list item this many times better than the next of its list answers alone
LIST_BUDGET = 700
# A short FAQ answer is one unit of meaning: quoted whole rather than sentence by sentence.
FAQ_BUDGET = 500
# An FAQ entry whose own question holds most of the asker's telling words is the docs' answer
# to that very question: quoted whole up to a larger budget ("Close" and "Stop", not one).
SAME_QUESTION = 0.6
SAME_QUESTION_BUDGET = 1000
# An FAQ's "Yes"/"No" answers the asker when their question holds this share of the FAQ
# question's word weight ("can I convert a campaign to a journey or vice versa?": "convert",
# "campaign", "journey" without "vice versa" hold 0.39; "can I reuse an audience?" 0.11).
FAQ_QUESTION_HELD = 0.35
_DIGIT = re.compile(r"\d")
# Whole words: "Notifications d'expédition" does not open with "no".
_YES_NO = re.compile(r"^\W*(yes|no|oui|non|absolutely|absolument|not|pas)\b", re.I)
_CHECKS = re.compile(r"[✅✔❌✖❎]")


@dataclass(frozen=True)
class Quote:
    indices: tuple[int, ...]  # units quoted, in page order
    score: float  # the best unit's score
    text: str


def unit_scores(passage: Passage, analysis: QueryAnalysis, terms: set[str], analyze: Analyzer,
                weight: TermWeight) -> list[float]:
    lang = passage.chunk.lang
    focus = passage.focus_index()
    scores = []
    for i, (stance, cosine) in enumerate(zip(passage.units, passage.similarity)):
        text = stance.unit.embed_text
        score = max(0.0, cosine) + WORD_SHARE * word_overlap(terms, text, lang, analyze, weight)
        if i == focus:
            score += FOCUS_BONUS
        if stance.unit.kind == "step" and not stance.unit.label:
            score *= 0.5  # "→ Use Journeys" alone says which, not why
        if is_pointer(stance.unit.text):
            score *= POINTER_SHARE  # "Learn more about test mode and dry run" shares the words, says nothing
        scores.append(score)
    return scores


def states_fact(analysis: QueryAnalysis, text: str, terms: set[str], lang: str, analyze: Analyzer) -> bool:
    """The unit holds what a figure or yes/no question asks for."""
    if analysis.intent == "quantity":
        return bool(_DIGIT.search(text)) and share_a_stem(terms, set(analyze(text, lang)))
    if analysis.intent == "can":
        return bool(_YES_NO.search(plain(text))) or bool(_CHECKS.search(text))
    return False


def quote(passage: Passage, analysis: QueryAnalysis, terms: set[str], analyze: Analyzer, weight: TermWeight,
          *, max_units: int = MAX_UNITS, budget: int = BUDGET_CHARS) -> Quote | None:
    """The units of ``passage`` that answer best, as display text (None: nothing to quote)."""
    if not passage.units or all(is_pointer(stance.unit.text) for stance in passage.units):
        return None  # a page's "you will find below …" or "need more details?" answers nothing
    scores = unit_scores(passage, analysis, terms, analyze, weight)
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    best = scores[ranked[0]]
    chosen = [ranked[0]]
    used = len(passage.units[ranked[0]].unit.text)
    for i in ranked[1:]:
        if len(chosen) >= max_units or scores[i] < NEARLY_AS_GOOD * best:
            break
        if used + len(passage.units[i].unit.text) <= budget:
            chosen.append(i)
            used += len(passage.units[i].unit.text)
    lang = passage.chunk.lang
    texts = [passage.units[i].unit.text for i in chosen]
    if analysis.intent in ("quantity", "can") and not any(states_fact(analysis, t, terms, lang, analyze) for t in texts):
        stating = [i for i in ranked if states_fact(analysis, passage.units[i].unit.text, terms, lang, analyze)]
        if stating:
            chosen.append(stating[0])
    faq = passage.chunk.kind == "faq"
    own_question = passage.chunk.heading_path[-1] if faq and passage.chunk.heading_path else ""
    same_question = faq and word_overlap(terms, own_question, lang, analyze, weight) >= SAME_QUESTION
    opens_yes_no = faq and bool(_YES_NO.search(plain(passage.units[0].unit.text)))
    # The asker's question holds what the FAQ's own question asks (however much it adds).
    faq_terms = set(analyze(own_question, lang)) if faq else set()
    total = sum(weight(t) for t in faq_terms)
    asks_the_faqs_question = bool(total) and sum(weight(t) for t in faq_terms & terms) / total >= FAQ_QUESTION_HELD
    if analysis.intent == "can" and asks_the_faqs_question and 0 not in chosen and opens_yes_no:
        chosen.append(0)  # "No, you must rebuild …": the FAQ's first word answers the yes/no
    run = whole_list(passage, ranked[0], steps=analysis.intent == "howto")
    rest = [scores[i] for i in run if i != ranked[0]]
    if rest and best >= STANDS_OUT * max(rest) and not analysis.compares:
        # One item holds what is asked ("what does dry run do?" among a journey's steps): it
        # answers alone, under its lead-in; a list whose items share the asking ("two kinds
        # of caps") answers whole, as does one whose items are compared.
        run = [ranked[0]]
    chosen = sorted(set(chosen) | set(run))
    chosen = with_antecedents(passage, with_promised_list(passage, chosen))
    if faq:
        length = sum(len(s.unit.text) for s in passage.units)
        if length <= FAQ_BUDGET or (same_question and length <= SAME_QUESTION_BUDGET):
            chosen = list(range(len(passage.units)))
    leaning_on_the_verdict = 1 in chosen and leans_back(passage.units[1].unit.text)
    if (opens_yes_no and not (analysis.intent == "can" and asks_the_faqs_question) and len(chosen) > 1 and 0 in chosen
            and not leaning_on_the_verdict):
        # The FAQ's "Yes"/"No" answers its own question, not the asker's: quoted, it would
        # read as the verdict on theirs ("can I reuse an audience?" → "No, you must rebuild"),
        # or as an answer to a question that asked no yes or no. Kept when what follows
        # leans on it ("However, you can reuse …"): shown with the FAQ's own question then.
        chosen = [i for i in chosen if i != 0]
    # A pointer to another page adds nothing beside what the passage itself says.
    saying = [i for i in chosen if not is_pointer(passage.units[i].unit.text)]
    chosen = saying or chosen
    return Quote(indices=tuple(chosen), score=best, text=render(passage, chosen))


ANTECEDENT_CHARS = 400  # the unit a quoted one leans on is brought along when it is this short


def with_antecedents(passage: Passage, chosen: list[int]) -> list[int]:
    """``chosen`` with the unit before each prose unit that leans back on it (same block)."""
    units = [stance.unit for stance in passage.units]
    out = set(chosen)
    for i in chosen:
        # Back along a chain ("This enables …" after "This type of data model …").
        while (i > 0 and i - 1 not in out and units[i].kind != "item" and leans_back(units[i].text)
               and units[i - 1].kind == units[i].kind and len(units[i - 1].text) <= ANTECEDENT_CHARS):
            out.add(i - 1)
            i -= 1
    return sorted(out)


def whole_list(passage: Passage, index: int, *, steps: bool = False) -> list[int]:
    """The run of list items ``index`` belongs to, when it has a lead-in (or, for a how-to
    question, when it is a list of steps) and is short enough to quote whole."""
    units = [stance.unit for stance in passage.units]
    unit = units[index]
    if unit.kind != "item" or not (unit.label or steps):
        return [index]
    start = end = index
    while start > 0 and units[start - 1].kind == "item" and units[start - 1].label == unit.label:
        start -= 1
    while end + 1 < len(units) and units[end + 1].kind == "item" and units[end + 1].label == unit.label:
        end += 1
    run = list(range(start, end + 1))
    if len(run) > LIST_ITEMS or sum(len(units[i].text) for i in run) > LIST_BUDGET:
        return [index]
    return run


def with_promised_list(passage: Passage, chosen: list[int]) -> list[int]:
    """``chosen`` with the list items that follow a chosen lead-in ("… two kinds of caps:"),
    when the list is short enough to quote whole: a lead-in alone promises what it omits."""
    units = [stance.unit for stance in passage.units]
    out = set(chosen)
    for i in chosen:
        if not plain(units[i].text).rstrip().endswith(":") or units[i].kind == "item":
            continue
        end = i + 1
        while end < len(units) and units[end].kind == "item":
            end += 1
        run = range(i + 1, end)
        if run and len(run) <= LIST_ITEMS and sum(len(units[j].text) for j in run) <= LIST_BUDGET:
            out.update(run)
    return sorted(out)


def render(passage: Passage, indices) -> str:
    """The units side by side, each under its lead-in the first time that lead-in appears
    (unless it only names an option, which the answer names itself; a prescription says more)."""
    out: list[str] = []
    shown_labels: set[str] = set()
    for i in indices:
        stance = passage.units[i]
        unit = stance.unit
        text = plain(unit.text)
        label = plain(unit.label)
        if (label and label not in shown_labels and (stance.option is None or stance.prescribed)
                and not label.startswith("→")):
            text = f"{label} {text}"
            shown_labels.add(label)
        out.append(text)
    joined = ""
    for text in out:
        if joined:
            joined += " " if joined.endswith((".", "!", "?", ":", "…")) else "; "
        joined += text
    return joined
