"""Grounded extractive answers: every sentence comes from a cited chunk.

Pure functions over hits. The only words kb adds are light connectives ("Recommended:",
a dash between a label and its cell, the abstention sentence).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

from kb_service.understand.vocabulary import related_words
from kb_service.types import Citation, Hit

Analyzer = Callable[[str, str], list[str]]
TermWeight = Callable[[str], float]  # an analysed word -> how telling it is

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
    \b(which|what)\b[^?]{0,40}\b(approach(es)?|options?|types?|kinds?|tools?|features?|solutions?|one|methods?|ways?)\b
  | \b(should|do|can|would)\s+(i|we)\s+(use|pick|choose|go\s+with|build|set\s+up|create)\b
  | \bwhat\s+(do|should|would|can)\s+(i|we|you)\s+(use|recommend|pick|build|do)\b
  | \bwhat\s+do\s+(most\s+)?(people|teams|companies|marketers|others|brands)\s+(usually\s+|typically\s+)?use\b
  | \bwhich\b[^?]{0,60}\b(fits?|suits?|supports?|handles?|offers?|lets?|gives?|provides?)\b
  | \bwhat('s|\s+is)\s+(the\s+)?(right|best|recommended|usual|easiest|simplest)\b
  | \bbest\s+(way|approach|option|choice|fit)\b | \brecommend
  | \bhow\s+(do|can|should|would|could)\s+(i|we)\b | \bhow\s+to\b
  | \bjourney\s+or\s+(an?\s+)?\w*\s*campaign | \bcampaign\s+or\s+(a\s+)?journey
  | \bquel(le)?s?\s+(approche|option|type|outil|solution|m[ée]thode|campagne)
  | \bquel(le)?s?\s+(est|sont)\s+(l['’]|les?\s+|la\s+)(approche|option|solution|meilleur)
  | \bwhich\s+(is|one\s+is)\s+(the\s+)?(simplest|easiest|best|better|right|quickest)
  | \b(dois|devons|doit|faut)[- ](je|nous|il|on)?\b[^?]{0,20}\butiliser
  | \bque\s+(dois|devons|faut|me\s+conseill|conseill|choisir|prendre|utiliser)
  | \b(j'utilise|on\s+utilise|on\s+part\s+sur|je\s+prends|on\s+prend|utiliser|choisir)\s+quoi\b
  | \bquoi\s+utiliser\b | \b(pars|part|partir|partons)\s+sur\s+quoi\b | \b(lequel|laquelle)\s*\? | \bcomment\s+(faire|envoyer|cr[ée]er|r[ée]activer|cibler|relancer|configurer|mettre)
  | \brecommand | \bmeilleur(e)?\s+(fa[çc]on|approche|option|choix)
  | \bparcours\s+ou\s+(une\s+)?campagne | \bcampagne\s+ou\s+(un\s+)?parcours
    """,
    re.I | re.X,
)
# Sections whose content is a recommendation of one approach (use cases, decision guides).
_RECOMMENDING_SECTION = re.compile(r"use case|cas d.utilisation|decision|d[ée]cision|when to use|quand utiliser|perfect for|id[ée]al", re.I)
_CHECK = {"✅", "❌", "✔", "✔️", "✖", "❎"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý0-9«\"“(*])")


# A use case typed as a statement, not a question ("birthday coupon email for each customer
# on their special day"): someone describing what to send wants to know how to send it.
_USE_CASE_STATEMENT = re.compile(
    r"\b(e-?mails?|sms|push|messages?|coupons?|offers?|promos?|blasts?|newsletters?|digests?|notifications?|alerts?"
    r"|reminders?|announcements?|invit(e|es|ation|ations)|greetings?|campaigns?"
    r"|courriels?|offres?|campagnes?|relances?|rappels?|alertes?|annonces?|vœux)\b"
    r"[^?]{0,60}\b(each|every|all|chaque|tous|toutes)\b",
    re.I,
)


@lru_cache(maxsize=4096)  # asked twice per question: for the retrieval boost and the composer
def is_approach_question(question: str) -> bool:
    if _APPROACH_QUESTION.search(question):
        return True
    return "?" not in question and bool(_USE_CASE_STATEMENT.search(question))


