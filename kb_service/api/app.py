"""The app factory: ``uvicorn kb_service.api.app:create_app --factory`` (what ``kb serve`` runs).

The index and the query model load once, in the background after start-up, followed by a
warm-up query; ``/readyz`` turns 200 only then, while ``/healthz`` answers from the start.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import AsyncIterator

import orjson
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kb_service.config import Settings, load_settings
from kb_service.kb import KnowledgeBase
from . import routes_admin, routes_chat, routes_documents, routes_openai, routes_query
from kb_service.api.deps import Service
from kb_service.api.errors import REQUEST_ID_KEY, error_response, install_error_handlers
from kb_service.api.fast_path import QueryFastPath
from kb_service.api.security import RequestContext, RequestLimits
from kb_service.api.streaming import FastJSONResponse

API_VERSION = "1.0.0"


_PREFLIGHT_REQUEST_ID: ContextVar[str | None] = ContextVar("kb_preflight_request_id", default=None)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight in kb's JSON error shape (not plain text)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # preflight_response sees only the headers: hand it the request id this way.
        token = _PREFLIGHT_REQUEST_ID.set(scope.get(REQUEST_ID_KEY))
        try:
            await super().__call__(scope, receive, send)
        finally:
            _PREFLIGHT_REQUEST_ID.reset(token)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        reason = bytes(response.body).decode("latin-1").replace("Disallowed CORS ", "")
        headers = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
        return error_response(response.status_code, "cors_refused", f"this CORS preflight is refused (its {reason} "
                              "is not allowed): the allowed origins are the cors_origins setting",
                              _PREFLIGHT_REQUEST_ID.get(), headers)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def _configure_logging() -> None:
    # Only when nobody configured these loggers already (an embedding app or a test may have).
    logger = logging.getLogger("kb_service.api")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLogFormatter())
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def _description(settings: Settings) -> str:
    return f"""Grounded, cited answers from the product documentation (English and French).

* **Query**: `POST /v1/search`, `POST /v1/ask`, `POST /v1/chat` (JSON or Server-Sent Events).
* **OpenAI-compatible**: `POST /v1/chat/completions`, `GET /v1/models` — point an OpenAI client at `/v1`.
* **Corpus**: `GET /v1/documents`, `GET /v1/documents/{{lang}}/{{path}}`, `GET /v1/index`.
* **Operations**: `GET /healthz`, `GET /readyz`, `GET /metrics`, `POST /v1/admin/reload`.

**Errors** always have the shape `{{"error": {{"code": "...", "message": "...", "request_id": "..."}}}}`;
every response carries `X-Request-ID` (send your own, ≤ 64 characters of `A-Z a-z 0-9 - _`, to trace a request).

**Limits of this server** (settings in brackets):
request body ≤ {settings.max_body_bytes} bytes [`max_body_bytes`], question or query ≤
{settings.max_question_chars} characters [`max_question_chars`] (413 beyond),
≤ {settings.max_messages} chat turns [`max_messages`] (413 beyond),
{settings.max_concurrency} requests in flight [`max_concurrency`] (503 + Retry-After beyond),
{f"{settings.rate_limit_per_minute} requests per minute per key or address" if settings.rate_limit_per_minute else "no rate limit"}
[`rate_limit_per_minute`] (429 + Retry-After beyond), {settings.auth_failures_per_minute or "unlimited"} failed
authentications per minute per address [`auth_failures_per_minute`] (429 beyond), {settings.body_timeout_s:g} s to send
a request body [`body_timeout_s`] (408 beyond), {settings.request_timeout_s:g} s per request [`request_timeout_s`] (504 beyond).

**Requests**: bodies are JSON (`Content-Type: application/json`, or none; others get 415).
Unknown fields are ignored. Control characters other than tab and newlines are removed from text.

**Access**: {"an API key is required on `/v1` routes" if settings.api_key_list else "no API key is configured"}
(`Authorization: Bearer <key>` or `X-API-Key`); admin routes need the admin key
(`Authorization: Bearer <key>` or `X-Admin-Key`). Health, readiness, metrics and these docs are open.
"""


def create_app(settings: Settings | None = None, kb: KnowledgeBase | None = None, *, fast_path: bool = True) -> FastAPI:
    """Build the app; ``kb`` (loaded or not) is served instead of loading ``settings.index``.

    ``fast_path=False`` leaves /v1/ask and /v1/search to FastAPI alone (the tests compare the two).
    """
    settings = settings if settings is not None else load_settings()
    _configure_logging()
    service = Service(settings, kb)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="kb",
        version=API_VERSION,
        description=_description(settings),
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
        strict_content_type=False,  # a body without Content-Type is read as JSON (curl -d sends a form type)
        openapi_tags=[
            {"name": "query", "description": "Search the docs and ask questions."},
            {"name": "chat", "description": "Conversations with follow-up questions."},
            {"name": "openai", "description": "OpenAI Chat Completions compatibility."},
            {"name": "documents", "description": "The indexed corpus."},
            {"name": "operations", "description": "Health, readiness and metrics (no key needed)."},
            {"name": "admin", "description": "Index reload (admin key)."},
        ],
    )
    app.state.service = service
    install_error_handlers(app)
    routers = [m.router for m in (routes_query, routes_chat, routes_openai, routes_documents, routes_admin)]
    for router in routers:
        app.include_router(router)

    # Read from our routers (their paths include the prefix), not from app.routes, whose
    # entries for included routers are FastAPI internals.
    routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
    json_paths = {r.path for r in routes if "POST" in r.methods and r.body_field is not None}
    known_paths = {r.path for r in routes} | {app.openapi_url or "", app.docs_url or "", app.redoc_url or ""}
    # Added innermost first: RequestContext wraps CORS, which wraps RequestLimits, which wraps
    # the query fast path, so every response gets X-Request-ID, the limit errors still carry
    # CORS headers, and the fast path sees only bodies that passed the limits.
    if fast_path:
        app.add_middleware(QueryFastPath, service=service, routes={r.path: r for r in routes if "POST" in r.methods})
    app.add_middleware(RequestLimits, service=service, json_paths=json_paths)
    if settings.cors_origin_list:
        app.add_middleware(
            JsonCORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Admin-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(RequestContext, service=service, known_paths=known_paths)
    return app
