"""What a need requires, read against the comparison material's availability matrices (pure).

A feature-availability matrix ("Wait activities | ✅ | ❌ | ❌ | ✅") says which options can do
a thing at all. A need that asks for that thing rules out the options marked ❌, however
much of the need's topic their other passages share: a welcome series with waits and
conditions is not an action campaign, however close "welcome" is to a use case filed under
one. The vote (compose.choice) still decides among the options left.

A need asks for a capability when it holds every word of the capability's label ("Exact
pre-send counts"), directly or through the profile's words for it ("precisely how many" →
the label's words); a one-word label ("Web", "In-app") must occur as such, since its word
alone is often about something else ("our mobile app"). What the need says it does *not*
want ("no waits, no follow-ups", "sans relance") asks for nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from kb_service.compose.passages import Analyzer, Passage
from kb_service.text.options import fold
from kb_service.text.units import plain
from kb_service.types import Chunk

_YES = {"✅", "✔", "✔️"}
_NO = {"❌", "✖", "❎"}
# An option that lacks a required capability keeps this share of its evidence: ruled out
# unless nothing else has evidence (the docs' matrix may be coarser than the need).
RULED_OUT = 0.2

# A capability row votes for the options that have it with this share of the strongest
# evidence: the matrix is evidence like a use case.
CAPABILITY_VOTE = 0.5
# An option built for a capability the need says it does without ("no branching, no waits")
# keeps this share of its evidence per such capability: the asker wants the plainer tool.
DECLINED = 0.7

# A thing the need says it does without ("no waits", "pas de relance", "sans suivi"), up to
# the end of its clause. A negated verb is a condition, not a refusal: "if they haven't
# ordered" asks for branching.
_NEGATED = {
    "en": re.compile(r"\b(no|without|nothing|never|not\s+(?:any|a|an)|neither|nor)\b[^,.;:!?]*", re.I),
    "fr": re.compile(r"\b(pas\s+(?:de|d'|d’)|sans|aucune?|ni)\b[^,.;:!?]*", re.I),
}


@dataclass(frozen=True)
class Capability:
    """One row of an availability matrix: what it names, which options have it."""

    chunk_id: str
    label: str
    terms: frozenset[str]
    has: frozenset[str]
    lacks: frozenset[str]


@dataclass(frozen=True)
class Requirement:
    """A capability a choice's need asks for (or, ``declined``, says it does without), with
    its matrix row as the passage an answer can quote."""

    capability: Capability
    row: Passage
    declined: bool = False


def mark_value(cell: str) -> bool | None:
    """True for a ✅ cell, False for a ❌ one, None for anything else."""
    mark = cell.strip()
    return True if mark in _YES else False if mark in _NO else None


def capability_of(chunk: Chunk, columns: Mapping[int, str], analyze: Analyzer) -> Capability | None:
    """The capability a ✅/❌ row of a comparison matrix states (``columns``: column -> option)."""
    if chunk.kind != "table_row" or not chunk.cells or not columns:
        return None
    has, lacks = set(), set()
    for column, option in columns.items():
        mark = mark_value(chunk.cells[column][1]) if column < len(chunk.cells) else None
        if mark is None:
            return None  # a descriptive matrix row, not an availability one
        (has if mark else lacks).add(option)
    label = plain(chunk.cells[0][1])
    terms = frozenset(analyze(label, chunk.lang))
    if not terms or not lacks or not has:
        return None  # every option has it (or none does): it separates nothing
    return Capability(chunk.chunk_id, label, terms, frozenset(has), frozenset(lacks))


def asked_labels(need_text: str, groups: Sequence[Sequence[str]]) -> str:
    """The labels (first entries) of the profile's need groups whose everyday phrases the
    need uses, as text. Phrases are matched on the folded text, not on stems: "only if"
    must not shrink to "only" once its stop word is dropped. A phrase may take an ending
    ("wait" finds "waiting")."""
    folded = fold(need_text)
    found = []
    for group in groups:
        if any(re.search(rf"(?<!\w){re.escape(fold(phrase))}", folded) for phrase in group):
            found.append(group[0])
    return " ".join(found)


def negated(text: str, lang: str) -> str:
    """What ``text`` says it does without ("no waits, no branching"), as text."""
    pattern = _NEGATED.get(lang, _NEGATED["en"])
    return " ".join(m.group(0) for m in pattern.finditer(text))


def without_negated(text: str, lang: str) -> str:
    """``text`` without what it says it does not need ("no branching, no waits")."""
    pattern = _NEGATED.get(lang, _NEGATED["en"])
    return pattern.sub(" ", text)


def required(capabilities: Iterable[Capability], need_terms: set[str], need_text: str) -> list[Capability]:
    """The capabilities the need asks for (``need_terms``: its analysed words with the
    profile's words for them; ``need_text``: the need itself), in the matrix's order."""
    folded = fold(need_text)
    found = []
    for capability in capabilities:
        if not capability.terms <= need_terms:
            continue
        if len(capability.terms) == 1 and not re.search(rf"(?<!\w){re.escape(fold(capability.label))}(?!\w)", folded):
            continue
        found.append(capability)
    return found


def asked_in(text: str, lang: str, capabilities: Sequence[Capability], groups: Sequence[Sequence[str]],
             analyze: Analyzer, docs_words: str = "") -> list[Capability]:
    """The capabilities ``text`` asks for: its words, the labels its everyday phrases stand
    for (the profile's need ``groups``) and ``docs_words`` (the docs' words for its own)."""
    terms = set(analyze(f"{text} {docs_words} {asked_labels(text, groups)}", lang))
    return required(capabilities, terms, text)


def lacking(option: str, capabilities: Sequence[Capability], members_of: Mapping[str, tuple[str, ...]]) -> list[Capability]:
    """The required capabilities ``option`` lacks (a group lacks what all its members lack)."""
    members = members_of.get(option) or (option,)
    return [c for c in capabilities
            if (option in c.lacks) or (option not in c.has and all(m in c.lacks for m in members))]