def approach_of_label(label: str) -> str | None:
    """The one approach a short label (table cell, tab, heading, lead-in) names, else None.

    A label naming two approaches ("Journeys vs Campaigns", "Action or API-triggered
    Campaigns") names none: it is a comparison, not a recommendation.
    """
    if re.search(r"\bvs\b|\bversus\b", label, re.I):
        return None
    named = [approach for approach, pattern in _APPROACH_PATTERNS if pattern.search(label)]
    return named[0] if len(named) == 1 else None


_GENERIC_CAMPAIGNS = re.compile(r"\bcampaigns?\b|\bcampagnes?\b", re.I)
# What the docs say tells an API-triggered campaign from an action campaign: another system
# triggers it (order confirmations, shipping notifications, password resets, account alerts).
_API_CUES = re.compile(
    r"\bapi\b|trigger|d[ée]clench|external system|syst[èe]me externe|transaction|webhook|order confirm|"
    r"confirmations? de commande|password|mot de passe|shipping|exp[ée]di|colis|parcel|receipt|re[çc]u\b|fraud|"
    r"account alert|alertes? de compte",
    re.I,
)
CAMPAIGNS = "campaigns"  # an attribution to "Campaigns (Action & API)", not yet to one of them


def names_campaigns_generically(label: str) -> bool:
    """"Campaigns: simple batch or triggered delivery", "Use Action or API-triggered Campaigns"."""
    return bool(_GENERIC_CAMPAIGNS.search(label)) and "orchestr" not in label.lower() and approach_of_label(label) is None


def label_approach(label: str) -> str | None:
    """The approach a label names, or CAMPAIGNS for "Campaigns" without a type, or None."""
    return approach_of_label(label) or (CAMPAIGNS if names_campaigns_generically(label) else None)


def campaign_kind(question: str) -> str:
    """Which of the two campaign types a question is about: "api" when another system
    triggers the message, else "action" (scheduled, one-time or recurring delivery)."""
    return "api" if _API_CUES.search(question) else "action"


# How the docs name an approach in running text (stricter than labels: "action" alone is
# a common word, "orchestration" is used of journeys too).
_APPROACH_NAMES = (
    ("orchestrated", re.compile(r"orchestrated campaigns?|campaign orchestration|campagnes? orchestr[ée]+s?|orchestration de campagnes?", re.I)),
    ("api", re.compile(r"api[- ]triggered|d[ée]clench[ée]+s? par (l['’])?api", re.I)),
    ("action", re.compile(r"action campaigns?|scheduled campaigns?|campagnes? d['’]action", re.I)),
    ("journey", re.compile(r"\bjourneys?\b(?!\s+optimizer)|\bparcours\b", re.I)),
)


def approach_named_at_start(sentence: str, window: int = 6) -> str | None:
    """The approach a sentence opens with ("API-triggered Campaigns for transactional …")."""
    opening = " ".join(sentence.lstrip("-*•→ ").split()[:window])
    found = [(m.start(), name) for name, pattern in _APPROACH_NAMES for m in [pattern.search(opening)] if m]
    return min(found)[1] if found else None


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
    """A comparison-matrix row: name the column(s) the question is about.

    A column named in the question ("do campaigns keep state?") counts most; otherwise the
    cell whose words match ("newsletters" in the Campaigns column of "Best for").
    """
    label = cells[0][1]
    scored = []
    for header, cell in cells[1:]:
        cell_hits = len(query_terms & set(analyze(cell, lang)))
        header_hits = len(query_terms & set(analyze(header, lang)))
        scored.append((3 * header_hits + cell_hits, header, cell))
    top = max((score for score, _, _ in scored), default=0)
    chosen = [(header, cell) for score, header, cell in scored if score == top and top > 0]
    if chosen and len(chosen) < len(scored):
        text = "; ".join(f"{header} — {label}: {cell}" for header, cell in chosen)
        if len(chosen) != 1:
            return text, None
        return text, label_approach(chosen[0][0])
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


_ANSWER_MARK = re.compile(r"^(?:A|R)\s?:\s*")  # "A: Yes, …" / "R : Oui, …" in Q/A pairs


def _body_units(hit: Hit) -> list[str]:
    return list(_sentences_of(hit.chunk.text, hit.chunk.kind))


