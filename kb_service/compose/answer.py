"""Compose: the answer text and its citations, every sentence the docs' own (pure).

For a question that asks to choose, the options' evidence is weighed (compose.choice) and
the answer names the recommended option first, in the guide's own name for it, followed
by the unit that speaks for it; when two options are close, both, with what separates
them. Every other question is answered by the best whole units of the best passage
(compose.extract), with one supporting passage from another section when it is nearly as
good. The only words kb adds are light connectives ("Recommended:", "or", a dash) and the
abstention sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from kb_service.compose.choice import Candidate, Choice, decide
from kb_service.compose.extract import Quote, quote, render
from kb_service.compose.passages import Analyzer, Passage, TermWeight
from kb_service.text.options import OptionCatalog
from kb_service.text.units import plain
from kb_service.types import Citation, QueryAnalysis

ABSTAIN_TEXT = {
    "en": "The documentation doesn't cover this.",
    "fr": "La documentation ne couvre pas ce sujet.",
}
RECOMMENDED = {"en": "Recommended:", "fr": "Recommandé :"}
DEPENDS = {"en": "{a} or {b}, depending on the need:", "fr": "{a} ou {b}, selon le besoin :"}
# A second passage is quoted when retrieval ranked it nearly as high and its best unit is
# nearly as close to the question as the first passage's.
SUPPORT_SCORE = 0.85
SUPPORT_READ = 3
SNIPPET_CHARS = 240


@dataclass(frozen=True)
class Composed:
    text: str
    citations: tuple[Citation, ...]
    approach: str | None


def abstention_text(lang: str) -> str:
    return ABSTAIN_TEXT.get(lang, ABSTAIN_TEXT["en"])


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"


def compose(
    analysis: QueryAnalysis,
    passages: Sequence[Passage],
    *,
    catalog: OptionCatalog,
    prototypes: Mapping[str, float],
    analyze: Analyzer,
    weight: TermWeight,
    docs_words: str = "",
    candidates: Sequence[Candidate] = (),
) -> Composed:
    """The answer from ``passages`` (ranked; not abstaining), in the passages' language.
    ``docs_words``: the docs' words for the question's own (profile vocabulary)."""
    lang = passages[0].chunk.lang
    terms = set(analyze(analysis.query, lang))
    if analysis.intent == "choose" and catalog:
        members = {o: catalog.members(o) for o in catalog.options}
        need = set(analyze(f"{analysis.need or analysis.query} {docs_words}", lang))
        choice = decide(passages, members, prototypes, need, analyze, weight, candidates)
        if choice is not None:
            return _choice_answer(choice, choice.passages, analysis, terms, catalog, lang, analyze, weight)
    return _extract_answer(passages, analysis, terms, lang, analyze, weight)


def _cite(parts: list[str], citations: list[Citation], passage: Passage, text: str) -> None:
    number = next((c.number for c in citations if c.hit.chunk.chunk_id == passage.chunk.chunk_id), None)
    if number is None:
        number = len(citations) + 1
        citations.append(Citation(number=number, hit=passage.hit, snippet=_snippet(text)))
    parts.append(f"{text} [{number}]")


def _speaking_text(passage: Passage, unit_index: int, option: str, catalog: OptionCatalog) -> str:
    """What a unit says for its option: a decision row as its need and its why; a unit with
    the lead-in that gives it sense."""
    chunk = passage.chunk
    columns = [column for column, o in passage.matrix.items() if o == option]
    if columns and columns[0] < len(chunk.cells):
        # A comparison-matrix row: the row's label and the option's own cell.
        return f"{plain(chunk.cells[0][1])}: {plain(chunk.cells[columns[0]][1])}"
    if chunk.kind == "table_row" and chunk.cells:
        cells = [(h, c) for h, c in chunk.cells if c.strip()]
        kept = [plain(c) for h, c in cells if catalog.sole(c, chunk.lang) != option or len(plain(c).split()) > 5]
        if kept:
            return f"{kept[0]}: {'; '.join(kept[1:])}" if len(kept) > 1 else kept[0]
    return render(passage, [unit_index])


def _choice_answer(choice: Choice, passages, analysis, terms, catalog: OptionCatalog, lang, analyze, weight) -> Composed:
    parts: list[str] = []
    citations: list[Citation] = []
    winner = choice.winner
    label = catalog.label(winner.option, lang)
    first = passages[winner.passage]
    text = _speaking_text(first, winner.unit, winner.option, catalog)
    if choice.runner_up is None:
        _cite(parts, citations, first, f"{RECOMMENDED.get(lang, RECOMMENDED['en'])} {label} — {text}")
    else:
        other = choice.runner_up
        other_label = catalog.label(other.option, lang)
        parts.append(DEPENDS.get(lang, DEPENDS["en"]).format(a=label, b=other_label))
        _cite(parts, citations, first, f"{label} — {text}")
        second = passages[other.passage]
        _cite(parts, citations, second, f"{other_label} — {_speaking_text(second, other.unit, other.option, catalog)}")
    return Composed(text="\n".join(parts), citations=tuple(citations), approach=winner.option)


def _extract_answer(passages, analysis, terms, lang, analyze, weight) -> Composed:
    quotes: list[tuple[int, Quote]] = []
    for i, passage in enumerate(passages[:SUPPORT_READ]):
        q = quote(passage, analysis, terms, analyze, weight)
        if q is not None:
            quotes.append((i, q))
    if not quotes:
        passage = passages[0]
        return Composed(text=f"{plain(passage.chunk.text)} [1]",
                        citations=(Citation(1, passage.hit, _snippet(passage.chunk.text)),), approach=None)
    primary_index, primary = _primary(quotes, passages, analysis, lang, analyze, terms)
    parts: list[str] = []
    citations: list[Citation] = []
    _cite(parts, citations, passages[primary_index], primary.text)
    lead = passages[primary_index]
    for i, q in quotes:
        if i == primary_index:
            continue
        passage = passages[i]
        same_group = lead.chunk.group and passage.chunk.group == lead.chunk.group
        if (not same_group and passage.chunk.kind not in ("table", "code")
                and passage.hit.score >= SUPPORT_SCORE * lead.hit.score and q.score >= SUPPORT_SCORE * primary.score
                and passage.chunk.text.strip() != lead.chunk.text.strip()):
            _cite(parts, citations, passage, quote(passage, analysis, terms, analyze, weight, max_units=2, budget=300).text)
            break
    return Composed(text="\n".join(parts), citations=tuple(citations), approach=None)


def _primary(quotes, passages, analysis, lang, analyze, terms) -> tuple[int, Quote]:
    """The top passage's quote, unless a passage close behind states the figure or yes/no
    the question asks for and the top one does not."""
    from kb_service.compose.extract import states_fact

    first_index, first = quotes[0]
    if analysis.intent in ("quantity", "can"):
        def stating(q: Quote, p: Passage) -> bool:
            return any(states_fact(analysis, p.units[i].unit.text, terms, lang, analyze) for i in q.indices)

        if not stating(first, passages[first_index]):
            for i, q in quotes[1:]:
                if stating(q, passages[i]) and passages[i].hit.score >= SUPPORT_SCORE * passages[first_index].hit.score:
                    return i, q
    return first_index, first
