"""kb's MCP server: three read-only tools and one resource per indexed page, over a backend.

One implementation behind both transports: ``kb mcp`` runs it over stdio (backend: the index
in process, or a kb server with ``--url``), ``kb serve`` mounts it at ``/mcp`` (backend: the
index the server serves). The protocol is the official MCP SDK's; this module only says what
the tools are and shapes their results (results.py).

No ``from __future__ import annotations`` here: the SDK reads the tools' signatures, whose
annotations name values of ``build_server``'s scope (the default ``max_chars``).
"""

import logging
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, CallToolResult, TextContent, ToolAnnotations
from mcp_types import Resource as MCPResource
from pydantic import Field

from kb_service.mcp_server.backends import BackendError, DocsBackend
from kb_service.mcp_server.paging import CursorError
from kb_service.mcp_server.results import AskResult, SearchResult, SectionResult, ask_page, search_page, section_page
from kb_service.sections import SectionNotFound, page_text

DEFAULT_MAX_CHARS = 4000
MIN_MAX_CHARS = 500
MAX_MAX_CHARS = 20000
MAX_K = 20
PAGE_URI = "kb://{lang}/{+path}"

INSTRUCTIONS = """kb answers questions from the indexed product documentation (English and French) with
extractive, cited answers, and says so when the docs do not cover a question.
- ask_docs: a question in natural language -> an answer quoting the docs, with citations; or
  not_found with the closest sections (kb never guesses).
- search_docs: words or a question -> the best-matching sections, each with its URL.
- get_section: a citation or hit URL -> the whole section it points to.
Results are cut at max_chars; pass next_cursor back as cursor for the rest.
Every page is also a resource kb://{lang}/{path}."""

Lang = Annotated[Literal["en", "fr"] | None,
                 Field(description="Only sections in this language: 'en' or 'fr'. Default: both, the question's "
                                   "language first.")]
Cursor = Annotated[str | None, Field(description="The next_cursor of a previous call with the same arguments, "
                                                 "to get the next page. Omit for the first page.")]
_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                             open_world_hint=False)


def _max_chars(default: int) -> Any:
    return Annotated[int, Field(ge=MIN_MAX_CHARS, le=MAX_MAX_CHARS,
                                description=f"Longest text to return, in characters ({MIN_MAX_CHARS}-{MAX_MAX_CHARS}; "
                                            f"default {default}). The rest comes with next_cursor.")]


class DocsMCPServer(MCPServer):
    """MCPServer whose resource list is the backend's pages, as they are now (it follows reloads)."""

    def __init__(self, backend: DocsBackend, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backend = backend

    async def list_resources(self) -> list[MCPResource]:
        try:
            documents = await self.backend.documents()
        except BackendError as exc:
            raise MCPError(code=INTERNAL_ERROR, message=str(exc)) from None
        pages = [
            MCPResource(uri=f"kb://{d['lang']}/{d['path']}", name=f"{d['lang']}/{d['path']}",
                        title=d.get("title") or None, description=f"{d.get('title', '')} ({d.get('url', '')})",
                        mime_type="text/markdown")
            for d in documents
        ]
        return pages + await super().list_resources()


def _text_result(text: str, structured: Any) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=structured.model_dump(mode="json"))


def _words(text: str, what: str, limit: int) -> str:
    text = " ".join(text.split())
    if not text:
        raise ToolError(f"{what} is empty: pass the words or the question to look for")
    if len(text) > limit:
        raise ToolError(f"{what} is {len(text)} characters long; the limit is {limit}")
    return text