# The same chunks come back question after question: their sentences are split once.
# Bounded, like the analyzer's cache, so a reloaded or growing corpus cannot grow it forever.
@lru_cache(maxsize=8192)
def _sentences_of(text: str, kind: str) -> tuple[str, ...]:
    units = [_ANSWER_MARK.sub("", unit) for unit in split_sentences(text)]
    # A FAQ chunk starts with its question: the answer is what follows it.
    if kind == "faq" and len(units) > 1 and units[0].rstrip().endswith("?"):
        units = units[1:]
    return tuple(u for u in units if re.search(r"\w", u))


def best_units(hit: Hit, query_terms: set[str], lang: str, analyze: Analyzer, *, limit: int = 3, budget: int = 480) -> list[str]:
    """The chunk's sentences that best answer the question, in document order."""
    units = _body_units(hit)
    if not units:
        return []
    scores = [_overlap(query_terms, u, lang, analyze) for u in units]
    # The list item that retrieval matched is the part of the chunk that answers, when its
    # own words (not just its section's heading) share something with the question.
    if hit.focus and _overlap(query_terms, hit.focus, lang, analyze) > 0:
        focus = " ".join(hit.focus.split())
        scores = [score + (2.0 if " ".join(u.split()) in focus else 0.0) for score, u in zip(scores, units)]
    # The first sentence of a FAQ answer is usually the direct answer: keep it in the running.
    if hit.chunk.kind == "faq":
        scores[0] += 0.25
    # A bare label ("Action Campaigns:") only introduces what follows it.
    scores = [score * 0.3 if _is_label(u) else score for score, u in zip(scores, units)]
    ranked = sorted(range(len(units)), key=lambda i: (-scores[i], i))
    best = scores[ranked[0]]
    chosen: list[int] = []
    used = 0
    for i in ranked:
        # Further sentences must be nearly as relevant as the best one, or they are noise.
        if len(chosen) >= limit or (chosen and (scores[i] <= 0 or scores[i] < 0.5 * best)):
            break
        if chosen and used + len(units[i]) > budget:
            continue
        chosen.append(i)
        used += len(units[i])
    # A label line ("Two categories:") says little alone: take the items that follow it.
    if len(chosen) == 1 and units[chosen[0]].rstrip().endswith(":"):
        chosen.extend(range(chosen[0] + 1, min(len(units), chosen[0] + 4)))
    return [units[i] for i in sorted(set(chosen))]


_CAPABILITY_QUESTION = re.compile(
    r"^\W*(can|could|do|does|is|are|will)\b.*\b(journeys?|campaigns?)\b"
    r"|\b(which|what)\b[^?]{0,30}\b(approach|approaches|types?|ones?)\b[^?]{0,20}\b(support|supports|offer|offers|have|has|allow|allows|let|lets)\b"
    r"|^\W*(peut-on|puis-je|est-ce que|les\s+\w+\s+peuvent|\w+\s+(prend|prennent)\s+en\s+charge)"
    r"|\bquel(le)?s?\s+(approches?|types?)\b[^?]{0,30}\b(prennent|prend|permettent|permet|gèrent|gère|proposent|propose|supportent)\b"
    r"|\bdispo(nible)?s?\b",
    re.I,
)


def is_capability_question(question: str) -> bool:
    """Yes/no or "which ones support …" questions: the feature matrices answer them."""
    return bool(_CAPABILITY_QUESTION.search(question))


def is_check_row(chunk) -> bool:
    return chunk.kind == "table_row" and _is_check_row(chunk.cells)


def is_recommending(chunk) -> bool:
    """Chunks whose section recommends an approach: decision-table rows, use cases, "when to use"."""
    if chunk.kind == "table_row" and _is_recommendation_table(chunk.cells) is not None:
        return True
    return any(_RECOMMENDING_SECTION.search(heading) for heading in chunk.heading_path)


_BULLET = re.compile(r"^\s*[-*•]\s+")


def join_units(units: Sequence[str]) -> str:
    """Sentences side by side; list items lose their bullet and are separated by "; "."""
    out = ""
    for unit in units:
        text = _BULLET.sub("", unit).strip()
        if out:
            out += " " if out.endswith((".", "!", "?", ":", "…")) else "; "
        out += text
    return out


