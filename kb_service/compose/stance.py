"""Which option each answer unit speaks for, read from the docs' structure (pure).

A unit speaks for an option only inside *comparison material*: a page the profile names as
the comparison guide, or a section that compares options itself (its heading names two or
more, or its labels name two or more). There, the structure says which option a unit is
filed under:

* a table row with a cell that is just an option's name (a decision table's "Recommended
  approach" column) or whose first cell is one (an overview table's "Approach" column);
* a list item or sentence under a label or decision step naming one option ("Action
  Campaigns:", "→ Use Journeys");
* else the nearest heading naming one option ("Journey use cases");
* else the option a statement opens with ("Journeys for behavioral, real-time engagement").

Outside comparison material, one structure still decides: a *prescription*, a lead-in that
tells the reader which option to build for what the section is about ("Create a business
event journey:" answering "How do I trigger a journey when inventory is low?"). It is a
decision step in a how-to's words; the items under it speak for its option.

Never from a word that merely occurs: "journey" in a how-to heading of another page does
not make its steps a recommendation. A comparison-matrix row (options as columns) speaks
for no one option; its columns do (``matrix_columns``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from kb_service.text.options import OptionCatalog, fold
from kb_service.text.units import Unit, plain, split_units
from kb_service.types import Chunk

# A cell that *is* an option's name is short ("Journeys (Business Event)"); a longer one
# describes something and only mentions it.
MAX_NAME_CELL_WORDS = 5
_CHECKS = {"✅", "✔", "✔️", "❌", "✖", "❎"}


# The imperative verbs a prescription opens with, per language (what to build: not "use the
# journey designer", whose object is a tool, which the object check below rules out).
_PRESCRIBING = {
    "en": re.compile(r"^(?:create|use|build|set up)\s+(?:an?|the)?\s*"),
    "fr": re.compile(r"^(?:cr[ée]ez|utilisez|cr[ée]er|utiliser|configurez|mettez en place)\s+(?:une?|des|les|le|la)?\s*"),
}
# The option's name must be the head of the verb's object, not a word qualifying another
# thing ("the foundation of your campaign", "le concepteur de parcours"). English puts the
# head last ("a unitary event-triggered journey", then "using …", "when:" or the end);
# French first ("un parcours déclenché par …").
_AFTER_HEAD = {
    "en": re.compile(r"^[\s:*]*(?:$|using\b|when\b|with\b|for\b|to\b|that\b)"),
    "fr": re.compile(r""),  # anything may follow the head
}
_NOT_THE_HEAD = {"of", "your", "our", "de", "du", "des", "d", "votre", "vos", "notre"}
MAX_PRESCRIBED_WORDS = {"en": 4, "fr": 0}  # words between the verb's article and the name


@dataclass(frozen=True)
class UnitStance:
    unit: Unit
    option: str | None  # the option the unit is filed under, None when it speaks for none
    # Filed by a prescription ("Create a business event journey:"), whose lead-in says more
    # than the option's name: an answer quotes it.
    prescribed: bool = False


def is_comparison_material(chunk: Chunk, catalog: OptionCatalog, comparison_pages: tuple[str, ...],
                           section_options: frozenset[str] = frozenset()) -> bool:
    if not catalog:
        return False
    if any(chunk.path.endswith(page) for page in comparison_pages):
        return True
    if any(len(catalog.named(heading, chunk.lang)) >= 2 for heading in chunk.heading_path):
        return True
    return len(section_options) >= 2


def prescribed_option(label: str, lang: str, catalog: OptionCatalog) -> str | None:
    """The option a lead-in prescribes ("Create a business event journey:"), else None."""
    verb = _PRESCRIBING.get(lang)
    if verb is None or not label:
        return None
    folded = fold(label)
    opening = verb.match(folded)
    mentions = catalog.mentions(label, lang)
    if opening is None or len({m.option_id for m in mentions}) != 1:
        return None
    first = mentions[0]
    if first.start < opening.end():
        return None
    between = re.findall(r"\w+", folded[opening.end():first.start])
    if len(between) > MAX_PRESCRIBED_WORDS[lang] or _NOT_THE_HEAD & set(between):
        return None
    return first.option_id if _AFTER_HEAD[lang].match(folded[first.end:]) else None


def prescribed_stances(chunk: Chunk, catalog: OptionCatalog) -> tuple[UnitStance, ...]:
    """Each unit of a chunk outside comparison material, filed under the option its lead-in
    prescribes, if any."""
    units = split_units(chunk.text, chunk.kind)
    if not catalog or chunk.kind == "code":
        return tuple(UnitStance(u, None) for u in units)
    return tuple(UnitStance(u, option, prescribed=option is not None)
                 for u in units for option in [prescribed_option(u.label, chunk.lang, catalog)])


def matrix_columns(chunk: Chunk, catalog: OptionCatalog) -> dict[int, str]:
    """Column index -> option, for a row of a table whose headers are options."""
    if chunk.kind != "table_row" or not catalog:
        return {}
    columns = {i: catalog.sole(header, chunk.lang) for i, (header, _) in enumerate(chunk.cells) if i > 0}
    columns = {i: option for i, option in columns.items() if option}
    return columns if len(columns) >= 2 else {}


def is_check_row(chunk: Chunk) -> bool:
    """A ✅/❌ row of a feature-availability matrix."""
    return chunk.kind == "table_row" and len(chunk.cells) > 2 and all(c.strip() in _CHECKS for _, c in chunk.cells[1:])


def _row_option(chunk: Chunk, catalog: OptionCatalog) -> str | None:
    cells = chunk.cells
    if not cells or matrix_columns(chunk, catalog):
        return None
    for position, (_, cell) in enumerate(cells):
        if len(plain(cell).split()) <= MAX_NAME_CELL_WORDS:
            option = catalog.sole(cell, chunk.lang)
            if option and (position > 0 or len(cells) > 1):
                return option
    return None


def section_options(chunks: list[Chunk], catalog: OptionCatalog) -> dict[tuple, frozenset[str]]:
    """(lang, path, heading_path) -> the options that the section's labels and headings of
    its subsections name one at a time: two or more means the section compares them."""
    found: dict[tuple, set[str]] = {}
    for chunk in chunks:
        for depth in range(1, len(chunk.heading_path) + 1):
            key = (chunk.lang, chunk.path, chunk.heading_path[:depth])
            found.setdefault(key, set())
            if depth < len(chunk.heading_path):
                option = catalog.sole(chunk.heading_path[depth], chunk.lang)
                if option:
                    found[key].add(option)
        key = (chunk.lang, chunk.path, chunk.heading_path)
        for unit in split_units(chunk.text, chunk.kind):
            if unit.label:
                option = catalog.sole(unit.label, chunk.lang)
                if option:
                    found[key].add(option)
    return {key: frozenset(options) for key, options in found.items()}


def unit_stances(chunk: Chunk, catalog: OptionCatalog, comparison: bool) -> tuple[UnitStance, ...]:
    """Each unit of ``chunk`` with the option it speaks for (None outside comparison material)."""
    units = split_units(chunk.text, chunk.kind)
    if not comparison or chunk.kind == "code":
        # A code block is an example flow ("Abandoned cart → Wait 2 hours → …"), not advice.
        return tuple(UnitStance(u, None) for u in units)
    lang = chunk.lang
    if chunk.kind == "table_row":
        option = _row_option(chunk, catalog)
        return tuple(UnitStance(u, option) for u in units)
    # The nearest heading that names an option at all decides: one that names several
    # ("Journeys vs Campaigns: When to use each") files what is under it under none, even
    # below a page heading naming one ("Get started with journeys").
    naming = next((h for h in reversed(chunk.heading_path[1:]) if catalog.named(h, lang)), None)
    heading_option = catalog.sole(naming, lang) if naming else None
    out = []
    for unit in units:
        # The nearest structure decides: a unit's own lead-in, else the heading it sits
        # under, else the option the statement opens with ("Action Campaigns are typically
        # the simplest, …"). A question ("Journeys or campaigns?") opens with a name but
        # chooses neither; a heading's option outranks a name that only starts a phrase
        # ("Campagnes d'anniversaire" listed under "Cas d'utilisation de parcours").
        option = catalog.sole(unit.label, lang) if unit.label else None
        if option is None and unit.kind != "step":
            option = heading_option
        if option is None and not plain(unit.text).endswith("?"):
            option = catalog.named_at_start(unit.text, lang)
        out.append(UnitStance(unit, option))
    return tuple(out)


def sharpen_group_stances(chunks: Sequence[Chunk], stances: Mapping[str, tuple[UnitStance, ...]],
                          catalog: OptionCatalog) -> dict[str, tuple[UnitStance, ...]]:
    """A unit filed under a group ("Campaign use cases (action and API)") in one chunk speaks for
    the member another chunk of the same section files the same text under.

    A list item chunked on its own keeps its section's heading but loses the sub-label above
    it ("API-triggered Campaigns:"), which the whole section's chunk still has: without this
    the item spoke for the group, and the vote resolved the group to the wrong member.
    """
    specific: dict[tuple, str] = {}
    for chunk in chunks:
        for stance in stances.get(chunk.chunk_id, ()):
            if stance.option and not catalog.members(stance.option):
                specific.setdefault((chunk.lang, chunk.path, chunk.heading_path, stance.unit.text), stance.option)
    sharpened = dict(stances)
    for chunk in chunks:
        own = stances.get(chunk.chunk_id, ())
        new = tuple(
            replace(stance, option=member)
            if stance.option and (member := specific.get((chunk.lang, chunk.path, chunk.heading_path, stance.unit.text)))
            and member in catalog.members(stance.option) else stance
            for stance in own
        )
        if new != own:
            sharpened[chunk.chunk_id] = new
    return sharpened
