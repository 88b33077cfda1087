"""The corpus as indexed: documents, one page's outline, and the index summary.

Everything here reads the loaded index only, never the file system, so no path in a URL
can reach a file: a page that is not in the index is 404 whatever its path says.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from kb_service.sections import SectionNotFound, sections_of
from kb_service.types import LANGUAGES
from kb_service.api.deps import ServiceDep, ServingDep, run_cpu
from kb_service.api.errors import ApiError
from kb_service.api.schemas import DocumentsPublic, IndexInfoPublic, OutlinePublic, SectionTextPublic, error_responses
from kb_service.api.security import require_client
from kb_service.api.streaming import FastJSONResponse

router = APIRouter(prefix="/v1", tags=["documents"], dependencies=[Depends(require_client)])


@router.get("/documents", response_model=DocumentsPublic, responses=error_responses(401, 429, 503))
async def list_documents(serving: ServingDep) -> FastJSONResponse:
    """Every indexed page: path, language, title, public URL and number of chunks."""
    return FastJSONResponse({"documents": serving.documents})


@router.get("/documents/{lang}/{path:path}", response_model=OutlinePublic,
            responses=error_responses(401, 404, 429, 503))
async def document_outline(
    lang: str, path: str, service: ServiceDep, serving: ServingDep,
    text: bool = Query(False, description="Whole sections (by anchor) with their text, instead of the outline."),
) -> FastJSONResponse:
    """One page's sections in document order (heading path, anchor, URL, line range).

    `path` is the page's path as listed by `/v1/documents`, e.g.
    `help/using/start/journeys-vs-campaigns.md`. With `text=true`, every section's whole text
    too (what the MCP page resources show).
    """
    outline = None
    if lang in LANGUAGES and len(path) <= 1000:
        outline = await run_cpu(service, serving.kb.outline, lang, path)
    if outline is None:
        raise ApiError(404, "document_not_found",
                       f"no document {lang}/{path[:200]} in the index: see /v1/documents for the indexed pages")
    if text:
        sections = await run_cpu(service, lambda: sections_of(serving.kb).page_sections(lang, path))
        outline = {**outline, "sections": sections or []}
    return FastJSONResponse(outline)


@router.get("/sections", response_model=SectionTextPublic, responses=error_responses(401, 404, 422, 429, 503))
async def section(
    service: ServiceDep, serving: ServingDep,
    url: str = Query(..., max_length=2000, description="A section URL with its #anchor, as in a hit or citation."),
) -> FastJSONResponse:
    """The whole section a citation or search-hit URL points to: its text, heading path, line
    range and the URL of the same section in the other language."""
    try:
        found = await run_cpu(service, lambda: sections_of(serving.kb).section(url))
    except SectionNotFound as exc:
        raise ApiError(404, "section_not_found", str(exc)) from None
    return FastJSONResponse(found)


@router.get("/index", response_model=IndexInfoPublic, responses=error_responses(401, 429, 503))
async def index_info(serving: ServingDep) -> FastJSONResponse:
    """The index being served: model, build, counts by kind and language, query backend."""
    return FastJSONResponse(serving.info)