def _is_label(unit: str) -> bool:
    return unit.rstrip().endswith(":") and len(unit.split()) <= 5


@dataclass(frozen=True)
class Attribution:
    approach: str
    # How directly the docs tie the sentence to the approach: "sentence" (it names it first),
    # "label" (a lead-in or decision step above it), "heading", or "title" (the page's subject).
    level: str
    recommending: bool  # the section recommends approaches (use cases, decision guide)


def attribute(hit: Hit, unit: str) -> Attribution | None:
    """Which approach the docs file ``unit`` (a sentence of ``hit``) under, and how directly."""
    chunk = hit.chunk
    recommending = any(_RECOMMENDING_SECTION.search(h) for h in chunk.heading_path)
    approach = approach_named_at_start(unit)
    if approach:
        return Attribution(approach, "sentence", recommending)
    # Lines above the sentence in the embedded text: labels ("Action Campaigns:") and decision
    # steps ("… → Use Orchestrated Campaigns"), nearest first; the line after it when it is
    # the step's "→ Use …".
    lines = [line.strip() for line in chunk.embed_text.splitlines()[1:] if line.strip()]
    position = next((i for i, line in enumerate(lines) if unit in line or line in unit), len(lines))
    below = lines[position + 1] if position + 1 < len(lines) else ""
    candidates = [below] if below.startswith("→") else []
    candidates += [line for line in reversed(lines[:position]) if line.endswith(":") or "→" in line][:1]
    for line in candidates:
        approach = label_approach(line.split("→")[-1] if "→" in line else line)
        if approach:
            return Attribution(approach, "label", True)
    for heading in reversed(chunk.heading_path):
        approach = label_approach(heading)
        if approach:
            return Attribution(approach, "heading", recommending)
    approach = approach_of_label(chunk.title)
    return Attribution(approach, "title", recommending) if approach else None


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
    term_weight: TermWeight | None = None,
) -> Composed:
    """Build the answer text and its citations from the ranked hits (not abstaining).

    When the question asks which approach to take (or how to do a marketing task), and the
    docs file the answering sentence under one approach, the answer names it first.
    ``term_weight`` says how telling a word is (the corpus IDF); without it every word counts 1.
    """
    query_terms = set(analyze(question, lang))
    wants_approach = is_approach_question(question)
    weight = term_weight or _every_word_counts_one
    primary_index = _pick_primary(question, hits, wants_approach, query_terms, lang, analyze, weight)
    primary = hits[primary_index]
    order = [primary_index]
    parts: list[str] = []
    approach: str | None = None

    if primary.chunk.kind == "table_row" and primary.chunk.cells:
        text, approach = render_row(primary, query_terms, lang, analyze)
        if approach == CAMPAIGNS:
            # The "Campaigns (Action & API)" column: someone choosing is told which type first.
            approach = campaign_kind(question) if wants_approach else None
            if approach:
                text = f"{RECOMMENDED[lang]} {APPROACH_LABEL[lang][approach]} — {text}"
        parts.append(f"{text} [1]")
    else:
        # Retrieval may have matched the passage through the docs' word for the user's
        # ("shop" -> "store", "parcel" -> "shipping"), so those words count too.
        matched_terms = query_terms | _docs_words_for(question, lang, analyze)
        units = best_units(primary, matched_terms, lang, analyze)
        # The list item retrieval matched says best which approach the answer is about.
        focus = primary.focus if primary.focus and _overlap(matched_terms, primary.focus, lang, analyze) > 0 else None
        # Of the quoted sentences, the one sharing most with the question names the approach:
        # "use all three approaches: Journeys for behavioral …; Action Campaigns for scheduled
        # broadcast …" answers a broadcast question with the second, not the first it lists.
        by_match = sorted(units, key=lambda u: -_overlap(matched_terms, u, lang, analyze))
        candidates = ([focus] if focus else []) + by_match
        attribution = next((a for a in (attribute(primary, u) for u in candidates) if a), None)
        if attribution is not None and attribution.approach == CAMPAIGNS:
            # Which campaign type only matters to someone choosing one; otherwise name none.
            attribution = (Attribution(campaign_kind(question), attribution.level, attribution.recommending)
                           if wants_approach else None)
        body = join_units(units) if units else primary.chunk.text.strip()
        named = attribution is not None and (
            wants_approach or attribution.level in ("sentence", "label") or attribution.recommending
        )
        # The approach goes first, in the guide's own name for it, whenever the user asked
        # which one to use (even if the sentence names it too, further in).
        if named and (wants_approach or attribution.level != "sentence"):
            approach = attribution.approach
            lead = RECOMMENDED[lang] + " " if (wants_approach or attribution.recommending) else ""
            parts.append(f"{lead}{APPROACH_LABEL[lang][approach]} — {body} [1]")
        else:
            approach = attribution.approach if named else None
            parts.append(f"{body} [1]")

    # One supporting passage from another section, when it is nearly as relevant.
    support = _pick_support(hits, primary_index)
    if support is not None:
        units = best_units(hits[support], query_terms, lang, analyze, limit=2, budget=300)
        if units and _overlap(query_terms, " ".join(units), lang, analyze) > 0:
            order.append(support)
            parts.append(f"{join_units(units)} [2]")

    citations = tuple(
        Citation(number=n, hit=hits[i], snippet=snippet_of(hits[i], query_terms, lang, analyze))
        for n, i in enumerate(order, start=1)
    )
    return Composed(text="\n".join(parts), citations=citations, approach=approach)


