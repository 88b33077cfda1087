"""Grounded extractive answers: every sentence comes from a cited chunk.

Pure functions over hits. The only words kb adds are light connectives ("Recommended:",
a dash between a label and its cell, the abstention sentence).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from .types import Citation, Hit

Analyzer = Callable[[str, str], list[str]]

ABSTAIN_TEXT = {
    "en": "The documentation doesn't cover this.",
    "fr": "La documentation ne couvre pas ce sujet.",
}
RECOMMENDED = {"en": "Recommended:", "fr": "Recommandé :"}
# How the guide itself names each approach in its decision table (singular forms).
APPROACH_LABEL = {
    "en": {
        "journey": "Journeys",
        "action": "Action Campaign",
        "api": "API-triggered Campaign",
        "orchestrated": "Orchestrated Campaign",
    },
    "fr": {
        "journey": "Parcours",
        "action": "Campagne d’action",
        "api": "Campagne déclenchée par l’API",
        "orchestrated": "Campagne orchestrée",
    },
}

# Order matters: "Orchestrated campaign" before "campaign", "API-triggered" before "action".
_APPROACH_PATTERNS = (
    ("orchestrated", re.compile(r"orchestr", re.I)),
    ("api", re.compile(r"\bapi\b|api[- ]trigger", re.I)),
    ("action", re.compile(r"\baction\b|scheduled|planifi", re.I)),
    ("journey", re.compile(r"journey(?!\s+optimizer)|parcours", re.I)),
)

_APPROACH_QUESTION = re.compile(
    r"""
    \b(which|what)\b[^?]{0,40}\b(approach|option|type|kind|tool|feature|solution|one|method)\b
  | \bshould\s+(i|we)\s+(use|pick|choose|go\s+with|build)\b
  | \b(what|which)\s+(do|would|should)\s+(i|we|you)\s+(use|recommend|pick)\b
  | \bbest\s+(way|approach|option|choice|fit)\b
  | \brecommend
  | \bjourney\s+or\s+(a\s+)?campaign | \bcampaign\s+or\s+(a\s+)?journey
  | \bquel(le)?s?\s+(approche|option|type|outil|solution|m[ée]thode)
  | \b(dois|devons|doit|faut)[- ](je|nous|il|on)?\b[^?]{0,20}\butiliser
  | \bque\s+(dois|devons|faut|me\s+conseill|conseill)
  | \brecommand | \bmeilleur(e)?\s+(fa[çc]on|approche|option|choix)
  | \bparcours\s+ou\s+(une\s+)?campagne | \bcampagne\s+ou\s+(un\s+)?parcours
    """,
    re.I | re.X,
)
_CHECK = {"✅", "❌", "✔", "✔️", "✖", "❎"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý0-9«\"“(*])")
_LABEL_LINE = re.compile(r"^\s*(?:\*\*)?([^:*]{3,60}?)\s*:?\s*(?:\*\*)?\s*:?\s*$")


def is_approach_question(question: str) -> bool:
    return bool(_APPROACH_QUESTION.search(question))


def approach_of_label(label: str) -> str | None:
    """Map a short label (a table cell, a tab, a heading) to the approach it names."""
    for approach, pattern in _APPROACH_PATTERNS:
        if pattern.search(label):
            return approach
    return None


def split_sentences(text: str) -> list[str]:
    """Lines, then sentences within lines; list bullets kept as their own units."""
    units: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        units.extend(part.strip() for part in _SENTENCE_END.split(line) if part.strip())
    return units


def _overlap(query_terms: set[str], text: str, lang: str, analyze: Analyzer) -> float:
    terms = set(analyze(text, lang))
    if not terms or not query_terms:
        return 0.0
    return len(query_terms & terms) / math.sqrt(len(terms) + 1)


@dataclass(frozen=True)
class Composed:
    text: str
    citations: tuple[Citation, ...]
    approach: str | None


# ---- table rows ---------------------------------------------------------------------------


def _is_recommendation_table(cells: Sequence[tuple[str, str]]) -> int | None:
    """Column index of a "Recommended approach" column, if the row has one."""
    for i, (header, _) in enumerate(cells):
        if re.search(r"recommend|recommand", header, re.I):
            return i
    return None


def _is_check_row(cells: Sequence[tuple[str, str]]) -> bool:
    return len(cells) > 2 and all(cell.strip() in _CHECK for _, cell in cells[1:])


def _render_recommendation(cells, col: int, lang: str) -> tuple[str, str | None]:
    recommended = cells[col][1]
    others = [(h, c) for i, (h, c) in enumerate(cells) if i != col]
    need = others[0][1] if others else ""
    why = " ".join(c for _, c in others[1:])
    text = f"{recommended} — {why}" if why else recommended
    if need:
        text += f" ({need})"
    return text, approach_of_label(recommended)


def _render_check_row(cells, query_terms: set[str], lang: str, analyze: Analyzer) -> tuple[str, str | None]:
    label = cells[0][1]
    columns = list(cells[1:])
    mentioned = [c for c in columns if query_terms & set(analyze(c[0], lang))]
    yes = [c for c in columns if c[1].strip() in ("✅", "✔", "✔️") and c not in mentioned]
    no = [c for c in columns if c not in yes and c not in mentioned]
    ordered = mentioned + yes + no
    text = f"{label}: " + ", ".join(f"{h} {c}" for h, c in ordered)
    supported = [h for h, c in columns if c.strip() in ("✅", "✔", "✔️")]
    approach = approach_of_label(supported[0]) if len(supported) == 1 else None
    return text, approach


def _render_matrix_row(cells, query_terms: set[str], lang: str, analyze: Analyzer) -> tuple[str, str | None]:
    """A comparison-matrix row: name the column whose cell (or header) matches the question."""
    label_header, label = cells[0]
    scored = []
    for header, cell in cells[1:]:
        cell_hits = len(query_terms & set(analyze(cell, lang)))
        header_hits = len(query_terms & set(analyze(header, lang)))
        scored.append((cell_hits * 2 + header_hits, header, cell))
    scored.sort(key=lambda item: -item[0])
    if scored and scored[0][0] > 0 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        _, header, cell = scored[0]
        return f"{header} — {label}: {cell}", approach_of_label(header)
    return " | ".join(f"{h}: {c}" for h, c in cells), None


def render_row(hit: Hit, query_terms: set[str], lang: str, analyze: Analyzer) -> tuple[str, str | None]:
    cells = hit.chunk.cells
    col = _is_recommendation_table(cells)
    if col is not None:
        return _render_recommendation(cells, col, lang)
    if _is_check_row(cells):
        return _render_check_row(cells, query_terms, lang, analyze)
    return _render_matrix_row(cells, query_terms, lang, analyze)


# ---- prose ---------------------------------------------------------------------------------


def _body_units(hit: Hit) -> list[str]:
    units = split_sentences(hit.chunk.text)
    # A FAQ chunk starts with its question: the answer is what follows it.
    if hit.chunk.kind == "faq" and len(units) > 1 and units[0].rstrip().endswith("?"):
        units = units[1:]
    return [u for u in units if re.search(r"\w", u)]


def best_units(hit: Hit, query_terms: set[str], lang: str, analyze: Analyzer, *, limit: int = 3, budget: int = 480) -> list[str]:
    """The chunk's sentences that best answer the question, in document order."""
    units = _body_units(hit)
    if not units:
        return []
    scores = [_overlap(query_terms, u, lang, analyze) for u in units]
    # The first sentence of a FAQ answer is usually the direct answer: keep it in the running.
    if hit.chunk.kind == "faq":
        scores[0] += 0.25
    ranked = sorted(range(len(units)), key=lambda i: (-scores[i], i))
    chosen: list[int] = []
    used = 0
    for i in ranked:
        if len(chosen) >= limit or (chosen and scores[i] <= 0):
            break
        if chosen and used + len(units[i]) > budget:
            continue
        chosen.append(i)
        used += len(units[i])
    # A label line ("Two categories:") says little alone: take the items that follow it.
    if len(chosen) == 1 and units[chosen[0]].rstrip().endswith(":"):
        chosen.extend(range(chosen[0] + 1, min(len(units), chosen[0] + 4)))
    return [units[i] for i in sorted(set(chosen))]


