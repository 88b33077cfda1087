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

import re
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

from kb_service.compose.choice import Candidate, Choice, decide
from kb_service.compose.extract import Quote, quote, render, states_fact
from kb_service.compose.passages import Analyzer, Passage, TermWeight, word_overlap
from kb_service.compose.requirements import Requirement, lacking, mark_value
from kb_service.text.options import OptionCatalog
from kb_service.text.units import is_pointer, plain
from kb_service.types import Citation, QueryAnalysis

ABSTAIN_TEXT = {
    "en": "The documentation doesn't cover this.",
    "fr": "La documentation ne couvre pas ce sujet.",
}
RECOMMENDED = {"en": "Recommended:", "fr": "Recommandé :"}
YES = {"en": "Yes", "fr": "Oui"}
NO = {"en": "No", "fr": "Non"}
ONLY = {"en": "Yes, with {option} only", "fr": "Oui, avec {option} uniquement"}
DEPENDS = {"en": "{a} or {b}, depending on the need:", "fr": "{a} ou {b}, selon le besoin :"}
# A second passage is quoted when retrieval ranked it nearly as high and its best unit is
# nearly as close to the question as the first passage's.
SUPPORT_SCORE = 0.85
# A figure stated in a unit holding this much more of the question's telling words wins.
STATING_MARGIN = 0.15
STATING_CLOSE = 0.75  # … from a passage at least this close to the top one
SUPPORT_READ = 3
SNIPPET_CHARS = 240


@dataclass(frozen=True)
class Line:
    """One line of an answer: units quoted from one passage, or a connective between options.

    Kept as structure, not text, so the same answer can be rendered from the twin passages
    of another language (``in_language``)."""

    passage: Passage | None  # None: the "A or B, depending on the need:" connective
    units: tuple[int, ...] = ()
    option: str | None = None  # the option the line speaks for (choice answers)
    recommended: bool = False  # "Recommended: <option> — …"
    other: str | None = None  # the connective's second option
    # A yes/no question about one option answered by an availability row: what its cell says.
    verdict: bool | None = None
    # A yes/no question naming no option, answered by a row only one option has: that option.
    only: str | None = None
    # An FAQ answer that opens with yes or no answers the FAQ's own question: shown with it,
    # so the reader knows what the "Yes" is to.
    with_question: bool = False
    # A comparison table read down one option's column (its units are the table's rows).
    column: int | None = None
    # A keyword query answered by units the guide files under one option: that option's name.
    filed_under: str | None = None


@dataclass(frozen=True)
class Composed:
    text: str
    citations: tuple[Citation, ...]
    approach: str | None
    lines: tuple[Line, ...] = ()


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
    requirements: Sequence[Requirement] = (),
    tables: Sequence[Passage] = (),
) -> Composed:
    """The answer from ``passages`` (ranked; not abstaining), in the passages' language.
    ``docs_words``: the docs' words for the question's own (profile vocabulary);
    ``requirements``: the capabilities a choice's need asks for or declines, with their rows;
    ``tables``: the comparison tables (options as columns), for a question about one option's
    column ("which channels do orchestrated campaigns have?")."""
    lang = passages[0].chunk.lang
    terms = set(analyze(analysis.query, lang))
    lines: list[Line] | None = None
    approach = None
    if analysis.intent == "choose" and catalog:
        members = {o: catalog.members(o) for o in catalog.options}
        need = set(analyze(f"{analysis.need or analysis.query} {docs_words}", lang))
        choice = decide(passages, members, prototypes, need, analyze, weight, candidates, requirements,
                        shortlist=_shortlist(analysis, catalog),
                        asked=frozenset(terms | set(analyze(docs_words, lang))))
        if choice is not None:
            lines, approach = _choice_lines(choice), choice.winner.option
            lines.extend(_separating_lines(choice, requirements, members))
    if lines is None and catalog and analysis.intent not in ("choose", "howto"):
        lines = _column_lines(analysis, tables, terms, catalog, analyze, lang)
    if lines is None:
        lines = _extract_lines(_about_the_asked_option(passages, analysis, catalog), analysis, terms, lang, analyze,
                               weight)
    return render_lines(lines, lang, catalog, approach)


def _shortlist(analysis: QueryAnalysis, catalog: OptionCatalog) -> frozenset[str]:
    """The two single options a choice question sets side by side ("journey or orchestrated
    campaign?"). A group's name is the everyday word ("journey or campaign?" leaves
    orchestrated campaigns open), so a question naming one sets no shortlist."""
    named = set(analysis.options)
    # Two: "A or B?". A longer list is the asker reciting the options ("of journeys, action,
    # API-triggered and orchestrated campaigns, which …?"), whose elided names go unfound.
    if len(named) != 2 or any(catalog.members(o) for o in named):
        return frozenset()
    # A group whose member is shortlisted speaks for that member ("Campaigns (Action & API)").
    groups = {o for o in catalog.options if set(catalog.members(o)) & named}
    return frozenset(named | groups)