# How far down a use case or decision step matched for the need may be and still answer
# instead of the top passage (own set: 3 fixed q110, 4 also q150, 5 also q013, whose
# "Shipping notifications" use case ranks 5th behind a decision row; nothing else moved).
USE_CASE_REACH = 5


def _every_word_counts_one(term: str) -> float:
    return 1.0


def _pick_primary(
    question: str, hits: Sequence[Hit], wants_approach: bool, query_terms: set[str], lang: str, analyze: Analyzer,
    weight: TermWeight,
) -> int:
    """The hit to answer from: the top one, unless a decision-table row about this very need
    is close behind (its "need" cell shares at least half its words with the question), or
    a feature-matrix row whose own label the question names more closely, or (approach
    questions) a passage close behind says more about the need than the top one."""
    checked = _closest_check_row(hits, query_terms, lang, analyze)
    if checked is not None:
        return checked
    if not wants_approach:
        return 0
    for i, hit in enumerate(hits[:3]):
        cells = hit.chunk.cells
        column = _is_recommendation_table(cells) if hit.chunk.kind == "table_row" else None
        if column is None:
            continue
        if _row_matches_need(hit, column, query_terms, lang, analyze):
            return i
    top = hits[0]
    if top.chunk.kind == "table_row" and _is_recommendation_table(top.chunk.cells) is not None:
        return _instead_of_decision_row(hits, _need_terms(question, lang, analyze), lang, analyze, weight)
    if top.chunk.kind not in ("table", "table_row") and not asks_how(question):
        need = _need_terms(question, lang, analyze)
        return _matched_use_case(hits, need, lang, analyze) or _says_more_of_the_need(hits, need, lang, analyze, weight)
    return 0


_HOW_QUESTION = re.compile(
    r"\bhow\s+(do|can|should|would|could)\s+(i|we)\b|\bhow\s+to\b|\bcomment\b", re.I
)


def asks_how(question: str) -> bool:
    """"How would I put together a welcome series?": the asker has chosen and wants the steps,
    which a how-to passage gives better than the use case that names the approach."""
    return bool(_HOW_QUESTION.search(question))


def _instead_of_decision_row(
    hits: Sequence[Hit], need: set[str], lang: str, analyze: Analyzer, weight: TermWeight
) -> int:
    """A decision row about another need (retrieved for its "why" words) is a poor answer
    when a passage close behind ties an approach to this one: of those, the one whose
    answering sentence shares most with the question (the use case "Time-sensitive offers
    to target audiences", not the decision step that merely shares "need").

    Shared words count by how telling they are: "Shipping notifications: Triggered by
    logistics system" answers "tell customers when their parcel has left" through
    "shipping" and "logistics", which few passages use, while a welcome-series FAQ shares
    only "customers" and "when", which most do."""
    best = _best_passage_behind(hits, need, lang, analyze, weight)
    return best[0] if best is not None else 0


