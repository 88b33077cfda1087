"""Experience League Markdown -> structured blocks (pure: text in, data out, no I/O).

Experience League pages are CommonMark plus a dialect: YAML front matter, ``{#anchor}``
headings, ``+++ Question`` accordions, ``>[!NOTE]`` callouts, ``>[!BEGINTABS]`` tabs,
``[!DNL X]`` / ``[!UICONTROL X]`` spans, ``{target="_blank"}`` attribute lists,
``:::`` card containers and raw HTML tables.

The parse runs in two passes so that line numbers stay those of the original file:

1. A line pass (:func:`_scan`) blanks what is never content (front matter, HTML comments,
   dialect marker lines) *in place*, keeping the line count, and cuts the page into
   segments: plain Markdown, callouts, link lists, and the opening/closing of accordions
   and tabs. Doing this on lines rather than with markdown-it container plugins is what
   copes with the corpus as it is: accordions whose closing ``+++`` is indented into a
   list, callouts written as blockquotes, tabs that are not nested at all.
2. Each segment is parsed with markdown-it; every token's ``map`` plus the segment's first
   line gives a 1-based line in the original file.

:func:`parse_markdown` never raises: anything odd becomes a warning.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.front_matter import front_matter_plugin

from kb_service.types import DocumentMeta

# Block kinds. ``question`` opens a FAQ unit (accordion or "Q:/A:" pair); the chunker uses
# it as the first line of every chunk of that unit.
BLOCK_KINDS = ("paragraph", "list", "table", "code", "callout", "question")

# Invisible characters that translation tools sprinkle into the French pages.
_ZERO_WIDTH = "\u200b\u200c\u200d\ufeff\u2060"
_ZERO_WIDTH_RE = re.compile(
    f"[{_ZERO_WIDTH}]|&#x(?:200b|200c|200d|feff|2060);|&#(?:8203|8204|8205|65279|8288);",
    re.IGNORECASE,
)
_FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})")
_DIRECTIVE_RE = re.compile(r"^\s*>\s*\[!([A-Za-z]+)([^\]]*)\](.*)$")
_QUOTED_RE = re.compile(r"^\s*>")
_ACCORDION_RE = re.compile(r"^\s*\+\+\+(.*)$")
_CARDS_RE = re.compile(r"^\s*:{3,}(?:\s.*)?$")
# {target="_blank"}, {zoomable="yes"}, {style="table-layout:fixed"}, {width="50%" modal="x"}
_ATTR_LIST_RE = re.compile(r"\{\s*(?:[\w-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s}]+)\s*)+\}")
# [!DNL Adobe Journey Optimizer], [!UICONTROL Save], [!BADGE Beta] -> the words inside.
_DIALECT_SPAN_RE = re.compile(r"\[!([A-Z]+)\s+([^\]\[]*)\]")
_HEADING_ANCHOR_RE = re.compile(r"\s*\{#([^}\s]+)\}\s*$")
_QUESTION_RE = re.compile(r"^Q\s*:\s*(.+)$", re.DOTALL)
_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")

_CALLOUT_LABELS = {
    "NOTE": "Note",
    "TIP": "Tip",
    "IMPORTANT": "Important",
    "CAUTION": "Caution",
    "WARNING": "Warning",
    "AVAILABILITY": "Availability",
    "PREREQUISITES": "Prerequisites",
    "INFO": "Info",
}
MORE_LIKE_THIS = "More like this"


@dataclass(frozen=True)
class Link:
    """A link to another Markdown page: ``target`` as written (no scheme), ``#anchor`` split off."""

    target: str
    anchor: str
    line: int


@dataclass(frozen=True)
class ListItem:
    """One top-level list item or HTML table row: the unit a long block is split at."""

    text: str
    line_start: int
    line_end: int


@dataclass(frozen=True)
class TableRow:
    cells: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Block:
    """One unit of content, with where it sits in the page.

    ``section`` changes at every heading, accordion, tab and Q/A pair: the chunker never
    merges blocks of different sections. ``container`` is ``"faq"`` inside an accordion or
    Q/A pair, ``"tab"`` inside a tab, ``"more"`` in a MORELIKETHIS list, else ``""``.
    """

    kind: str
    text: str
    line_start: int
    line_end: int
    heading_path: tuple[str, ...]
    anchor: str
    section: int = 0
    container: str = ""
    # Parallel to heading_path: heading level, or 0 for an accordion/tab/Q&A title.
    heading_levels: tuple[int, ...] = ()
    # A short lead-in ("Follow this decision tree:", a bold label, a decision-tree step
    # followed directly by its list) that belongs with the block after it.
    binds_next: bool = False
    items: tuple[ListItem, ...] = ()  # list items / HTML rows, for splitting long blocks
    heading_line: int = 0  # line of the nearest heading above (0: none)
    header: tuple[str, ...] = ()  # pipe tables only
    rows: tuple[TableRow, ...] = ()  # pipe tables only