def render_lines(lines: Sequence[Line], lang: str, catalog: OptionCatalog, approach: str | None) -> Composed:
    """The answer text and its numbered citations (one number per cited chunk)."""
    parts: list[str] = []
    citations: list[Citation] = []
    for line in lines:
        if line.passage is None:
            parts.append(DEPENDS.get(lang, DEPENDS["en"]).format(
                a=catalog.label(line.option, lang), b=catalog.label(line.other, lang)))
            continue
        if line.column is not None:
            quoted = text = _column_text(line.passage, line.column)
        elif line.option is not None:
            quoted = _speaking_text(line.passage, line.units[0], line.option, catalog)
            label = catalog.label(line.option, lang)
            text = f"{RECOMMENDED.get(lang, RECOMMENDED['en'])} {label} — {quoted}" if line.recommended else f"{label} — {quoted}"
        else:
            quoted = text = render(line.passage, line.units) if line.units else plain(line.passage.chunk.text)
            if line.with_question and line.passage.chunk.heading_path:
                text = f"{plain(line.passage.chunk.heading_path[-1])} — {text}"
            if line.verdict is not None:
                verdict = YES if line.verdict else NO
                text = f"{verdict.get(lang, verdict['en'])} — {text}"
            if line.filed_under is not None:
                text = f"{catalog.label(line.filed_under, lang)} — {text}"
            if line.only is not None:
                text = f"{ONLY.get(lang, ONLY['en']).format(option=catalog.label(line.only, lang))} — {text}"
        number = next((c.number for c in citations if c.hit.chunk.chunk_id == line.passage.chunk.chunk_id), None)
        if number is None:
            number = len(citations) + 1
            # The snippet is the docs' words only (a page's text fragment must find it there).
            citations.append(Citation(number=number, hit=line.passage.hit, snippet=_snippet(quoted)))
        parts.append(f"{text} [{number}]")
    return Composed(text="\n".join(parts), citations=tuple(citations), approach=approach, lines=tuple(lines))


def in_language(lines: Sequence[Line], twin: Callable[[Passage], Passage | None]) -> list[Line]:
    """The same answer quoted from the twin passages (same page and anchor, another
    language): each unit maps to the twin's unit at the same place, or, for a choice line,
    to the twin's first unit speaking for the same option. A passage with no twin is kept."""
    out = []
    for line in lines:
        other = twin(line.passage) if line.passage is not None else None
        if other is None or not other.units:
            out.append(line)
            continue
        if len(other.units) == len(line.passage.units):
            units = line.units
        elif line.option is not None and any(s.option == line.option for s in other.units):
            # The k-th unit speaking for the option maps to the twin's k-th one: translated
            # lists keep their order even where the pages are cut into chunks differently.
            rank = sum(1 for s in line.passage.units[: line.units[0]] if s.option == line.option)
            speaking = [i for i, s in enumerate(other.units) if s.option == line.option]
            units = (speaking[min(rank, len(speaking) - 1)],)
        else:
            scale = len(other.units) / max(1, len(line.passage.units))
            units = tuple(sorted({min(len(other.units) - 1, int(i * scale)) for i in line.units}))
        out.append(replace(line, passage=other, units=units))
    return out


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


def _choice_lines(choice: Choice) -> list[Line]:
    passages = choice.passages
    winner = choice.winner
    first = passages[winner.passage]
    if choice.runner_up is None:
        return [Line(first, (_shown_unit(first, winner.unit, winner.option),), winner.option, recommended=True)]
    other = choice.runner_up
    second = passages[other.passage]
    return [
        Line(None, option=winner.option, other=other.option),
        Line(first, (_shown_unit(first, winner.unit, winner.option),), winner.option),
        Line(second, (_shown_unit(second, other.unit, other.option),), other.option),
    ]


def _shown_unit(passage: Passage, unit: int, option: str) -> int:
    """The unit that shows why: a pointer ("Learn more about Orchestrated Campaigns") counts
    in the vote but says nothing, so another unit of the passage for the option is shown."""
    if not passage.units or not is_pointer(passage.units[unit].unit.text):
        return unit
    others = [i for i, s in enumerate(passage.units) if s.option == option and not is_pointer(s.unit.text)]
    return others[0] if others else unit