def _matched_use_case(hits: Sequence[Hit], need: set[str], lang: str, analyze: Analyzer) -> int:
    """The top passage, unless a use case or decision step close behind matched an item that
    holds more of the need's words than anything the top passage would quote.

    "Seasonal greetings: Holiday messages on specific dates" answers "which approach for
    end-of-year greetings to everyone on a set date?", not a FAQ example about stopping an
    end-of-year journey, nor "Birthday campaigns" found for the word "date".
    """
    cases = [
        (i, len(need & set(analyze(hit.focus, lang))))
        for i, hit in enumerate(hits[1:USE_CASE_REACH], start=1)
        if hit.focus and hit.chunk.kind not in ("table", "table_row", "code") and is_recommending(hit.chunk)
    ]
    best = max(cases, key=lambda case: (case[1], -case[0]), default=None)
    if best is not None and best[1] > _shared_need(hits[0], need, lang, analyze):
        return best[0]
    return 0


# How much more of the need a passage close behind must say than the top one to answer
# instead (own set: at 1.0 q007's catalogue promotion lost its answer to "Seasonal greetings";
# at 1.5 q034 is fixed, 1.58 times its top passage, and nothing else moved on any set).
CLEARLY_MORE = 1.5


def _says_more_of_the_need(
    hits: Sequence[Hit], need: set[str], lang: str, analyze: Analyzer, weight: TermWeight
) -> int:
    """The top passage, unless one close behind that ties an approach to what it says
    quotes clearly more of the need, by the weight of its words.

    "Simple one-time message to an audience at a specific time": "Action campaigns … run at
    a specific time" (simple, specific, time) says more than the use case "Multi-booking
    communications: Send one message per booking" retrieval put first (one, message)."""
    best = _best_passage_behind(hits, need, lang, analyze, weight)
    if best is not None and best[1] > CLEARLY_MORE * _answer_overlap(hits[0], need, lang, analyze, weight):
        return best[0]
    return 0


def _best_passage_behind(
    hits: Sequence[Hit], need: set[str], lang: str, analyze: Analyzer, weight: TermWeight
) -> tuple[int, float] | None:
    """Of the passages within USE_CASE_REACH behind the top that tie an approach to what
    they say, the one quoting most of the need (the earlier on a tie), with that amount."""
    passages = [
        (i, _answer_overlap(hit, need, lang, analyze, weight))
        for i, hit in enumerate(hits[1:USE_CASE_REACH], start=1)
        if hit.chunk.kind not in ("table", "table_row", "code") and _ties_to_approach(hit)
    ]
    return max(passages, key=lambda passage: (passage[1], -passage[0]), default=None)


def _ties_to_approach(hit: Hit) -> bool:
    """The passage recommends approaches, or sits under a heading naming one ("Get started
    with orchestrated campaigns > Core capabilities")."""
    return is_recommending(hit.chunk) or any(approach_of_label(h) for h in hit.chunk.heading_path)


# Words that ask for a choice rather than describe the need: "Follow this decision tree to
# choose the right approach" or "Which journey type fits?" share them with every "which
# approach?" question. The lexical analyser keeps question words and pronouns.
_ASKING_WORDS = {
    "en": "approach approaches recommend recommended recommendation option options choose choice pick best right use need "
          "which what how who should could would can do does we us our i you",
    "fr": "approche approches recommander recommandé recommandation option options choisir choix meilleur utiliser besoin "
          "quel quelle quels quelles quoi comment dois faut",
}


def _docs_words_for(question: str, lang: str, analyze: Analyzer) -> set[str]:
    """The docs' words for the question's own (whole vocabulary-group entries only)."""
    return set(analyze(related_words(question, lang, whole_entries=True), lang))


def _need_terms(question: str, lang: str, analyze: Analyzer) -> set[str]:
    """The question's words about the need itself, with the docs' words for them
    ("delivery status" -> shipping, logistics), without the words asking for a choice."""
    words = set(analyze(question, lang)) | _docs_words_for(question, lang, analyze)
    return words - set(analyze(_ASKING_WORDS.get(lang, ""), lang))


def _quoted_units(hit: Hit, need: set[str], lang: str, analyze: Analyzer) -> list[str]:
    """What the answer would quote from ``hit``: its best sentence for the need, and the
    list item retrieval matched."""
    units = best_units(hit, need, lang, analyze, limit=1)
    if hit.focus:
        units.append(hit.focus)
    return units