@dataclass(frozen=True)
class ParsedDocument:
    meta: DocumentMeta
    blocks: tuple[Block, ...]
    links: tuple[Link, ...]
    warnings: tuple[str, ...]


# --------------------------------------------------------------------------- public API


def parse_markdown(text: str) -> ParsedDocument:
    """Parse one Experience League page. Never raises; problems are reported in ``warnings``."""
    warnings: list[str] = []
    lines: list[str] = []
    try:
        lines = re.split(r"\r\n|\r|\n", text if isinstance(text, str) else str(text))
        meta = _take_front_matter(lines, warnings)
        _blank_html_comments(lines, warnings)
        for i, line in enumerate(lines):
            lines[i] = _ZERO_WIDTH_RE.sub("", line)
        builder = _BlockBuilder(lines, warnings)
        for event in _scan(lines, warnings):
            builder.feed(event)
        builder.finish()
        return ParsedDocument(meta, tuple(builder.blocks), tuple(builder.links), tuple(warnings))
    except Exception as exc:  # noqa: BLE001 - the contract is "never raises"
        warnings.append(f"parser error, page kept as plain text: {type(exc).__name__}: {exc}")
        return _fallback_document(lines, warnings)


def slugify(heading: str) -> str:
    """Anchor for a heading without ``{#id}``: lower-case, accents stripped, runs of
    anything else collapsed to one ``-``. ``"Étape 2 : valider"`` -> ``"etape-2-valider"``."""
    decomposed = unicodedata.normalize("NFKD", heading)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "-", ascii_only.lower()).strip("-")


def clean_inline_text(value: str) -> str:
    """Resolve dialect spans and entities in a one-line string (front matter, titles)."""
    value = _ZERO_WIDTH_RE.sub("", value)
    value = _DIALECT_SPAN_RE.sub(lambda m: m.group(2).strip(), value)
    value = _ATTR_LIST_RE.sub("", html.unescape(value))
    return re.sub(r"\s+", " ", _ZERO_WIDTH_RE.sub("", value)).strip()


# ------------------------------------------------------------------- pass 1: line level


def closes_fence(line: str, opening: str) -> bool:
    """Whether ``line`` closes a code fence opened by ``opening`` (e.g. "````").

    CommonMark: the same character, at least as many of it, and nothing after it but
    spaces; a shorter run or one with an info string is content of the fence.
    """
    match = _FENCE_RE.match(line)
    if not match:
        return False
    run = match.group(1)
    return run[0] == opening[0] and len(run) >= len(opening) and not line.strip()[len(run):].strip()


def _take_front_matter(lines: list[str], warnings: list[str]) -> DocumentMeta:
    """Read the ``---`` block at the top into DocumentMeta and blank its lines.

    mdit-py-plugins' front-matter rule finds the block (``---`` … ``---`` or ``...``); its
    fields are read by the tolerant line reader below rather than a YAML parser, because
    pages carry values a strict YAML parser refuses (unquoted colons in titles).
    """
    if not lines or not lines[0].startswith("---"):
        return DocumentMeta()
    token = next((t for t in _front_matter_parser().parse("\n".join(lines)) if t.type == "front_matter"), None)
    if token is None or token.map is None:
        warnings.append("front matter opened at line 1 is never closed; kept as text")
        return DocumentMeta()
    end = token.map[1] - 1  # the closing marker's line
    fields: dict[str, list[str]] = {}
    last_key = None
    for raw in token.content.split("\n"):
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*:\s*(.*)$", raw)
        if match:
            last_key = match.group(1)
            value = match.group(2).strip()
            fields[last_key] = [_unquote_yaml(value)] if value else []
        elif raw.strip() and last_key is not None:
            # Nested YAML (``product_v2:\n  - id: ...``) is kept flat as "id: ..." items.
            fields[last_key].append(_unquote_yaml(raw.strip().lstrip("-").strip()))
    for i in range(0, end + 1):
        lines[i] = ""
    values = {key: ", ".join(v for v in items if v) for key, items in fields.items()}
    keywords = tuple(k for k in (clean_inline_text(p) for p in values.get("keywords", "").split(",")) if k)
    extra = {k: v for k, v in values.items() if k not in ("title", "description", "keywords")}
    return DocumentMeta(
        title=clean_inline_text(values.get("title", "")),
        description=clean_inline_text(values.get("description", "")),
        keywords=keywords,
        extra=extra,
    )