def _separating_lines(choice: Choice, requirements, members) -> list[Line]:
    """The availability row that separates a clear winner from the options it ruled out:
    the docs' own reason for the recommendation ("Wait activities | Journeys: ✅ | …")."""
    if not choice.decided:
        return []
    winner = choice.winner.option
    shown = choice.passages[choice.winner.passage].chunk.chunk_id
    for requirement in requirements:
        passage = requirement.row
        if (not requirement.declined and passage.chunk.chunk_id != shown and passage.units
                and not lacking(winner, [requirement.capability], members)):
            return [Line(passage, (0,))]
    return []


def _about_another_option(passage: Passage, asked: set[str], catalog: OptionCatalog) -> bool:
    """The passage's headings (page title, section, FAQ question) name single options, none
    of them the one asked about: it answers for another option ("Can I A/B test different
    paths in my journey?" for a question about action campaigns). A comparison-matrix row
    speaks for every option."""
    if passage.matrix:
        return False
    named = set(catalog.named(" / ".join(passage.chunk.heading_path), passage.chunk.lang))
    # A group's name is also the docs' everyday word for several options ("Get started with
    # campaigns" covers every campaign type): only a single option's own name tells.
    if not named or any(catalog.members(o) for o in named):
        return False
    return not catalog.expand(named) & asked


def _about_the_asked_option(passages: Sequence[Passage], analysis: QueryAnalysis,
                            catalog: OptionCatalog) -> Sequence[Passage]:
    """For a question about one option, the passages that answer for it first: what the docs
    say of another option does not answer it. Order is kept otherwise."""
    if not catalog or len(analysis.options) != 1 or catalog.members(analysis.options[0]):
        # A group's name in the question is the everyday word too ("campagne" for any kind).
        return passages
    asked = catalog.expand(analysis.options)
    own = [p for p in passages if not _about_another_option(p, asked, catalog)]
    if not own or len(own) == len(passages):
        return passages
    kept = {id(p) for p in own}
    return own + [p for p in passages if id(p) not in kept]


def _extract_lines(passages, analysis, terms, lang, analyze, weight) -> list[Line]:
    quotes: list[tuple[int, Quote]] = []
    for i, passage in enumerate(passages[:SUPPORT_READ]):
        q = quote(passage, analysis, terms, analyze, weight)
        if q is not None:
            quotes.append((i, q))
    if not quotes:
        return [Line(passages[0])]
    primary_index, primary = _primary(quotes, passages, analysis, lang, analyze, terms, weight)
    lead = passages[primary_index]
    lines = [_framed(Line(lead, primary.indices), analysis, terms, analyze)]
    for i, q in quotes:
        if i == primary_index:
            continue
        passage = passages[i]
        same_group = lead.chunk.group and passage.chunk.group == lead.chunk.group
        if (not same_group and passage.chunk.kind not in ("table", "code")
                and passage.hit.score >= SUPPORT_SCORE * lead.hit.score and q.score >= SUPPORT_SCORE * primary.score
                and passage.chunk.text.strip() != lead.chunk.text.strip()):
            support = quote(passage, analysis, terms, analyze, weight, max_units=2, budget=300)
            lines.append(_framed(Line(passage, support.indices), analysis, terms, analyze))
            break
    return lines


def _cells(row: str) -> list[str]:
    return [plain(cell) for cell in row.strip().strip("|").split("|")]


def _column_lines(analysis: QueryAnalysis, tables: Sequence[Passage], terms: set[str], catalog: OptionCatalog,
                  analyze: Analyzer, lang: str) -> list[Line] | None:
    """One option's column of the comparison table the question asks about: it names one
    option and the table's dimension (its first header: "Channel", "Capability") but none
    of the table's rows, so it asks for the whole column ("orchestrated campaign channels")."""
    if len(analysis.options) != 1:
        return None
    option = analysis.options[0]
    for table in tables:
        if table.chunk.lang != lang or len(table.units) < 3:
            continue
        header = _cells(table.units[0].unit.text)
        dimension = set(analyze(header[0], lang)) if header else set()
        if not dimension or not dimension <= terms:
            continue
        columns = [i for i, cell in enumerate(header) if i > 0 and catalog.sole(cell, lang) == option]
        labels = [set(analyze(_cells(u.unit.text)[0], lang)) for u in table.units[1:]]
        names_a_row = any(label and label <= terms for label in labels)
        if len(columns) == 1 and not names_a_row:
            return [Line(table, tuple(range(len(table.units))), option=option, column=columns[0])]
    return None


def _column_text(passage: Passage, column: int) -> str:
    """"Orchestrated Campaigns — Channel: Email ✅; Push ✅; …": the header, then each row's
    label with the option's cell."""
    header = _cells(passage.units[0].unit.text)
    rows = [_cells(u.unit.text) for u in passage.units[1:]]
    cells = "; ".join(f"{row[0]} {row[column]}" for row in rows if len(row) > column)
    return f"{header[column]} — {header[0]}: {cells}"