def _shared_need(hit: Hit, need: set[str], lang: str, analyze: Analyzer) -> int:
    """How many of the need's words the sentence the answer would quote from ``hit`` holds.

    A count, not a length-normalised overlap: a short item ("Seasonal greetings: Holiday
    messages on specific dates") must not beat a longer one that says more of the need.
    """
    return max((len(need & set(analyze(unit, lang))) for unit in _quoted_units(hit, need, lang, analyze)), default=0)


def _answer_overlap(hit: Hit, need: set[str], lang: str, analyze: Analyzer, weight: TermWeight) -> float:
    """How much the sentence the answer would quote from ``hit`` says about the need: the
    summed weight of the need's words it holds. Not divided by the sentence's length: the
    quoted units are single sentences or list items already, and a short item must not win
    on one rare word ("Product back in stock" for "win back customers who went inactive")."""
    best = 0.0
    for unit in _quoted_units(hit, need, lang, analyze):
        best = max(best, sum(weight(t) for t in need & set(analyze(unit, lang))))
    return best


def _closest_check_row(hits: Sequence[Hit], query_terms: set[str], lang: str, analyze: Analyzer) -> int | None:
    """When the top hit is a ✅/❌ matrix row, the row among the top 3 whose label (the feature,
    "API triggering") shares the most words with the question, if that beats the top row's.

    Every row of such a matrix repeats the column headers (Journeys, API-triggered Campaigns)
    in its text, so retrieval tells its rows apart by little more than one label word: "can I
    trigger a journey directly with an API call?" put "Direct mail" first on "directly".
    """
    rows = [(i, h) for i, h in enumerate(hits[:3]) if h.chunk.kind == "table_row" and _is_check_row(h.chunk.cells)]
    if not rows or rows[0][0] != 0:
        return None

    def label_overlap(hit: Hit) -> int:
        return len(query_terms & set(analyze(hit.chunk.cells[0][1], lang)))

    best = max(rows, key=lambda pair: (label_overlap(pair[1]), -pair[0]))
    return best[0] if label_overlap(best[1]) > label_overlap(hits[0]) else None


def _row_matches_need(hit: Hit, column: int, query_terms: set[str], lang: str, analyze: Analyzer) -> bool:
    """The row's "need" cell shares at least half its words with the question."""
    need = next((cell for j, (_, cell) in enumerate(hit.chunk.cells) if j != column), "")
    need_terms = set(analyze(need, lang))
    return bool(need_terms) and len(need_terms & query_terms) >= 0.5 * len(need_terms)


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


# ---- answer type ---------------------------------------------------------------------------

# Questions whose answer must be a price, or a number about their subject. Retrieval finds the
# right topic for "how much does Journey Optimizer cost?" (pages about Journey Optimizer),
# so confidence alone cannot tell that the docs never state the figure; this check can.
_PRICE_QUESTION = re.compile(
    r"\bhow much\b[^?]*\b(cost|pay|charge)|\b(cost|price|fee|fees)\s+(of|for|per)\b"
    r"|\bwhat (is|are|'s) the (cost|price|pricing|fees?)\b|\bpricing\b|\blicen[cs]e (cost|price|fee)s?\b"
    r"|\bcombien\s+co[uû]te|\b(co[uû]t|prix|tarif)s?\s+(de|du|d['’]|des|par|pour)\b|\btarification\b",
    re.I,
)
# The asker's own pricing system is not a question about price: "our pricing engine fires an
# event when a flash sale starts", "notre outil de pricing publie un événement".
_OWN_PRICING_SYSTEM = re.compile(
    r"\b(pricing|tarification)\s+(tool|engine|system|team|platform|service|api)s?\b"
    r"|\b(outil|moteur|syst[eè]me|[ée]quipe|plateforme|service)s?\s+de\s+(pricing|tarification)\b",
    re.I,
)
_MONEY = re.compile(r"[$€£¥]|\b(usd|eur|gbp|dollars?|euros?)\b", re.I)
# Only questions that ask for the figure itself ("how many journeys can I publish?"), not
# ones that mention a count on the way ("how can I see how many people are in my journey?").
_QUANTITY_QUESTION = re.compile(
    r"^\W*(how (many|long|big|large)\b|what('s| is) the (maximum|max|limit|minimum)\b)"
    r"|^\W*(combien de\b|quel(le)?s? (est|sont) (le|la|les) (nombre|dur[ée]e|limite|taille|quantit[ée]))",
    re.I,
)
_DIGIT = re.compile(r"\d")
_QUANTITY_WORDS = {
    "en": "maximum max minimum number numbers limit limits many long count amount size",
    "fr": "maximum maximal maximale minimum nombre nombres limite limites durée combien quantité taille",
}