def _label_for_unit(hit: Hit, unit: str) -> str | None:
    """The approach a sentence is filed under: the nearest label line above it, else the heading."""
    lines = [line.strip() for line in hit.chunk.text.splitlines() if line.strip()]
    label = None
    for line in lines:
        if unit in line or line in unit:
            break
        if line.endswith(":") and len(line) < 60:
            label = line
    for candidate in ([label] if label else []) + list(reversed(hit.chunk.heading_path)):
        approach = approach_of_label(candidate)
        if approach:
            return approach
    return None


def snippet_of(hit: Hit, query_terms: set[str], lang: str, analyze: Analyzer, width: int = 240) -> str:
    units = best_units(hit, query_terms, lang, analyze, limit=2, budget=width)
    text = " ".join(units) if units else hit.chunk.text
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def compose(
    question: str,
    lang: str,
    hits: Sequence[Hit],
    *,
    analyze: Analyzer,
) -> Composed:
    """Build the answer text and its citations from the ranked hits (not abstaining)."""
    query_terms = set(analyze(question, lang))
    wants_approach = is_approach_question(question)
    primary_index = _pick_primary(hits, wants_approach)
    primary = hits[primary_index]
    order = [primary_index]
    parts: list[str] = []
    approach: str | None = None

    if primary.chunk.kind == "table_row" and primary.chunk.cells:
        text, approach = render_row(primary, query_terms, lang, analyze)
        parts.append(f"{text} [1]")
    else:
        units = best_units(primary, query_terms, lang, analyze)
        if wants_approach:
            approach = next((a for a in (_label_for_unit(primary, u) for u in units) if a), None)
        body = " ".join(units) if units else primary.chunk.text.strip()
        if wants_approach and approach:
            parts.append(f"{RECOMMENDED[lang]} {APPROACH_LABEL[lang][approach]} — {body} [1]")
        else:
            parts.append(f"{body} [1]")

    # One supporting passage from another section, when it is nearly as relevant.
    support = _pick_support(hits, primary_index)
    if support is not None:
        units = best_units(hits[support], query_terms, lang, analyze, limit=2, budget=300)
        if units and _overlap(query_terms, " ".join(units), lang, analyze) > 0:
            order.append(support)
            parts.append(f"{' '.join(units)} [2]")

    citations = tuple(
        Citation(number=n, hit=hits[i], snippet=snippet_of(hits[i], query_terms, lang, analyze))
        for n, i in enumerate(order, start=1)
    )
    return Composed(text="\n".join(parts), citations=citations, approach=approach)


