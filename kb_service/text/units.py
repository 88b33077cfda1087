"""Whole answer units of a chunk (pure): what an answer may quote, never a fragment.

A unit is a table row with its header pairs, a whole list item, a sentence, or a whole code
block. Each unit keeps its *lead-in*: the short label or decision step above it ("Action
Campaigns:", "→ Use Journeys", "Two categories:"), because a list item means little
without it ("Marketing - Promotional offers …" under "Two categories:"). A question line
that titles an FAQ answer is not a unit: it is what the answer answers.

Ingest embeds every unit (lead-in + text) with the chunk model, so an answer can pick the
units closest in meaning to the question; the splitter must therefore be deterministic,
and editing this file re-chunks the corpus (ingest.pipeline.chunker_version).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Sentence ends: . ! ? … followed by a space; French puts a space before ! and ?, so the
# punctuation is what counts, not the next letter's case. Decimal numbers ("2.5") and
# abbreviations followed by a lower-case word ("e.g. the") do not end a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[^\sa-z])")
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+")
_ANSWER_MARK = re.compile(r"^(?:\*\*)?(?:A|R)\s?:\s*(?:\*\*)?\s*")  # "A: Yes, …" / "R : Oui, …"
_QUESTION_MARK = re.compile(r"^(?:\*\*)?(?:Q)\s?:\s*", re.I)
_MARKUP = re.compile(r"\*\*|__|`")
ARROW = "→"
# A lead-in is short: a label ("Action Campaigns:", "Two categories:") or a decision step.
MAX_LABEL_WORDS = 12


@dataclass(frozen=True)
class Unit:
    text: str  # the unit as shown (markup kept as in the chunk text)
    label: str = ""  # the lead-in above it, "" when none
    kind: str = "sentence"  # sentence | item | row | code | step | label

    @property
    def embed_text(self) -> str:
        return f"{self.label} {self.text}".strip() if self.label else self.text


# Answering compares the same unit texts for question after question: cached, like the
# lexical analysis (store/lexical.py), and bounded so distinct texts cannot grow it without end.
@lru_cache(maxsize=65536)
def plain(text: str) -> str:
    """Text without Markdown emphasis and with collapsed spaces (for matching and display)."""
    return " ".join(_MARKUP.sub("", text).split())


def is_label(line: str) -> bool:
    """A short line that introduces what follows: ends with ':' or is a decision step."""
    words = plain(line).rstrip()
    return (words.endswith(":") and len(words.split()) <= MAX_LABEL_WORDS) or words.startswith(ARROW)


# A pointer to another page ("Learn more about journeys.", "➡️ En savoir plus sur …") or to
# the support channels ("Need more details? Use the feedback options …"): it tells the reader
# where to go, not what is true.
_POINTER = re.compile(
    r"^\W*(learn\s+more|read\s+more|see\s+also|more\s+questions|en\s+savoir\s+plus|voir\s+aussi|pour\s+en\s+savoir\s+plus|"
    r"plus\s+de\s+questions|"
    # a page's own contents line, and its "now that you know …, go on to …"
    r"you\s+will\s+find\s+below|vous\s+trouverez\s+ci-dessous|on\s+this\s+page|sur\s+cette\s+page|"
    r"now\s+that\s+you\s+(understand|have|know|'ve)|maintenant\s+que\s+vous\s+(comprenez|avez|connaissez)|"
    # the support channels
    r"need\s+more\s+(details|information|help)|use\s+the\s+feedback|utilisez\s+les\s+options\s+de\s+commentaires|"
    r"(vous\s+avez\s+)?besoin\s+de\s+plus\s+d['’](informations|aide))\b",
    re.I,
)


def is_pointer(text: str) -> bool:
    return bool(_POINTER.match(plain(text)))


# A sentence opening with these leans on the one before it ("However, you can reuse …" after
# "No, you must rebuild …"; "They can also be delayed (up to 10 minutes)"): alone it says the
# opposite, or nothing, or about nothing named.
_LEANS_BACK = re.compile(
    r"^\W*(however|but|yet|instead|otherwise|that\s+said|this|these|those|they|it|its|such"
    r"|cependant|toutefois|mais|en\s+revanche|sinon|cela|ceci|ces|ceux|celles|ils|elles|il|elle)\b", re.I)


def leans_back(sentence: str) -> bool:
    """The sentence reads only with the one before it."""
    return bool(_LEANS_BACK.match(plain(sentence)))


def split_sentences(text: str) -> list[str]:
    """The one sentence splitter: lines, then sentences within each line."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            out.extend(part.strip() for part in _SENTENCE_END.split(line) if part.strip())
    return out


def split_units(text: str, kind: str) -> list[Unit]:
    """The whole units of a chunk's ``text`` (its ``kind`` says how it was made), in order."""
    if kind in ("table_row", "code", "question"):
        return [Unit(text.strip(), kind="row" if kind == "table_row" else ("code" if kind == "code" else "label"))] if text.strip() else []
    lines = [line.rstrip() for line in text.splitlines()]
    units: list[Unit] = []
    label = ""
    item: list[str] | None = None  # a list item's lines (continuations are indented)

    def flush_item() -> None:
        nonlocal item
        if item:
            units.append(Unit(" ".join(part.strip() for part in item), label, "item"))
        item = None

    for number, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            flush_item()
            continue
        if kind == "table" and line.startswith("|"):
            flush_item()
            if not re.fullmatch(r"\|[\s:|-]+\|?", line):
                units.append(Unit(line, label, "row"))
            continue
        if _BULLET.match(line):
            flush_item()
            item = [_BULLET.sub("", line)]
            continue
        if item is not None and raw.startswith((" ", "\t")):
            item.append(line)
            continue
        flush_item()
        if units and units[-1].kind == "item" and units[-1].label == label:
            label = ""  # prose after a list: the list's lead-in introduced the list only
        if _QUESTION_MARK.match(line) or (number == 0 and kind == "faq" and plain(line).endswith("?")):
            label = ""
            continue  # the question an FAQ answer answers
        line = _ANSWER_MARK.sub("", line)
        if plain(line).startswith(ARROW):
            units.append(Unit(line, "", "step"))
            label = line
            continue
        next_line = lines[number + 1].strip() if number + 1 < len(lines) else ""
        if plain(line).endswith("?") and plain(next_line).startswith(ARROW):
            # A decision step's question ("Simple message delivery to an audience?") belongs
            # to the step that answers it on the next line.
            units.append(Unit(line, next_line, "step"))
            continue
        sentences = split_sentences(line)
        for position, sentence in enumerate(sentences):
            if position == len(sentences) - 1 and is_label(sentence):
                label = sentence  # "… for different scenarios:" introduces the list below
            else:
                units.append(Unit(sentence, label, "sentence"))
    flush_item()
    return [u for u in units if re.search(r"\w", u.text)]


def embed_texts(text: str, kind: str, cells: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """What is embedded for each unit of a chunk: its lead-in and its text, plain. A table
    row is embedded by its cells alone: its headers ("Your need", "Recommended approach")
    are shared by every row and would make each row look like every question that asks for
    a recommendation."""
    units = split_units(text, kind)
    if kind == "table_row" and cells and len(units) == 1:
        return [plain(" ; ".join(cell for _, cell in cells if cell.strip()))]
    return [plain(unit.embed_text) for unit in units]