def missing_answer_type(question: str, lang: str, hits: Sequence[Hit], subject_terms: set[str], analyze: Analyzer) -> str | None:
    """Why the best hits cannot answer a price or quantity question, or None if they can.

    A price question needs a currency amount in the hits; a quantity question needs a
    sentence holding both a number and the question's subject (its rarest words).
    """
    texts = [h.chunk.text for h in hits[:3]]
    if _PRICE_QUESTION.search(_OWN_PRICING_SYSTEM.sub(" ", question)):
        if not any(_MONEY.search(t) for t in texts):
            return "the documentation states no price"
        return None
    # The words that ask for the figure ("maximum", "nombre") are not what it is a figure of.
    subject_terms = subject_terms - set(analyze(_QUANTITY_WORDS[lang], lang))
    # "How many … — which approach gives that number?" asks for an approach, not a figure.
    asks_for_approach = re.search(r"\b(approach|approche|option|type)s?\b", question, re.I)
    if _QUANTITY_QUESTION.search(question) and subject_terms and not asks_for_approach:
        # Or two of the question's own words: "Journeys are limited to a maximum of 50
        # activities" answers "how many activities can a single journey hold?", whose
        # rarest words ("hold", "single") are not what it counts.
        content = set(analyze(question, lang)) - set(analyze(_QUANTITY_WORDS[lang] + " " + _ASKING_WORDS[lang], lang))
        for text in texts:
            for sentence in split_sentences(text):
                if _DIGIT.search(sentence):
                    words = set(analyze(sentence, lang))
                    if subject_terms & words or len(content & words) >= 2:
                        return None
        return "the documentation gives no figure for this"
    return None


# ---- confidence ----------------------------------------------------------------------------

# A logistic model over retrieval evidence. The coefficients are fitted by
# scripts/calibrate.py on our own in-scope and out-of-scope questions (eval/) and stored in
# calibration.json beside this file; these defaults are only used if that file is missing.
FEATURES = [
    "top_dense", "coverage", "lexical_per_term", "agreement", "unknown_terms", "unknown_names", "top_coverage", "french",
]
_DEFAULT_CALIBRATION = {
    "weights": {"bias": -9.0, "top_dense": 12.0, "coverage": 4.0, "lexical_per_term": 0.0, "agreement": 1.0},
    "threshold": 0.5,
}


def _load_calibration() -> dict:
    import json
    from pathlib import Path

    path = Path(__file__).with_name("calibration.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _DEFAULT_CALIBRATION


CALIBRATION = _load_calibration()
ABSTAIN_BELOW = float(CALIBRATION.get("threshold", 0.5))


def features_of(result) -> dict[str, float]:
    """Evidence that the docs answer the question, from one RetrievalResult."""
    top = result.hits[0] if result.hits else None
    agreement = 1.0 if top is not None and top.dense_score is not None and top.lexical_score is not None else 0.0
    return {
        "top_dense": float(result.top_dense),
        "coverage": float(result.coverage),
        "lexical_per_term": float(result.top_lexical) / max(1, result.query_terms),
        "agreement": agreement,
        # Words the docs never use ("Kubernetes", "Salesforce", "crêpes") mark a question
        # about something else; the count matters more than the share for long questions.
        "unknown_terms": float(round(result.query_terms * (1.0 - result.coverage))),
        "unknown_names": float(result.unknown_names),
        "top_coverage": float(result.top_coverage),
        # The embedding model is English-only: French cosines run higher for unrelated text.
        "french": 1.0 if result.lang == "fr" else 0.0,
    }


def confidence(features: dict[str, float], calibration: dict | None = None) -> float:
    weights = (calibration or CALIBRATION)["weights"]
    z = weights["bias"] + sum(weights.get(name, 0.0) * value for name, value in features.items())
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