def _pick_primary(hits: Sequence[Hit], wants_approach: bool) -> int:
    if not wants_approach:
        return 0
    # A decision-table row that states the recommendation outranks prose that mentions it.
    for i, hit in enumerate(hits[:3]):
        if hit.chunk.kind == "table_row" and _is_recommendation_table(hit.chunk.cells) is not None:
            return i
    return 0


def _pick_support(hits: Sequence[Hit], primary: int) -> int | None:
    if len(hits) < 2:
        return None
    lead = hits[primary]
    for i, hit in enumerate(hits[:3]):
        if i == primary or hit.chunk.kind in ("table", "table_row", "code"):
            continue
        same_group = lead.chunk.group and hit.chunk.group == lead.chunk.group
        if not same_group and hit.score >= 0.85 * lead.score:
            return i
    return None


def abstention_text(lang: str) -> str:
    return ABSTAIN_TEXT.get(lang, ABSTAIN_TEXT["en"])


# ---- confidence ----------------------------------------------------------------------------

# Logistic model over retrieval evidence; coefficients fitted by scripts/calibrate.py on
# our own in-scope and out-of-scope questions (eval/), then written here.
CONFIDENCE_WEIGHTS = {"bias": -9.0, "top_dense": 12.0, "coverage": 4.0, "agreement": 1.0}
ABSTAIN_BELOW = 0.5


def confidence(top_dense: float, coverage: float, agreement: float, weights: dict | None = None) -> float:
    w = weights or CONFIDENCE_WEIGHTS
    z = w["bias"] + w["top_dense"] * top_dense + w["coverage"] * coverage + w["agreement"] * agreement
    return 1.0 / (1.0 + math.exp(-z))
