"""Blocks -> retrievable chunks (pure).

Rules, in the order they matter:

* A chunk never crosses a section (heading, accordion, tab, Q/A pair): ``Block.section``.
* Code is one chunk of kind ``code``, never split or merged. A pipe table is one chunk of
  kind ``table`` plus one ``table_row`` chunk per body row, all sharing ``group``. When the
  budget is too small for them, only ``embed_text`` is truncated; ``text`` stays whole.
* Other blocks of a section are packed greedily up to the budget, in page order. A block
  that alone is too big is split at list items (or HTML table rows), then sentences, then
  words. A lead-in (ends with ':', a bold label, or a paragraph glued to the list right
  under it) is glued to what follows before packing, so it never ends a chunk.
* Kind of a packed chunk: ``faq`` inside a FAQ unit; otherwise the blocks' kind when they
  all share one (``paragraph``, ``list``, ``callout``), else ``section``.
* FAQ chunks start with the question; every chunk of a long answer repeats it.
* ``embed_text`` = one context line (document title and/or heading path, joined by " > ")
  + ``\\n`` + ``text``, and always fits ``max_tokens`` per ``count_tokens``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from kb_service.ingest.markdown import Block, ParsedDocument, slugify  # noqa: F401 - slugify is public here
from kb_service.types import ChunkDraft, DocumentMeta

__all__ = ["chunk_document", "slugify"]

CountTokens = Callable[[str], int]

# Sentence ends: . ! ? … followed by space; French puts a space before ! and ?, so the
# punctuation is what counts, not the next letter's case.
_SENTENCE_END_RE = re.compile(r"(?<=[.!?…])\s+|\n+")


MIN_LIST_ITEMS = 3  # shorter lists are read as one statement
# "- Cart abandonment recovery: Triggered by ..." (a short label, then what it is about)
_LABELLED_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])?\s*[^:.!?\n]{2,60}\s?:\s")
_NEVER_GROUPED = ("list_item", "question", "table", "table_row", "code")


def _label_above(blocks: list[Block], position: int) -> str:
    """The short lead-in right above a list, if any."""
    if position == 0:
        return ""
    previous = blocks[position - 1]
    text = previous.text.strip()
    # A label ("Action Campaigns:") or a decision step glued to its list
    # ("Simple message delivery to an audience? → Use Action or API-triggered Campaigns").
    glued = previous.binds_next or previous.line_end + 1 == blocks[position].line_start
    if previous.kind == "paragraph" and len(text) <= 160 and (text.endswith(":") or glued):
        return " ".join(text.split())
    return ""


def _is_heading_label(label: str) -> bool:
    """A decision step ("… → Use Journeys") or a bare label ("Action Campaigns:")."""
    return "→" in label or (label.endswith(":") and len(label.split()) <= 4 and len(label) <= 40)


@dataclass(frozen=True)
class _Unit:
    """A piece of prose that is kept whole while packing."""

    text: str
    line_start: int
    line_end: int
    kinds: frozenset[str]
    first_block: int
    last_block: int
    binds_next: bool = False


def chunk_document(
    doc: ParsedDocument, *, count_tokens: CountTokens, max_tokens: int = 256
) -> list[ChunkDraft]:
    """Chunk one parsed page. ``count_tokens`` is the embedding model's tokenizer."""
    max_tokens = max(1, int(max_tokens))
    drafts: list[ChunkDraft] = []
    carried: list[Block] = []
    sections = _sections(doc.blocks)
    for position, blocks in enumerate(sections):
        following = sections[position + 1] if position + 1 < len(sections) else None
        if _only_lead_in(blocks, following, count_tokens, max_tokens):
            # "Follow this decision tree ...:" right under "Decision guide", then "### Step 1":
            # the sentence introduces the subsection, so it opens the subsection's first chunk.
            carried.extend(blocks)
            continue
        drafts.extend(_Section(doc.meta, blocks, count_tokens, max_tokens, carried).chunks())
        carried = []
    return drafts


def _sections(blocks: Iterable[Block]) -> list[list[Block]]:
    sections: list[list[Block]] = []
    for block in blocks:
        if sections and sections[-1][0].section == block.section:
            sections[-1].append(block)
        else:
            sections.append([block])
    return sections