@lru_cache(maxsize=1)
def _front_matter_parser() -> MarkdownIt:
    # The front-matter rule, and paragraphs as the catch-all every block parse needs; no
    # inline pass: the rest of the page is parsed later, segment by segment.
    parser = MarkdownIt("zero").use(front_matter_plugin)
    parser.block.ruler.enableOnly(["front_matter", "paragraph"])
    parser.core.ruler.enableOnly(["normalize", "block"])
    return parser


def _unquote_yaml(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _blank_html_comments(lines: list[str], warnings: list[str]) -> None:
    """Remove ``<!-- ... -->`` (also multi-line and mid-line) in place, outside code fences.

    Comments hide whole FAQ entries in the corpus, so this must run before anything
    structural; lines are emptied rather than deleted to keep line numbers true.
    """
    in_comment_since: int | None = None
    fence: str | None = None
    for i, line in enumerate(lines):
        if in_comment_since is None:
            fence_match = _FENCE_RE.match(line)
            if fence is not None:
                if closes_fence(line, fence):
                    fence = None
                continue
            if fence_match:
                fence = fence_match.group(1)
                continue
        kept: list[str] = []
        pos = 0
        while pos <= len(line):
            if in_comment_since is None:
                start = line.find("<!--", pos)
                if start < 0:
                    kept.append(line[pos:])
                    break
                kept.append(line[pos:start])
                in_comment_since = i
                pos = start + 4
            else:
                end = line.find("-->", pos)
                if end < 0:
                    break
                in_comment_since = None
                pos = end + 3
        new_line = "".join(kept)
        # A line that was only a comment must become blank, not stray indentation.
        lines[i] = new_line if new_line.strip() else ""
    if in_comment_since is not None:
        warnings.append(f"HTML comment opened at line {in_comment_since + 1} is never closed; rest of page hidden")


@dataclass
class _Segment:
    """Consecutive source lines parsed together by markdown-it."""

    kind: str  # "body" | "callout" | "more"
    start: int  # 0-based index of the first line
    lines: list[str] = field(default_factory=list)
    label: str = ""


@dataclass(frozen=True)
class _Open:
    container: str  # "faq" | "tab"
    title: str
    line: int  # 0-based


@dataclass(frozen=True)
class _Close:
    container: str


def _scan(lines: list[str], warnings: list[str]):
    """Yield segments and container open/close events in page order."""
    body = _Segment("body", 0)
    open_accordion: int | None = None
    open_tab = False
    in_tabs: int | None = None
    fence: str | None = None
    i = 0

    def flush():
        nonlocal body
        segment = body
        body = _Segment("body", i + 1)
        return segment

    while i < len(lines):
        line = lines[i]
        if fence is not None:
            if closes_fence(line, fence):
                fence = None
            body.lines.append(line)
            i += 1
            continue
        fence_match = _FENCE_RE.match(line)
        if fence_match:
            fence = fence_match.group(1)
            body.lines.append(line)
            i += 1
            continue

        accordion = _ACCORDION_RE.match(line)
        directive = _DIRECTIVE_RE.match(line)
        if accordion:
            yield flush()
            title = accordion.group(1).strip()
            if title:
                if open_accordion is not None:
                    warnings.append(f"accordion at line {open_accordion + 1} not closed before the one at line {i + 1}")
                    yield _Close("faq")
                open_accordion = i
                yield _Open("faq", _inline_plain(title), i)
            elif open_accordion is not None:
                open_accordion = None
                yield _Close("faq")
            else:
                warnings.append(f"stray accordion end '+++' at line {i + 1}")
            i += 1
            continue
        if directive:
            name = directive.group(1).upper()
            arg = directive.group(2).strip()
            if name in ("BEGINSHADEBOX", "ENDSHADEBOX", "VIDEO"):
                body.lines.append("")  # the box is decoration; a video has no text
                i += 1
                continue
            yield flush()
            if name == "BEGINTABS":
                in_tabs = i
            elif name == "TAB":
                if open_tab:
                    yield _Close("tab")
                open_tab = True
                yield _Open("tab", _inline_plain(arg), i)
            elif name == "ENDTABS":
                if open_tab:
                    yield _Close("tab")
                open_tab, in_tabs = False, None
            else:
                quoted, end = _take_quoted(lines, i, directive.group(3))
                if name == "CONTEXTUALHELP":
                    pass  # in-product help metadata (>id=, >title=, >abstract=), not page content
                elif name == "MORELIKETHIS":
                    yield _Segment("more", i, quoted)
                else:
                    label = _CALLOUT_LABELS.get(name, name.capitalize())
                    yield _Segment("callout", i, quoted, label)
                i = end
                body = _Segment("body", i)
                continue
            i += 1
            continue
        if _CARDS_RE.match(line):
            body.lines.append("")  # ::: landing-cards-container / ::: / :::: are layout only
        else:
            body.lines.append(line)
        i += 1

    if fence is not None:
        warnings.append("code fence never closed; rest of page treated as code")
    yield body
    if open_tab:
        warnings.append(f"tabs opened at line {(in_tabs or 0) + 1} never closed with >[!ENDTABS]")
        yield _Close("tab")
    if open_accordion is not None:
        warnings.append(f"accordion opened at line {open_accordion + 1} never closed; closed at end of page")
        yield _Close("faq")


def _take_quoted(lines: list[str], start: int, first_rest: str) -> tuple[list[str], int]:
    """The blockquote body of a ``>[!X]`` directive, ``>`` markers removed.

    Returns the de-quoted lines (the directive line itself included, as its trailing text
    or blank, so list index == line offset) and the index of the first line after it.
    """
    quoted = [first_rest.strip()]
    end = start + 1
    while end < len(lines) and _QUOTED_RE.match(lines[end]):
        stripped = re.sub(r"^\s*>", "", lines[end], count=1)
        quoted.append(stripped[1:] if stripped.startswith(" ") else stripped)
        end += 1
    return quoted, end


# ------------------------------------------------------------- pass 2: markdown-it parse


@lru_cache(maxsize=1)
def _markdown_parser() -> MarkdownIt:
    # Indented code blocks are disabled: in this corpus four-space indentation is always
    # sloppy list continuation, never code (code is always fenced).
    return MarkdownIt("commonmark", {"html": True}).enable("table").disable("code")


def _prepare_segment_lines(lines: list[str]) -> str:
    """Resolve line-local dialect (spans, attribute lists) outside code fences."""
    out: list[str] = []
    fence: str | None = None
    for line in lines:
        fence_match = _FENCE_RE.match(line)
        if fence is not None:
            if closes_fence(line, fence):
                fence = None
            out.append(line)
            continue
        if fence_match:
            fence = fence_match.group(1)
            out.append(line)
            continue
        line = _DIALECT_SPAN_RE.sub(lambda m: m.group(2).strip(), line)
        line = _ATTR_LIST_RE.sub("", line)
        out.append(line if line.strip() else "")
    return "\n".join(out)


@dataclass
class _Heading:
    title: str
    anchor: str
    level: int
    explicit: bool = False  # written as {#id} in the source
    line: int = 0  # 1-based line of the heading in the source


def _citation_anchor(headings: list[_Heading]) -> str:
    """The anchor a chunk cites: the nearest explicit {#id} below the page title, else a slug.

    Explicit ids are the same in every translation (slugs are not), so citing "Step 2:
    Validate your choice" by its section's #decision-guide gives a link that also works on
    the other-language page.
    """
    for heading in reversed(headings):
        if heading.explicit and heading.level >= 2:
            return heading.anchor
    return headings[-1].anchor if headings else ""


class _BlockBuilder:
    """Turns scan events into Blocks, tracking headings, accordions and tabs."""

    def __init__(self, source: list[str], warnings: list[str]):
        self.source = source  # the page's lines after blanking, for trimming line ranges
        self.warnings = warnings
        self.blocks: list[Block] = []
        self.links: list[Link] = []
        self.headings: list[_Heading] = []
        self.containers: list[tuple[str, str]] = []  # (kind, title)
        self.saved_headings: list[list[_Heading]] = []
        self.section = 0
        self.qa_open = False  # inside a "**Q: ...**" pair, which ends at the next heading

    # -- events

    def feed(self, event) -> None:
        if isinstance(event, _Open):
            self._end_qa()
            self.saved_headings.append(list(self.headings))
            self.containers.append((event.container, event.title))
            self.section += 1
            if event.container == "faq":
                self._emit("question", event.title, event.line + 1, event.line + 1)
        elif isinstance(event, _Close):
            self._end_qa()
            if self.containers and self.containers[-1][0] == event.container:
                self.containers.pop()
                # Headings written inside an accordion/tab do not outlive it.
                self.headings = self.saved_headings.pop()
            self.section += 1
        elif event.kind == "callout":
            self._callout(event)
        elif event.kind == "more":
            self._more_like_this(event)
        else:
            self._body(event)

    def finish(self) -> None:
        self._end_qa()

    # -- segment kinds

    def _body(self, segment: _Segment) -> None:
        for node in self._parse(segment):
            self._block_node(node, segment.start)

    def _callout(self, segment: _Segment) -> None:
        nodes = list(self._parse(segment))
        parts = [p for p in (self._render_block(n, segment.start) for n in nodes) if p and p[0]]
        if not parts:
            return
        text = f"{segment.label}: " + "\n".join(p[0] for p in parts)
        items = tuple(ListItem(t, ls, le) for t, ls, le in parts)
        self._emit("callout", text, parts[0][1], parts[-1][2], items=items)

    def _more_like_this(self, segment: _Segment) -> None:
        self._end_qa()
        self.containers.append(("more", MORE_LIKE_THIS))
        self.section += 1
        for node in self._parse(segment):
            self._block_node(node, segment.start)
        self.containers.pop()
        self.section += 1

    def _parse(self, segment: _Segment):
        source = _prepare_segment_lines(segment.lines)
        if not source.strip():
            return []
        return SyntaxTreeNode(_markdown_parser().parse(source)).children

    # -- block nodes

    def _block_node(self, node: SyntaxTreeNode, offset: int) -> None:
        kind = node.type
        if kind == "heading":
            self._heading(node, offset)
        elif kind == "blockquote":
            for child in node.children:
                self._block_node(child, offset)
        elif kind == "table":
            self._table(node, offset)
        elif kind in ("bullet_list", "ordered_list"):
            self._list(node, offset)
        elif kind == "fence":
            self._code(node, offset)
        elif kind == "paragraph":
            self._paragraph(node, offset)
        elif kind == "html_block":
            rendered = self._html(node, offset)
            if rendered:
                text, rows = rendered
                start, end = _lines(node, offset)
                self._emit("paragraph", text, start, end, items=rows)
        # hr and anything unknown carry no text

    def _heading(self, node: SyntaxTreeNode, offset: int) -> None:
        self._end_qa()
        level = int(node.tag[1]) if node.tag[1:].isdigit() else 1
        raw = node.children[0].content if node.children else ""
        anchor_match = _HEADING_ANCHOR_RE.search(raw)
        raw = _HEADING_ANCHOR_RE.sub("", raw)
        start, _ = _lines(node, offset)
        title, links = _render_inline_source(raw, start)
        self.links.extend(links)
        title = " ".join(title.split())
        anchor = anchor_match.group(1) if anchor_match else slugify(title)
        while self.headings and self.headings[-1].level >= level:
            self.headings.pop()
        self.headings.append(_Heading(title, anchor, level, explicit=anchor_match is not None, line=start))
        self.section += 1

    def _paragraph(self, node: SyntaxTreeNode, offset: int) -> None:
        start, end = _lines(node, offset)
        text, links = _render_inline(node.children[0], start)
        self.links.extend(links)
        if not text:
            return
        if self._all_strong(node) and (self.qa_open or not self.containers):
            question = _QUESTION_RE.match(text)
            if question:
                self._start_qa(_one_line(question.group(1)), start)
                return
        self._emit("paragraph", text, start, end, binds_next=self._is_lead_in(node, text))

    def _list(self, node: SyntaxTreeNode, offset: int) -> None:
        items: list[ListItem] = []
        hoisted_tables: list[SyntaxTreeNode] = []
        for number, item in enumerate(node.children, start=_list_start(node)):
            marker = f"{number}. " if node.type == "ordered_list" else "- "
            text = self._render_list_item(item, offset, marker, "", hoisted_tables)
            if text.strip():
                # Lines of the item's own text: a table inside it becomes its own block.
                spans = [_lines(c, offset) for c in item.children if c.type != "table"] or [_lines(item, offset)]
                start, end = self._trim(spans[0][0], max(e for _, e in spans))
                items.append(ListItem(text, start, end))
        if items:
            self._emit("list", "\n".join(i.text for i in items), items[0].line_start, items[-1].line_end, items=tuple(items))
        # A table written inside a list item is still a table: its own block after the list.
        for table in hoisted_tables:
            self._table(table, offset)

    def _render_list_item(self, item, offset, marker, indent, hoisted_tables) -> str:
        """One list item as text: ``marker`` before its first line, children indented under it.

        Tables inside the item go to ``hoisted_tables`` when given (they become their own
        table block), else are rendered inline.
        """
        pieces: list[str] = []
        starts_with_sublist = False
        for child in item.children:
            if child.type in ("bullet_list", "ordered_list"):
                starts_with_sublist = starts_with_sublist or not pieces
                for number, sub in enumerate(child.children, start=_list_start(child)):
                    sub_marker = f"{number}. " if child.type == "ordered_list" else "- "
                    text = self._render_list_item(sub, offset, sub_marker, indent + "  ", hoisted_tables)
                    if text:
                        pieces.append(text)
            elif child.type == "table" and hoisted_tables is not None:
                hoisted_tables.append(child)
            else:
                rendered = self._render_block(child, offset)
                if rendered and rendered[0]:
                    lead = indent + "  " if pieces else indent + marker
                    pieces.append(lead + rendered[0].replace("\n", "\n" + indent + "  "))
        if pieces and starts_with_sublist:
            pieces.insert(0, indent + marker.rstrip())
        return "\n".join(pieces)

    def _render_block(self, node: SyntaxTreeNode, offset: int) -> tuple[str, int, int] | None:
        """Plain text of any block node (used inside callouts and list items)."""
        start, end = _lines(node, offset)
        if node.type == "paragraph":
            text, links = _render_inline(node.children[0], start)
            self.links.extend(links)
            return text, start, end
        if node.type == "heading":
            raw = _HEADING_ANCHOR_RE.sub("", node.children[0].content if node.children else "")
            text, links = _render_inline_source(raw, start)
            self.links.extend(links)
            return text, start, end
        if node.type in ("bullet_list", "ordered_list"):
            texts = [
                self._render_list_item(item, offset, f"{n}. " if node.type == "ordered_list" else "- ", "", None)
                for n, item in enumerate(node.children, start=_list_start(node))
            ]
            return "\n".join(t for t in texts if t.strip()), start, end
        if node.type == "fence":
            return node.content.rstrip("\n"), start, end
        if node.type == "html_block":
            rendered = self._html(node, offset)
            return (rendered[0], start, end) if rendered else None
        if node.type == "blockquote":
            parts = [p for p in (self._render_block(c, offset) for c in node.children) if p and p[0]]
            return ("\n".join(p[0] for p in parts), start, end) if parts else None
        if node.type == "table":
            header, rows = self._table_cells(node, offset)
            return _table_markdown(header, [r.cells for r in rows]), start, end
        return None

    def _code(self, node: SyntaxTreeNode, offset: int) -> None:
        start, end = _lines(node, offset)
        code = node.content.rstrip("\n")
        if not code.strip():
            return
        # The content lines, not the fence markers (an unclosed fence has no closing line).
        first = start + 1
        last = first + code.count("\n")
        self._emit("code", code, first, max(first, min(last, end)))

    def _table(self, node: SyntaxTreeNode, offset: int) -> None:
        header, rows = self._table_cells(node, offset)
        if not rows and not any(header):
            return
        start, end = _lines(node, offset)
        text = _table_markdown(header, [r.cells for r in rows])
        self._emit("table", text, start, end, header=header, rows=tuple(rows))

    def _table_cells(self, node: SyntaxTreeNode, offset: int) -> tuple[tuple[str, ...], list[TableRow]]:
        header: tuple[str, ...] = ()
        rows: list[TableRow] = []
        for section in node.children:
            for tr in section.children:
                line = (tr.map[0] if tr.map else 0) + offset + 1
                cells = []
                for cell in tr.children:
                    text, links = (_render_inline(cell.children[0], line) if cell.children else ("", []))
                    self.links.extend(Link(l.target, l.anchor, line) for l in links)
                    cells.append(_cell_text(text))
                if section.type == "thead":
                    header = tuple(cells)
                else:
                    rows.append(TableRow(tuple(cells), line))
        return header, rows

    def _html(self, node: SyntaxTreeNode, offset: int) -> tuple[str, tuple[ListItem, ...]] | None:
        start, _ = _lines(node, offset)
        reader = _HtmlText()
        try:
            reader.feed(node.content)
            reader.close()
        except Exception:  # noqa: BLE001 - malformed HTML is still mostly text
            self.warnings.append(f"unreadable HTML block at line {start}")
        self.links.extend(Link(t, a, start + line - 1) for t, a, line in reader.links)
        rows = [(text, start + first - 1, start + last - 1) for text, first, last in reader.rows()]
        rows = [r for r in rows if r[0]]
        if not rows:
            return None
        return "\n".join(r[0] for r in rows), tuple(ListItem(*r) for r in rows)

    # -- Q/A pairs in "Common questions" sections

    def _start_qa(self, question: str, line: int) -> None:
        self._end_qa()
        self.saved_headings.append(list(self.headings))
        self.containers.append(("faq", question))
        self.section += 1
        self.qa_open = True
        self._emit("question", question, line, line)

    def _end_qa(self) -> None:
        if self.qa_open:
            self.qa_open = False
            self.containers.pop()
            self.headings = self.saved_headings.pop()
            self.section += 1

    # -- helpers

    @staticmethod
    def _all_strong(node: SyntaxTreeNode) -> bool:
        inline = node.children[0] if node.children else None
        if inline is None:
            return False
        meaningful = [c for c in inline.children if not (c.type == "text" and not c.content.strip())]
        return bool(meaningful) and all(c.type == "strong" for c in meaningful)

    def _is_lead_in(self, node: SyntaxTreeNode, text: str) -> bool:
        """Ends with ':' or is a bold label like "**Best practices**" (both introduce what follows)."""
        if text.rstrip().endswith(":"):
            return True
        return self._all_strong(node) and len(text) <= 120

    def _trim(self, start: int, end: int) -> tuple[int, int]:
        """Shrink a 1-based line range so it neither starts nor ends on a blank line."""
        def blank(n):
            return not re.sub(r"^\s*>?", "", self.source[n - 1]).strip() if 0 < n <= len(self.source) else True
        while end > start and blank(end):
            end -= 1
        while start < end and blank(start):
            start += 1
        return start, end

    def _emit(self, kind, text, line_start, line_end, **extra) -> None:
        line_start, line_end = self._trim(line_start, max(line_start, line_end))
        path = tuple(h.title for h in self.headings) + tuple(t for _, t in self.containers)
        levels = tuple(h.level for h in self.headings) + tuple(0 for _ in self.containers)
        anchor = _citation_anchor(self.headings)
        container = self.containers[-1][0] if self.containers else ""
        self.blocks.append(
            Block(
                kind=kind,
                text=text,
                line_start=line_start,
                line_end=max(line_start, line_end),
                heading_path=path,
                anchor=anchor,
                section=self.section,
                container=container,
                heading_levels=levels,
                heading_line=self.headings[-1].line if self.headings else 0,
                **extra,
            )
        )


# ------------------------------------------------------------------ inline rendering


def _lines(node: SyntaxTreeNode, offset: int) -> tuple[int, int]:
    """1-based inclusive source lines of a node (markdown-it maps are 0-based, end-exclusive)."""
    if not node.map:
        return offset + 1, offset + 1
    start, end = node.map
    return offset + start + 1, offset + max(start + 1, end)


def _list_start(node: SyntaxTreeNode) -> int:
    try:
        return int(node.attrs.get("start", 1))
    except (TypeError, ValueError):
        return 1


def _render_inline_source(source: str, line: int) -> tuple[str, list[Link]]:
    tokens = _markdown_parser().parseInline(source)
    if not tokens:
        return "", []
    return _render_inline(SyntaxTreeNode(tokens).children[0], line)


def _inline_plain(source: str) -> str:
    """A one-line title (accordion question, tab name) as plain text."""
    cleaned = _ATTR_LIST_RE.sub("", _DIALECT_SPAN_RE.sub(lambda m: m.group(2).strip(), source))
    return _one_line(_render_inline_source(cleaned, 0)[0])


def _one_line(text: str) -> str:
    return " ".join(text.split())


_BREAK_TAG_RE = re.compile(r"^</?(br|p|li|div|tr)\b[^>]*>$", re.IGNORECASE)


def _render_inline(inline: SyntaxTreeNode, line: int) -> tuple[str, list[Link]]:
    """Inline node -> plain text: markup dropped, images dropped, links reduced to their text.

    Returns the ``.md`` links found, each with the line it sits on (``line`` plus the soft
    breaks before it).
    """
    out: list[str] = []
    links: list[Link] = []
    current = [line]

    def walk(nodes):
        for child in nodes:
            kind = child.type
            if kind == "text":
                out.append(child.content)
            elif kind == "code_inline":
                out.append(f"`{child.content}`")
            elif kind in ("softbreak", "hardbreak"):
                out.append("\n")
                current[0] += 1
            elif kind == "image":
                continue
            elif kind == "html_inline":
                if _BREAK_TAG_RE.match(child.content.strip()):
                    out.append("\n")
                    continue
                href = re.search(r"href\s*=\s*[\"']([^\"']+)", child.content)
                link = _md_link(href.group(1), current[0]) if href else None
                if link:
                    links.append(link)
            elif kind == "link":
                link = _md_link(str(child.attrs.get("href", "")), current[0])
                if link:
                    links.append(link)
                walk(child.children)
            else:  # strong, em, s, and anything else with children
                walk(child.children)

    walk(inline.children)
    return _tidy("".join(out)), links


def _md_link(href: str, line: int) -> Link | None:
    """A Link when ``href`` points at another Markdown page (no scheme, ends in .md)."""
    href = unquote(href.strip())
    if not href or _SCHEME_RE.match(href) or href.startswith("//"):
        return None
    path, _, anchor = href.partition("#")
    path = path.split("?", 1)[0]
    if not path.lower().endswith(".md"):
        return None
    return Link(path, anchor, line)


def _tidy(text: str) -> str:
    """Entity-decode, drop invisible characters, collapse spaces, trim every line."""
    text = _ZERO_WIDTH_RE.sub("", html.unescape(text))
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    # A dropped image or tag can leave "word ." behind; French spacing (" :", " ?") stays.
    lines = [re.sub(r"(?<=\S) +(?=[.,](?:\s|$))", "", line) for line in lines]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _cell_text(text: str) -> str:
    # One line per cell: a <br> inside a cell separates list-like values.
    parts = [p.strip() for p in text.split("\n") if p.strip()]
    return "; ".join(parts)


def _table_markdown(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    width = max([len(header)] + [len(r) for r in rows]) if (header or rows) else 0
    out = [line(header), "|" + "---|" * width] if header else []
    out.extend(line(r) for r in rows)
    return "\n".join(out)


class _HtmlText(HTMLParser):
    """Text of a raw HTML block: one line per table row (cells joined), tags dropped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self._rows: list[tuple[list[str], int, int]] = []  # (pieces, first line, last line)
        self._current: list[str] = []
        self._first = self._last = 1
        self.links: list[tuple[str, str, int]] = []

    def handle_starttag(self, tag, attrs):
        line = self.getpos()[0]
        if tag in ("tr", "li", "ul", "ol"):
            self._break(line)
        if tag == "br":
            self._current.append(" ")
        if tag in ("td", "th"):
            self._current.append(" | " if self._has_text() else "")
        if tag == "a":
            href = dict(attrs).get("href") or ""
            link = _md_link(href, line)
            if link:
                self.links.append((link.target, link.anchor, line))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in ("tr", "table", "li"):
            self._break(self.getpos()[0])

    def handle_data(self, data):
        if data.strip():
            if not self._has_text():
                self._first = self.getpos()[0]
            self._last = self.getpos()[0] + data.count("\n")
        self._current.append(data)

    def _has_text(self) -> bool:
        return any(p.strip() and p.strip() != "|" for p in self._current)

    def _break(self, line):
        if self._has_text():
            self._rows.append((self._current, self._first, self._last))
        self._current = []

    def rows(self) -> list[tuple[str, int, int]]:
        self._break(self.getpos()[0])
        out = []
        for pieces, first, last in self._rows:
            text = _tidy(" ".join("".join(pieces).split()))
            text = re.sub(r"^(\|\s*)+|(\s*\|)+$", "", text)
            text = re.sub(r"(\s*\|\s*){2,}", " | ", text).strip()
            if text:
                out.append((text, first, last))
        return out


def _fallback_document(lines: list[str], warnings: list[str]) -> ParsedDocument:
    """Last resort when the structured parse fails: one paragraph per blank-line run.

    ``lines`` are the page's lines as far as pass 1 got (front matter already blanked
    when it was read), so metadata does not leak into text.
    """
    blocks = []
    start = None
    for i, line in enumerate(lines + [""]):
        if line.strip() and start is None:
            start = i
        elif not line.strip() and start is not None:
            chunk = _tidy("\n".join(lines[start:i]))
            if chunk:
                blocks.append(Block("paragraph", chunk, start + 1, i, (), ""))
            start = None
    return ParsedDocument(DocumentMeta(), tuple(blocks), (), tuple(warnings))
