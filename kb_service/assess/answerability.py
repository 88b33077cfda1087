"""Assess: does the retrieved evidence answer the question? (pure)

A logistic model over retrieval evidence, fitted by scripts/calibrate.py on question sets
kept apart from the ones the answer rules are tuned on, and stored in the profile's
calibration.json. Features are shares and best matches, not counts, so a long scenario
question ("we're a ski resort, …") is not punished for its length or for naming its own
business. On top of the model, two checks of answer *type*: a price question needs an
amount in the evidence, a figure question a figure about its subject.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from kb_service.text.units import leans_back, split_sentences
from kb_service.types import Hit, QueryAnalysis

FEATURES = [
    "top_dense",  # best cosine between the question and a chunk
    "best_unit",  # best cosine between the question and one answer unit of the top hits
    "coverage",  # share of the question's words the corpus uses at all
    "subject_found",  # share of the question's most telling known words found in the top hits
    "agreement",  # the top hit was found by both dense and lexical search
    # Names and acronyms no chunk uses ("Marketo", "Kubernetes"), per word of the question:
    # one in a short question is its subject, two in a long scenario are the asker's business.
    "unknown_names",
    "french",  # the model is English-only: French cosines run higher for unrelated text
    # Choice questions only: the best cosine between the need and a unit of the comparison
    # material. A long scenario ("we're a ski resort, …") matches no passage as a whole,
    # yet the guide's row for its need can be close.
    "need_match",
]
# Used only when no profile brings a fitted calibration: a cautious hand-set model.
DEFAULT_CALIBRATION = {
    "weights": {"bias": -7.5, "top_dense": 6.0, "best_unit": 6.0, "coverage": 2.0, "subject_found": 2.0,
                "agreement": 0.5, "unknown_names": -1.5, "french": -0.5},
    "threshold": 0.5,
}
# Unknown names count per this many words of the question: one name in a short, four-word
# question counts 1 (as a plain count did), two in a twenty-word scenario count 0.4.
NAMES_PER_WORDS = 4.0
# Confidence given to an answer whose evidence lacks what the question asks for.
MISSING_ANSWER_CONFIDENCE = 0.2
SUBJECT_WORDS = 3  # how many of the question's most telling words say what it is about

_MONEY = re.compile(r"[$€£¥]|\b(usd|eur|gbp|dollars?|euros?)\b", re.I)
_DIGIT = re.compile(r"\d")
# "1:1 or 1:many relationships": a cardinality of a data model, not an amount of anything.
_CARDINALITY = re.compile(r"\b\d+\s*:\s*(?:\d+|n|many|plusieurs)\b", re.I)
# Words that ask for the figure ("maximum", "nombre") are not what it is a figure of.
_QUANTITY_WORDS = {
    "en": "maximum max minimum number numbers limit limits many long count amount size much often range",
    "fr": "maximum maximal maximale minimum nombre nombres limite limites durée combien quantité taille plage",
}

Analyzer = Callable[[str, str], list[str]]


@dataclass(frozen=True)
class Assessment:
    confidence: float
    answerable: bool
    reason: str = ""  # why not, when a check of answer type failed


def features_of(result, analysis: QueryAnalysis, best_unit: float, subject_found: float,
                need_match: float = 0.0) -> dict[str, float]:
    top = result.hits[0] if result.hits else None
    agreement = 1.0 if top is not None and top.dense_score is not None and top.lexical_score is not None else 0.0
    return {
        "top_dense": float(result.top_dense),
        "best_unit": float(best_unit),
        "coverage": float(result.coverage),
        "subject_found": float(subject_found),
        "agreement": agreement,
        "unknown_names": float(result.unknown_names) * NAMES_PER_WORDS / max(1.0, len(analysis.subject)),
        "french": 1.0 if result.lang == "fr" else 0.0,
        "need_match": float(need_match) if analysis.intent == "choose" else 0.0,
    }


def confidence(features: dict[str, float], calibration: dict | None) -> float:
    weights = (calibration or DEFAULT_CALIBRATION)["weights"]
    z = weights.get("bias", 0.0) + sum(weights.get(name, 0.0) * value for name, value in features.items())
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def threshold(calibration: dict | None) -> float:
    return float((calibration or DEFAULT_CALIBRATION).get("threshold", 0.5))


def subject_found(analysis: QueryAnalysis, hit_terms: Sequence[frozenset[str]], known: Callable[[str], bool]) -> float:
    """Share of the question's most telling known words that the top hits hold."""
    subject = [t for t in analysis.subject if known(t)][:SUBJECT_WORDS]
    if not subject:
        return 0.0
    found = set().union(*hit_terms) if hit_terms else set()
    return sum(1 for t in subject if t in found) / len(subject)