class _Section:
    """Chunks of one section (all blocks share heading_path, anchor and section id)."""

    def __init__(
        self, meta: DocumentMeta, blocks: list[Block], count: CountTokens, max_tokens: int, lead_in: list[Block] | None = None
    ):
        self.count = count
        self.max_tokens = max_tokens
        first = blocks[0]
        self.heading_path = first.heading_path
        self.anchor = first.anchor
        self.is_faq = first.container == "faq"
        self.question = first if first.kind == "question" else None
        # Lead-ins carried down from a parent section are read first, like on the page.
        self.blocks = [_as_lead_in(b) for b in lead_in or ()] + [b for b in blocks if b.kind != "question"]
        self.context = _context_line(meta, first.heading_path, first.heading_levels)
        # FAQ prose starts with the question, so its context line leaves it out.
        self.faq_context = _context_line(meta, first.heading_path[:-1], first.heading_levels[:-1])
        self.question_text = self.question.text if self.question else ""
        half = max(1, max_tokens // 2)
        # Keep room for content: a huge heading path or question must not eat the budget.
        if self._tokens(self.context) > half:
            self.context = ""
        if self._tokens(self.faq_context + self.question_text) > half:
            self.faq_context = ""
            self.question_text = _truncate(self.question_text, half, self.count)

    # -- budget

    def _tokens(self, text: str) -> int:
        return self.count(text) if text else 0

    def _prose_fits(self, body: str) -> bool:
        return self._tokens(self._with_context(self._prose_text(body), prose=True)) <= self.max_tokens

    def _prose_text(self, body: str) -> str:
        return f"{self.question_text}\n{body}" if self.question_text and body else (body or self.question_text)

    def _with_context(self, text: str, *, prose: bool) -> str:
        context = self.faq_context if (prose and self.question_text) else self.context
        return f"{context}\n{text}" if context else text

    def _embed(self, text: str, *, prose: bool) -> str:
        # Only tables and code can get here too long (they are never split); cut the tail.
        return _truncate(self._with_context(text, prose=prose), self.max_tokens, self.count)

    # -- chunks

    def chunks(self) -> list[ChunkDraft]:
        out: list[ChunkDraft] = []
        run: list[tuple[int, Block]] = []
        for index, block in enumerate(self.blocks):
            if block.kind == "code":
                out.extend(self._prose_chunks(run))
                run = []
                out.append(self._draft(block.text, "code", block.line_start, block.line_end, prose=False))
            elif block.kind == "table":
                lead_in = _trailing_lead_ins(run)
                run = run[: len(run) - len(lead_in)]
                out.extend(self._prose_chunks(run))
                run = []
                out.extend(self._table_chunks(block, [b for _, b in lead_in]))
            else:
                run.append((index, block))
        out.extend(self._prose_chunks(run))
        return self._with_question_handle(self._with_list_items(out))

    def _with_question_handle(self, drafts: list[ChunkDraft]) -> list[ChunkDraft]:
        """A section titled by a question also gets a chunk of just that question.

        Users ask FAQ questions in their own words; matching them against the question
        alone is sharper than against the question diluted in its whole answer. Retrieval
        reports the answer chunk when this handle matches (see retrieval.fold).
        """
        title = self.heading_path[-1] if self.heading_path else ""
        first = next((d for d in drafts if d.kind not in _NEVER_GROUPED), None)
        if first is None or not title.rstrip().endswith("?"):
            return drafts
        line = self.question.line_start if self.question is not None else (self.blocks[-1].heading_line or first.line_start)
        context = self.faq_context if self.question is not None else " > ".join(self.heading_path[:-1])
        handle = ChunkDraft(
            text=title,
            embed_text=_truncate(f"{context}\n{title}" if context else title, self.max_tokens, self.count),
            kind="question",
            heading_path=self.heading_path,
            anchor=self.anchor,
            line_start=line,
            line_end=line,
        )
        return drafts + [handle]

    def _with_list_items(self, drafts: list[ChunkDraft]) -> list[ChunkDraft]:
        """Each item of a list of three or more is also a chunk of its own (``list_item``).

        Use-case lists and FAQ enumerations pack several distinct facts into one chunk, whose
        embedding is then an average that matches none of them well. The item chunks share a
        group with the chunk holding the whole list, so diversity never shows both at the top.
        Only items that state one fact qualify: "Label: description" items, or items under a
        lead-in; plain bullet prose stays in its list chunk (and keeps ingest fast).
        A bold label above the list ("Action Campaigns:") goes into the item's embedded text
        (it says what the item is about) but not into its text, so line ranges stay exact.
        """
        out = list(drafts)
        for position, block in enumerate(self.blocks):
            if block.kind != "list" or len(block.items) < MIN_LIST_ITEMS or block.container == "more":
                continue
            group = f"list:{block.line_start}"
            for i, draft in enumerate(out):
                if draft.kind not in _NEVER_GROUPED and draft.line_start <= block.line_start <= draft.line_end and not draft.group:
                    out[i] = dataclasses.replace(draft, group=group)
            label = _label_above(self.blocks, position)
            for item in block.items:
                if not (_is_heading_label(label) or _LABELLED_ITEM.match(item.text)):
                    continue
                # The text is the item alone, so its line range is exact; the FAQ question and
                # the label are context, and go into the embedded text only.
                text = item.text
                context_text = self._prose_text(f"{label}\n{item.text}" if label else item.text)
                out.append(
                    ChunkDraft(
                        text=text,
                        embed_text=self._embed(context_text, prose=True),
                        kind="list_item",
                        heading_path=self.heading_path,
                        anchor=self.anchor,
                        line_start=item.line_start,
                        line_end=max(item.line_start, item.line_end),
                        group=group,
                    )
                )
        return out

    def _draft(self, text, kind, line_start, line_end, *, prose, cells=(), group="") -> ChunkDraft:
        return ChunkDraft(
            text=text,
            embed_text=self._embed(text, prose=prose),
            kind=kind,
            heading_path=self.heading_path,
            anchor=self.anchor,
            line_start=line_start,
            line_end=max(line_start, line_end),
            cells=cells,
            group=group,
        )

    def _table_chunks(self, table: Block, lead_in: list[Block]) -> list[ChunkDraft]:
        """The whole table (any lead-in sentence on top of it) and one chunk per body row."""
        group = f"table:{table.line_start}"
        intro = "\n".join(b.text for b in lead_in)
        text = f"{intro}\n{table.text}" if intro else table.text
        start = lead_in[0].line_start if lead_in else table.line_start
        out = [self._draft(text, "table", start, table.line_end, prose=False, group=group)]
        for row in table.rows:
            width = max(len(table.header), len(row.cells))
            header = tuple(table.header) + ("",) * (width - len(table.header))
            cells = tuple(zip(header, tuple(row.cells) + ("",) * (width - len(row.cells))))
            row_text = _row_text(cells)
            if row_text:
                out.append(
                    self._draft(row_text, "table_row", row.line, row.line, prose=False, cells=cells, group=group)
                )
        return out

    def _prose_chunks(self, run: list[tuple[int, Block]]) -> list[ChunkDraft]:
        if not run:
            return []
        units: list[_Unit] = []
        for position, (index, block) in enumerate(run):
            following = run[position + 1][1] if position + 1 < len(run) else None
            units.extend(self._units(index, block, _binds_to(block, following)))
        packed = self._pack(self._glue(units))
        drafts = []
        for number, unit in enumerate(packed):
            text = self._prose_text(unit.text)
            start = unit.line_start
            if self.question is not None and number == 0:
                start = min(start, self.question.line_start)
            kind = "faq" if self.is_faq else (next(iter(unit.kinds)) if len(unit.kinds) == 1 else "section")
            drafts.append(self._draft(text, kind, start, unit.line_end, prose=True))
        return drafts

    def _units(self, index: int, block: Block, binds_next: bool) -> list[_Unit]:
        """The block as one unit, or split (items, sentences, words) until each piece fits."""
        kinds = frozenset({block.kind})
        if self._prose_fits(block.text):
            pieces = [(block.text, block.line_start, block.line_end)]
        else:
            pieces = []
            parts = block.items or (block,)
            for part in parts:
                if self._prose_fits(part.text):
                    pieces.append((part.text, part.line_start, part.line_end))
                else:
                    pieces.extend(self._split_long(part.text, part.line_start, part.line_end))
        units = [_Unit(t, s, e, kinds, index, index) for t, s, e in pieces if t.strip()]
        if units and binds_next:
            units[-1] = _replace(units[-1], binds_next=True)
        return units

    def _split_long(self, text: str, line_start: int, line_end: int) -> list[tuple[str, int, int]]:
        """Sentences packed up to the budget; a sentence still too long is cut at words."""
        pieces: list[tuple[str, int, int]] = []
        current: list[tuple[str, int]] = []
        for sentence, line in _sentences(text, line_start, line_end):
            if current and self._prose_fits(" ".join(s for s, _ in current + [(sentence, line)])):
                current.append((sentence, line))
                continue
            if current:
                pieces.append((" ".join(s for s, _ in current), current[0][1], current[-1][1]))
                current = []
            if self._prose_fits(sentence):
                current = [(sentence, line)]
            else:
                pieces.extend((words, line, line) for words in self._word_windows(sentence))
        if current:
            pieces.append((" ".join(s for s, _ in current), current[0][1], current[-1][1]))
        return pieces

    def _word_windows(self, sentence: str) -> list[str]:
        windows, current = [], []
        for word in sentence.split():
            if current and not self._prose_fits(" ".join(current + [word])):
                windows.append(" ".join(current))
                current = []
            current.append(word)
        if current:
            windows.append(" ".join(current))
        return windows

    def _glue(self, units: list[_Unit]) -> list[_Unit]:
        """Join every lead-in to the unit after it, when the two fit together."""
        glued: list[_Unit] = []
        for unit in units:
            if glued and glued[-1].binds_next and self._prose_fits(_join(glued[-1], unit).text):
                glued[-1] = _join(glued[-1], unit)
            else:
                glued.append(unit)
        return glued

    def _pack(self, units: list[_Unit]) -> list[_Unit]:
        packed: list[_Unit] = []
        for unit in units:
            if packed and self._prose_fits(_join(packed[-1], unit).text):
                packed[-1] = _join(packed[-1], unit)
            else:
                packed.append(unit)
        return packed


# ------------------------------------------------------------------------ helpers


def _context_line(meta: DocumentMeta, path: tuple[str, ...], levels: tuple[int, ...]) -> str:
    """Title and heading path, e.g. "Journeys vs Campaigns: ... > Decision guide > Step 2".

    The page's H1 usually restates the title, so the title is only added when the path
    does not start with an H1.
    """
    parts = tuple(p for p in path if p)
    if not (parts and levels and levels[0] == 1) and meta.title:
        parts = (meta.title,) + parts
    return " > ".join(parts)


def _only_lead_in(blocks: list[Block], following: list[Block] | None, count: CountTokens, max_tokens: int) -> bool:
    """A section whose whole content is one short sentence ending with ':' and whose next
    section is a plain subsection of it (not a FAQ unit or tab, which it does not introduce alone)."""
    if following is None or len(blocks) != 1:
        return False
    block, child = blocks[0], following[0]
    return (
        block.kind == "paragraph"
        and block.container == ""
        and block.text.rstrip().endswith(":")
        and count(block.text) <= max(1, max_tokens // 8)
        and child.container == ""
        and len(child.heading_path) > len(block.heading_path)
        and child.heading_path[: len(block.heading_path)] == block.heading_path
    )


def _as_lead_in(block: Block) -> Block:
    return Block(**{**block.__dict__, "binds_next": True})


def _binds_to(block: Block, following: Block | None) -> bool:
    if following is None:
        return False
    if block.binds_next:
        return True
    # "**Real-time ...?**\n→ **Use Journeys**" with its list on the very next line: the
    # list is the rest of the same decision step.
    return block.kind == "paragraph" and following.kind == "list" and following.line_start == block.line_end + 1


def _trailing_lead_ins(run: list[tuple[int, Block]]) -> list[tuple[int, Block]]:
    """Lead-ins ending with ':' right before a table ("Use this table ...:")."""
    tail: list[tuple[int, Block]] = []
    for item in reversed(run):
        if item[1].kind == "paragraph" and item[1].text.rstrip().endswith(":"):
            tail.insert(0, item)
        else:
            break
    return tail


def _join(first: _Unit, second: _Unit) -> _Unit:
    # Pieces of one block are lines of it; different blocks are paragraphs.
    separator = "\n" if first.last_block == second.first_block else "\n\n"
    return _Unit(
        text=f"{first.text}{separator}{second.text}",
        line_start=min(first.line_start, second.line_start),
        line_end=max(first.line_end, second.line_end),
        kinds=first.kinds | second.kinds,
        first_block=first.first_block,
        last_block=second.last_block,
        binds_next=second.binds_next,
    )


def _replace(unit: _Unit, **changes) -> _Unit:
    values = {**unit.__dict__, **changes}
    return _Unit(**values)


def _sentences(text: str, line_start: int, line_end: int) -> list[tuple[str, int]]:
    """Sentences with the source line each starts on (text lines map to source lines)."""
    out = []
    pos = 0
    for match in list(_SENTENCE_END_RE.finditer(text)) + [None]:
        end = match.start() if match else len(text)
        sentence = text[pos:end].strip()
        if sentence:
            line = min(line_end, line_start + text.count("\n", 0, pos))
            out.append((sentence, line))
        if match:
            pos = match.end()
    return out


def _row_text(cells: tuple[tuple[str, str], ...]) -> str:
    """ "Your need: Cart abandonment ... | Recommended approach: Journeys | Why: ..." """
    parts = [f"{header}: {cell}" if header else cell for header, cell in cells if cell]
    return " | ".join(parts)


def _truncate(text: str, max_tokens: int, count: CountTokens) -> str:
    """Longest word-prefix of ``text`` within ``max_tokens`` (binary search on words)."""
    if not text or count(text) <= max_tokens:
        return text
    words = text.split(" ")
    low, high = 0, len(words)
    while low < high:
        mid = (low + high + 1) // 2
        if count(" ".join(words[:mid])) <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return " ".join(words[:low])
