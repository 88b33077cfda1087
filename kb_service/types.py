"""Plain data types shared by every layer of kb. Imports nothing internal.

Everything is keyed by stable ids (``Chunk.chunk_id``), never by list position.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Literal, get_args

# Kinds of chunk the chunker emits. ``table`` is a whole table kept retrievable as one unit;
# ``table_row`` is one body row rendered as "Header: cell | Header: cell"; ``list_item`` is one
# item of a list that is also kept whole in another chunk; ``question`` is the question that
# titles a FAQ section, a retrieval handle for its answer chunk (never shown on its own).
ChunkKind = Literal["paragraph", "list", "list_item", "question", "table", "table_row", "faq", "code", "callout", "section"]
CHUNK_KINDS: tuple[str, ...] = get_args(ChunkKind)

Language = Literal["en", "fr"]
LANGUAGES: tuple[str, ...] = get_args(Language)

# How dense and lexical candidates are fused (retrieve/hybrid.py): a weighted score mix, or
# reciprocal-rank fusion for comparisons (`kb eval --fusion rrf`).
Fusion = Literal["weighted", "rrf"]
FUSIONS: tuple[str, ...] = get_args(Fusion)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` when it is one of ``choices``; else ValueError naming the setting and the choices.

    The one check behind every closed set of names (settings, chunk kinds, fusion), so that a
    typo is an error that says what would have been accepted, never a silent fallback.
    """
    options = tuple(choices)
    if value not in options:
        listed = ", ".join(repr(o) for o in options[:-1]) + f" or {options[-1]!r}" if len(options) > 1 else repr(options[0])
        raise ValueError(f"{name} must be {listed}, got {value!r}")
    return value


@dataclass(frozen=True)
class DocumentMeta:
    """Front-matter of one Markdown page (never chunk text)."""

    title: str = ""
    description: str = ""
    keywords: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChunkDraft:
    """What the pure chunker produces for one page, before the page's identity is known.

    Line numbers are 1-based and inclusive, in the original file (front matter included),
    so a reader can open the file at ``line_start`` and find the text.
    """

    text: str  # shown to users: dialect markup resolved, no front matter, no HTML comments
    embed_text: str  # what is embedded: title/heading context + text, fits the model window
    kind: ChunkKind
    heading_path: tuple[str, ...]  # e.g. ("Journeys vs Campaigns: ...", "Decision guide", "Step 2: ...")
    anchor: str  # explicit {#id} of the nearest heading, else a slug of it
    line_start: int
    line_end: int
    # table_row only: (header, cell) pairs, so an answer can name the column that matched.
    cells: tuple[tuple[str, str], ...] = ()
    # Chunks that restate one fact share a group (a table and its rows): used for diversity.
    group: str = ""

    def __post_init__(self) -> None:
        check_choice("chunk kind", self.kind, CHUNK_KINDS)


@dataclass(frozen=True)
class Chunk:
    """One indexed passage with everything a citation needs."""

    chunk_id: str  # content hash + location, stable across re-ingests of unchanged text
    source: str  # name of the configured source it came from
    path: str  # document path relative to its source root, e.g. help/using/start/x.md
    lang: Language
    title: str  # document title
    heading_path: tuple[str, ...]
    anchor: str
    url: str  # public URL with #anchor
    alt_url: str | None  # same section in the other language, when that page exists
    line_start: int
    line_end: int
    kind: ChunkKind
    text: str
    embed_text: str
    cells: tuple[tuple[str, str], ...] = ()
    group: str = ""
    # The chunk's whole answer units (a row with its header pairs, a list item, a sentence
    # with its lead-in), in page order: what an answer quotes. Each has a vector of its own
    # in the index (LoadedIndex.unit_vectors), so units are chosen by meaning.
    units: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_choice("chunk kind", self.kind, CHUNK_KINDS)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["heading_path"] = list(self.heading_path)
        data["cells"] = [list(pair) for pair in self.cells]
        data["units"] = list(self.units)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Chunk":
        data = dict(data)
        data["heading_path"] = tuple(data.get("heading_path") or ())
        data["cells"] = tuple(tuple(pair) for pair in data.get("cells") or ())
        data["units"] = tuple(data.get("units") or ())
        return cls(**data)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score (higher is better)."""

    chunk: Chunk
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None
    # When the chunk was found through one of its list items, that item's text: the part of
    # the chunk that matched, which the answer quotes first.
    focus: str | None = None


# What a question asks for. "choose": which of the options a comparison guide compares
# (journey or campaign?); "howto": the steps; "whatis": a definition; "can": yes or no;
# "quantity": a number, limit or duration; "smalltalk": greetings and thanks; "other":
# anything else (keyword queries, troubleshooting).
INTENTS = ("choose", "howto", "whatis", "can", "quantity", "smalltalk", "other")


@dataclass(frozen=True)
class QueryAnalysis:
    """Everything kb understands of one question, built once and read by every later stage."""

    text: str  # the question without greeting or preamble
    query: str  # what is retrieved: the question, with the conversation's topic for a follow-up
    lang: str  # language to retrieve in
    answer_lang: str  # language to answer in (an explicit language, else the question's)
    intent: str  # one of INTENTS
    options: tuple[str, ...] = ()  # option ids the question names ("journey or campaign?")
    subject: tuple[str, ...] = ()  # analysed content words, most telling first
    asks_price: bool = False  # the answer must be an amount of money
    measure: str = ""  # the figure the ask names: "frequency", "duration", "rate", "size"; "" for none or any
    counted: tuple[str, ...] = ()  # what a "how many" ask counts ("reminder", "emails"), as written
    compares: bool = False  # asks how things differ ("test mode vs dry run?"): answered by all of them
    follow_up: bool = False  # the turn only makes sense with the earlier ones
    context: str = ""  # for a follow-up: the earlier turn's query, retrieved beside this one
    need: str = ""  # a choice question without its asking words: what the options must fit
    explicit_lang: bool = False  # the caller asked for ``answer_lang``
    previous_answer: str = ""  # for a follow-up: kb's own answer to the turn before


@dataclass(frozen=True)
class OptionSpec:
    """One option a comparison guide compares (profile data), with its names per language.

    ``members``: an option that stands for several ("Campaigns (Action & API)")."""

    option_id: str
    labels: dict[str, str]  # language -> the guide's own name for it, shown in answers
    names: dict[str, tuple[str, ...]]  # language -> lower-case names it goes by in the docs
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    """What is specific to one product's documentation, as data (kb_service/profiles/)."""

    name: str
    options: tuple[OptionSpec, ...] = ()
    # Names of the product itself, never read as an option ("Journey Optimizer").
    product_names: tuple[str, ...] = ()
    # Pages whose purpose is to compare the options (the comparison guide).
    comparison_pages: tuple[str, ...] = ()
    # language -> groups of words users and docs use for one thing ("basket", "cart").
    vocabulary: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    # language -> groups of everyday words for a capability the comparison matrix lists
    # ("a few days later" for "wait"); read only against the matrix, never searched.
    needs: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None


@dataclass(frozen=True)
class Citation:
    number: int  # 1-based, as referenced by "[n]" in the answer text
    hit: Hit
    snippet: str


@dataclass(frozen=True)
class Answer:
    answer: str
    abstained: bool
    confidence: float  # in [0, 1]
    citations: tuple[Citation, ...]
    see_also: tuple[Hit, ...]
    lang: str  # language the question was taken to be in
    approach: str | None = None  # the option recommended, only when the question asks to choose
    took_ms: float = 0.0
    intent: str = "other"  # what the question was understood to ask (QueryAnalysis.intent)