def _framed(line: Line, analysis: QueryAnalysis, terms: set[str], analyze: Analyzer) -> Line:
    """A quoted line with what makes it answer the question asked: the verdict of an
    availability row for the one option a yes/no question names, the FAQ's own question
    before an answer that opens with yes or no."""
    passage = line.passage
    chunk = passage.chunk
    verdict, only = None, None
    marks = {option: mark_value(chunk.cells[column][1]) for column, option in passage.matrix.items()
             if column < len(chunk.cells)}
    if analysis.intent == "can" and marks and None not in marks.values() and _names_the_row(passage, terms, chunk.lang, analyze):
        if len(analysis.options) == 1 and analysis.options[0] in marks:
            verdict = marks[analysis.options[0]]
        elif not analysis.options and sum(marks.values()) == 1:
            # "Can I see exact counts before sending?": yes, with the one option that can.
            only = next(option for option, mark in marks.items() if mark)
    opens_yes_no = (chunk.kind == "faq" and 0 in line.units and len(chunk.heading_path) > 1
                    and bool(_OPENS_YES_NO.match(plain(passage.units[0].unit.text))))
    filed_under = None
    if analysis.intent == "other" and line.units:
        # A need typed as keywords ("store-specific offers with inventory data") quoted from a
        # use case the guide files under one option: the reader is told which, as the guide
        # does; the answer's approach stays null, nobody asked to choose.
        options = {passage.units[i].option for i in line.units}
        if len(options) == 1 and None not in options:
            filed_under = options.pop()
    return replace(line, verdict=verdict, only=only, with_question=opens_yes_no, filed_under=filed_under)


_OPENS_YES_NO = re.compile(r"^\W*(yes|no|oui|non)\b", re.I)


# Share of a row label's words a question holds when it names the row ("an approval step"
# names "Approval workflows"); a row found further down must be named in full.
ROW_LABEL_HELD = 0.5


def _names_the_row(passage: Passage, terms: set[str], lang: str, analyze: Analyzer, share: float = ROW_LABEL_HELD) -> bool:
    """The question holds the row's label (its first cell: "SMS", "A/B testing")."""
    cells = passage.chunk.cells
    label = set(analyze(plain(cells[0][1]), lang)) if cells else set()
    return bool(label) and len(label & terms) >= share * len(label)


def _primary(quotes, passages, analysis, lang, analyze, terms, weight) -> tuple[int, Quote]:
    """The top passage's quote, unless a passage close behind states the figure or yes/no
    the question asks for and the top one does not; or, for a figure, states it in a unit
    holding clearly more of the question's telling words ("time-to-live" in "Time-to-live:
    maximum journey duration (e.g., 91 days)" rather than "wait times … 1-3 days")."""
    first_index, first = quotes[0]
    if analysis.intent in ("quantity", "can"):
        def stating(q: Quote, p: Passage) -> bool:
            if analysis.intent == "can" and p.matrix and not _names_the_row(p, terms, lang, analyze, share=1.0):
                # An availability row's ✅ answers a yes/no only about what the row is for: the
                # question must name its capability or channel ("SMS", "A/B testing").
                return False
            return any(states_fact(analysis, p.units[i].unit.text, terms, lang, analyze) for i in q.indices)

        def within(i: int, share: float) -> bool:
            return passages[i].hit.score >= share * passages[first_index].hit.score

        # A figure is worth reaching further down for than a yes/no.
        closeness = STATING_CLOSE if analysis.intent == "quantity" else SUPPORT_SCORE

        def held(q: Quote, p: Passage) -> float:
            return max((word_overlap(terms, p.units[i].unit.text, lang, analyze, weight) for i in q.indices
                        if states_fact(analysis, p.units[i].unit.text, terms, lang, analyze)), default=0.0)

        if not stating(first, passages[first_index]):
            for i, q in quotes[1:]:
                # Further down, the figure must be about what was asked, not any figure.
                if stating(q, passages[i]) and (within(i, SUPPORT_SCORE)
                                                or within(i, closeness) and held(q, passages[i]) >= STATING_MARGIN):
                    return i, q
        elif analysis.intent == "quantity":
            first_held = held(first, passages[first_index])
            better = [(held(q, passages[i]), i, q) for i, q in quotes[1:] if within(i, closeness)]
            better = [b for b in better if b[0] >= first_held + STATING_MARGIN]
            if better:
                _, i, q = max(better, key=lambda b: b[0])
                return i, q
    return first_index, first
