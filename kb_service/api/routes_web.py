"""The chat page (``GET /``), its assets (``/ui/…``), the embeddable widget (``/widget.js``)
and the API docs (``/docs``, ``/redoc``), every file served from the installed packages.

Nothing here loads from another host, so the page and the docs work on a machine without
internet. The chat page is kb_service/web/ (plain HTML, CSS and ES modules, no build step);
the Swagger UI and ReDoc bundles are those the fastapi-offline package ships.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse, Response

from kb_service.api.deps import ServiceDep
from kb_service.api.errors import ApiError

router = APIRouter(include_in_schema=False)

WEB = Path(str(files("kb_service") / "web"))
DOCS_ASSETS = Path(str(files("fastapi_offline") / "static"))
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}

# The page's own policy: scripts, styles and requests only from kb itself; no inline script
# or style, no plug-ins, no framing (other sites embed the widget instead), no form posts.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
# The API docs pages run the inline set-up script FastAPI writes, so they cannot be as strict;
# they still load nothing from another host (ReDoc's footer logo from its CDN is refused).
DOCS_CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
])
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-cache"}


def _shipped(folder: Path) -> dict[str, Path]:
    """The files of ``folder`` by name: only these are served (no path ever reaches the disk)."""
    return {p.name: p for p in folder.iterdir() if p.is_file() and p.suffix in MEDIA_TYPES}


_WEB_FILES = _shipped(WEB)
_DOCS_FILES = _shipped(DOCS_ASSETS)


def _file(found: dict[str, Path], name: str, headers: dict[str, str] | None = None) -> FileResponse:
    path = found.get(name)
    if path is None:
        raise ApiError(404, "not_found", f"no file {name!r} here: the chat is at /, the API docs at /docs")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=headers)


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


@router.get("/")
async def chat_page() -> Response:
    """The chat page."""
    return _file(_WEB_FILES, "index.html", PAGE_HEADERS)


@router.get("/ui/config")
async def page_config(service: ServiceDep) -> dict:
    """What the page needs before the first question: whether a key is needed, the limits."""
    settings = service.settings
    return {"api_key_required": bool(service.api_keys), "max_question_chars": settings.max_question_chars,
            "max_messages": settings.max_messages}


@router.get("/ui/{name}")
async def page_asset(name: str) -> Response:
    """A file of the page: its modules, style sheet and icon."""
    return _file(_WEB_FILES, name, PAGE_HEADERS if name.endswith(".html") else {"Cache-Control": "no-cache"})


@router.get("/widget.js")
async def widget() -> Response:
    """The chat for another site: ``<script src="http://kb-host/widget.js"></script>``."""
    return _file(_WEB_FILES, "widget.js", {"Cache-Control": "no-cache"})


def _docs_page(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    return page


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    return _docs_page(get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} · API (Swagger UI)",
        swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
        swagger_favicon_url=f"{root}/ui/favicon.svg",
        # No call to the public validator service: the docs stay on this server.
        swagger_ui_parameters={"validatorUrl": None},
    ))


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    return _docs_page(get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} · API (ReDoc)",
        redoc_js_url=f"{root}/docs-assets/redoc.standalone.js",
        redoc_favicon_url=f"{root}/ui/favicon.svg",
        with_google_fonts=False,
    ))


@router.get("/docs-assets/{name}")
async def docs_asset(name: str) -> Response:
    """Swagger UI and ReDoc, as the fastapi-offline package ships them."""
    return _file(_DOCS_FILES, name, {"Cache-Control": "public, max-age=86400"})