def missing_answer_type(analysis: QueryAnalysis, hits: Sequence[Hit], analyze: Analyzer,
                        known: Callable[[str], bool]) -> str | None:
    """Why the best hits cannot answer a price or figure question, or None if they can."""
    texts = [h.chunk.text for h in hits[:3]]
    if analysis.asks_price:
        # An amount about what was asked: "$1000" of a customer's purchases prices no licence.
        return None if _states(texts, _is_amount, analysis, analyze, known) else "the documentation states no price"
    if analysis.intent != "quantity" and not analysis.measure:
        return None
    # Whatever the ask's form ("what's the default rate?", "is there a cap per minute?"), a
    # figure of the measure it names must be there.
    if analysis.measure:
        holds = _MEASURED[analysis.measure]
    elif analysis.counted:
        holds = _counting(analysis.counted, analysis.lang, analyze)
    else:
        holds = _is_figure
    return None if _states(texts, holds, analysis, analyze, known) else "the documentation gives no figure for this"


# After a number, what it counts: in English the last word before a verb, a preposition or
# punctuation ("two testing approaches" counts approaches), in French the first ("3 types de
# parcours" counts types). A range ("1-2 reminders", "3 à 5 e-mails") counts what follows it.
COUNTED_WITHIN = 3  # words after a number read when no short phrase names what it counts
_RANGE_REST = re.compile(r"^(?:\s*(?:-|–|to|and|or|à|et|ou)\s*\d[\d,.]*)?", re.I)
_COUNTED_RUN = re.compile(
    r"^\s*((?:[^\W\d]+\s+){0,2}?[^\W\d]+)"
    r"(?=\s+(?:can|could|are|is|do|does|of|in|on|per|at|for|with|by|and|or|max|maximum|to|before|after|over|than"
    r"|de|des|du|d|et|ou|par|pour|en|au|aux|dans|sur|avec)\b"
    r"|\s*[^\w\s]|\s*$)",
    re.I,
)