def build_server(backend: DocsBackend, *, max_chars: int = DEFAULT_MAX_CHARS, max_question_chars: int = 2000,
                 version: str = "") -> DocsMCPServer:
    """The MCP server over ``backend``; ``max_chars`` is the tools' default page length."""
    default_chars = max(MIN_MAX_CHARS, min(MAX_MAX_CHARS, max_chars))
    MaxChars = _max_chars(default_chars)
    # MCPServer() calls logging.basicConfig (a handler on the root logger); kb's loggers would
    # then print every record twice. The edges configure logging, so the root is put back.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    server = DocsMCPServer(backend, name="kb", title="kb documentation answers", version=version,
                           instructions=INSTRUCTIONS, warn_on_duplicate_resources=False, log_level="WARNING")
    root.handlers[:] = handlers
    root.setLevel(level)

    @server.tool(title="Search the docs", annotations=_READ_ONLY)
    async def search_docs(
        query: Annotated[str, Field(description="What to look for: words or a question, in English or French.")],
        lang: Lang = None,
        k: Annotated[int, Field(ge=1, le=MAX_K, description=f"How many sections to return, best first (1-{MAX_K}).")] = 5,
        max_chars: MaxChars = default_chars,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, SearchResult]:
        """Find the documentation sections that best match a query (hybrid semantic + keyword search).

        Returns the hits best first, each with its title, heading path, URL with #anchor, source file
        and line range, and text. Use it to explore what the docs say; use ask_docs for a direct
        answer and get_section for a hit's whole section."""
        text = _words(query, "query", max_question_chars)
        try:
            hits = (await backend.search(text, lang, k))["hits"]
            page_text_, result = search_page(text, lang, hits, max_chars, cursor)
        except (BackendError, CursorError) as exc:
            raise ToolError(str(exc)) from None
        return _text_result(page_text_, result)

    @server.tool(title="Ask the docs", annotations=_READ_ONLY)
    async def ask_docs(
        question: Annotated[str, Field(description="The question, in English or French, as a user would ask it.")],
        lang: Annotated[Literal["en", "fr"] | None,
                        Field(description="Answer from the docs in this language: 'en' or 'fr'. "
                                          "Default: the question's language.")] = None,
        max_chars: MaxChars = default_chars,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, AskResult]:
        """Answer a question from the documentation, quoting it, with numbered citations.

        The answer is extractive: sentences from the docs, cited as [n], each citation with its URL
        (with #anchor), source file and line range, and the same section in the other language.
        When the docs do not support an answer, not_found is true and closest lists the nearest
        sections: kb abstains rather than guesses. approach is the option the docs recommend,
        when the question asks which one to use."""
        text = _words(question, "question", max_question_chars)
        try:
            view = await backend.ask(text, lang, record=cursor is None)
            page_text_, result = ask_page(text, lang, view, max_chars, cursor)
        except (BackendError, CursorError) as exc:
            raise ToolError(str(exc)) from None
        return _text_result(page_text_, result)

    @server.tool(title="Get a whole section", annotations=_READ_ONLY)
    async def get_section(
        url: Annotated[str, Field(description="A section URL with its #anchor, as given by the url of a "
                                              "search_docs hit or an ask_docs citation.")],
        max_chars: MaxChars = default_chars,
        cursor: Cursor = None,
    ) -> Annotated[CallToolResult, SectionResult]:
        """The whole documentation section a citation or search-hit URL points to.

        Returns its text, title and heading path, source file and line range, and the URL of the
        same section in the other language; or an error saying no such section is indexed (with
        the page's sections when the page itself is known)."""
        wanted = url.strip()
        if not wanted or len(wanted) > 2000:
            raise ToolError("url must be a section URL (page URL with #anchor) of at most 2000 characters")
        try:
            section = await backend.section(wanted)
            page_text_, result = section_page(section, max_chars, cursor)
        except SectionNotFound as exc:
            raise ToolError(f"not found: {exc}") from None
        except (BackendError, CursorError) as exc:
            raise ToolError(str(exc)) from None
        return _text_result(page_text_, result)

    @server.resource(PAGE_URI, name="page", title="A documentation page",
                     description="One indexed page as Markdown: title, URL, then every section with its "
                                 "heading, URL with #anchor, line range and text.",
                     mime_type="text/markdown")
    async def page(lang: str, path: str) -> str:
        if lang not in ("en", "fr"):
            raise ResourceNotFoundError(f"no language {lang!r}: page URIs are kb://en/<path> or kb://fr/<path>")
        try:
            found = await backend.page(lang, path)
        except BackendError as exc:
            raise ResourceError(str(exc)) from None
        if found is None:
            raise ResourceNotFoundError(f"no page {lang}/{path[:300]} in the index: list the resources for the "
                                        "indexed pages")
        return page_text(found.get("title", ""), found.get("url", ""), found["sections"])

    return server
