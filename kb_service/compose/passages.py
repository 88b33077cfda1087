"""A retrieved hit as the composer sees it: its whole units, what option each speaks for,
and how close each is to the question (pure data, prepared by KnowledgeBase)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from kb_service.compose.stance import UnitStance
from kb_service.text.units import plain
from kb_service.types import Hit

Analyzer = Callable[[str, str], list[str]]
TermWeight = Callable[[str], float]


@dataclass(frozen=True)
class Passage:
    hit: Hit
    units: tuple[UnitStance, ...]
    similarity: tuple[float, ...]  # cosine of the question with each unit's vector
    matrix: dict[int, str]  # column -> option, for a row of a comparison matrix
    # cosine of the need (a choice question without its asking words) with each unit
    need_similarity: tuple[float, ...] = ()

    @property
    def chunk(self):
        return self.hit.chunk

    def focus_index(self) -> int | None:
        """The unit retrieval matched through a list-item handle, if any."""
        focus = self.hit.focus
        if not focus:
            return None
        target = plain(focus)
        for i, stance in enumerate(self.units):
            text = plain(stance.unit.text)
            if text and (text in target or target in text):
                return i
        return None


def word_overlap(query_terms: set[str], text: str, lang: str, analyze: Analyzer, weight: TermWeight) -> float:
    """Share of the question's words, weighted by how telling they are, that ``text`` holds."""
    if not query_terms:
        return 0.0
    total = sum(map(weight, query_terms))
    found = query_terms.intersection(analyze(text, lang))
    return sum(map(weight, found)) / total if total else 0.0