def _plain_word(text: str) -> str:
    """Ligatures and in-word hyphens out: "nœuds" is "noeuds", "e-mails" is "emails".

    Here rather than in the lexical analyser: there it would change the terms of every
    built index, and retrieval with them."""
    return re.sub(r"(?<=\w)-(?=\w)", "", text.replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae"))


def _counting(words: Sequence[str], lang: str, analyze: Analyzer) -> Callable[[str], bool]:
    """A sentence with a number of what a "how many" ask counts: "four types of journeys"
    for "how many types?", "1-2 reminders" for "how many reminder emails?", not "two testing
    approaches" for "how many test profiles?"."""
    counted = set(analyze(_plain_word(" ".join(words)), lang))
    if not counted:
        return _is_figure

    def holds(sentence: str) -> bool:
        text = _plain_word(_CARDINALITY.sub(" ", sentence))
        for found in _A_NUMBER.finditer(text):
            rest = text[found.end():]
            rest = rest[_RANGE_REST.match(rest).end():]  # past a range; an empty match if none
            run = _COUNTED_RUN.match(rest)
            if run is not None:
                names = run.group(1).split()
                head = names[0] if lang == "fr" else names[-1]
            else:  # a longer phrase ("1-100 test profiles go through"): any of its first words
                head = " ".join(_WORD.findall(rest)[:COUNTED_WITHIN])
            if counted & set(analyze(head, lang)):
                return True
        return False

    return holds


def _is_amount(sentence: str) -> bool:
    return bool(_MONEY.search(sentence))


def _is_figure(sentence: str) -> bool:
    return bool(_DIGIT.search(_CARDINALITY.sub(" ", sentence)) or _COUNT_IN_WORDS.search(sentence))  # "three types" too


def _states(texts: Sequence[str], holds: Callable[[str], bool], analysis: QueryAnalysis, analyze: Analyzer,
            known: Callable[[str], bool]) -> bool:
    """Some sentence of ``texts`` holds an amount or figure about the question's subject: one
    of its most telling known words, or two of its own words. A question with no known
    subject word cannot be told apart: it passes."""
    lang = analysis.lang
    asking = set(analyze(_QUANTITY_WORDS.get(lang, ""), lang))
    subject = [t for t in analysis.subject if known(t) and t not in asking][:SUBJECT_WORDS]
    content = set(analysis.subject) - asking
    if not subject:
        return True
    for text in texts:
        previous = ""
        for sentence in split_sentences(text):
            # A sentence that opens by pointing back ("They can also be delayed … up to 10
            # minutes") is about what the sentence before it names.
            read = f"{previous} {sentence}" if leans_back(sentence) else sentence
            previous = sentence
            if holds(sentence):
                words = set(analyze(read, lang))
                if set(subject) & words or len(content & words) >= 2:
                    return True
    return False


# Counts of two or more in words. "one", "once" and "daily" are too common in the docs to tell
# a figure from a phrase ("one-time message") in a passage; in a composed answer they count.
_COUNTS = ("two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred"
           "|deux|trois|quatre|cinq|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|quarante|cinquante|cent")
_COUNT_IN_WORDS = re.compile(rf"\b({_COUNTS})\b", re.I)
_A_NUMBER = re.compile(rf"\d[\d,.]*|\b({_COUNTS})\b", re.I)
# A figure in an answer: digits, or a number or frequency in words ("four types", "once a
# day", "deux jours", "une fois par semaine").
_FIGURE_IN_WORDS = re.compile(
    rf"\b({_COUNTS}|one|thousand|million|dozen|once|twice|daily|weekly|monthly|hourly|yearly|annually"
    r"|mille|douzaine|quotidien\w*|hebdomadaire\w*|mensuel\w*|annuel\w*)\b"
    r"|\b(une?)\s+(fois|seule?|heure|minute|journ[ée]e|semaine|mois|an|ann[ée]e)\b"
    r"|\b(an?|one)\s+(hour|minute|day|week|month|year)\b",
    re.I,
)
_CITATION_MARK = re.compile(r"\[\d+\]")

# A figure of the kind asked: "how long" wants a number of some unit of time ("91 days",
# "up to 10 minutes"), a rate so many per unit of time, "how big" a size. A passage whose
# figures are of another kind ("50 activities" for a reading rate) does not answer it.
_TIME_WORD = (r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?"
              r"|secondes?|heures?|jours?|semaines?|mois|ans|ann[ée]es?)")
_TIME_UNIT = rf"(?:{_TIME_WORD}|secs?|s|mins?|hrs?|h|d)"
_DURATION = re.compile(
    rf"\d[\d,.]*(?:\s*(?:-|to|à|and|et)\s*\d[\d,.]*)?\s*{_TIME_UNIT}\b"
    rf"|\b(?:{_COUNTS}|one|an?|une?)\s+{_TIME_WORD}\b",
    re.I,
)
_RATE = re.compile(rf"\d[\d,.\s]*\s*[^\W\d]*\s*(?:per|/|par|an?|each|chaque)\s*(?:{_TIME_UNIT}|sec)\b", re.I)
_SIZE = re.compile(r"\d[\d,.]*\s*(?:[kmgt]i?b|[kmgt]o|bytes?|octets?|characters?|caract[èe]res?)\b", re.I)
# How often: every so many units, so many times per unit, a frequency word, or the docs' words
# for always ("in real time", "continuously"), which answer "how often" as "in real time"
# answers nothing about a rate.
_FREQUENCY = re.compile(
    rf"\bevery\s+(?:\d[\d,.]*\s*|{_COUNTS}\s+|other\s+)?{_TIME_UNIT}\b"
    rf"|\b(?:\d[\d,.]*|{_COUNTS}|one|once|twice|une?)\s+(?:times?\s+|fois\s+)?(?:a|an|per|each|par)\s+{_TIME_WORD}\b"
    r"|\b(?:once|twice|daily|weekly|hourly|monthly|yearly|annually|continuous(?:ly)?|real[- ]time|quotidien\w*"
    r"|hebdomadaire\w*|mensuel\w*|en\s+continu|temps\s+r[ée]el)\b"
    rf"|\btou(?:te)?s\s+les\s+(?:\d[\d,.]*\s*|{_COUNTS}\s+)?{_TIME_WORD}\b|\bchaque\s+{_TIME_WORD}\b",
    re.I,
)
_MEASURED: dict[str, Callable[[str], bool]] = {
    "frequency": lambda sentence: bool(_FREQUENCY.search(sentence)),
    "duration": lambda sentence: bool(_DURATION.search(sentence)),
    "rate": lambda sentence: bool(_RATE.search(sentence)),
    "size": lambda sentence: bool(_SIZE.search(sentence)),
}

_WORD = re.compile(r"\w+")
QUOTED_WORDS = 8  # this many words in a row, as the earlier answer quoted them


def quoted_in(answer: str, text: str) -> bool:
    """The earlier answer's first line quotes ``text``: its words after any connective kb
    adds ("Recommended: Journeys —", an FAQ's own question) stand in it in a row."""
    lines = answer.strip().splitlines()
    said = _CITATION_MARK.sub(" ", lines[0]).rsplit(" — ", 1)[-1] if lines else ""
    words = _WORD.findall(said.lower())[:QUOTED_WORDS]
    if len(words) < QUOTED_WORDS:
        return False
    return f" {' '.join(words)} " in f" {' '.join(_WORD.findall(text.lower()))} "


def states_a_figure(text: str) -> bool:
    """The text gives a number or a frequency, as an answer to "how many / how long" must."""
    text = _CITATION_MARK.sub(" ", text)
    return bool(_DIGIT.search(_CARDINALITY.sub(" ", text)) or _FIGURE_IN_WORDS.search(text))


def assess(features: dict[str, float], calibration: dict | None, missing: str | None) -> Assessment:
    conf = confidence(features, calibration)
    if missing:
        conf = min(conf, MISSING_ANSWER_CONFIDENCE)
    return Assessment(confidence=conf, answerable=conf >= threshold(calibration), reason=missing or "")
