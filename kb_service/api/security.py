"""Access control and limits: API and admin keys, per-client rate limits, and the two ASGI
middlewares every request passes through.

``RequestContext`` (outermost): request id, X-Request-ID header, one JSON log line, metrics.
``RequestLimits`` (inside CORS): body deadline (408), in-flight limit (503), Content-Type
(415), body size (413), UTF-8 (400), and the last resort that turns an unexpected exception
into 500. The rate limits themselves are in rate_limit.py.

Keys are compared with ``hmac.compare_digest`` and only ever logged as a short fingerprint.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import re
import time
import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kb_service.api.errors import REQUEST_ID_KEY, ApiError, error_body

access_log = logging.getLogger("kb_service.api.access")
log = logging.getLogger("kb_service.api")

KEY_FP = "kb.key_fingerprint"
QUESTION = "kb.question"
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (when KB_API_KEYS is set).")
_admin_key_header = APIKeyHeader(name="X-Admin-Key", auto_error=False, description="Admin key (KB_ADMIN_KEY).")


def fingerprint(key: str) -> str:
    """A short, non-reversible name for a key, for logs and rate-limit buckets."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _matches(given: str, keys: list[bytes]) -> bool:
    given_bytes = given.encode("utf-8", "surrogatepass")
    found = False
    for key in keys:  # no early exit: the time taken does not tell which key matched
        found |= hmac.compare_digest(given_bytes, key)
    return found


# ---- dependencies --------------------------------------------------------------------------


async def require_client(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    """API key (when keys are configured), then the client's rate limit."""
    service = request.app.state.service
    address = _client_host(request)
    if service.api_keys:
        given = api_key or (bearer.credentials if bearer else None)
        _check_key(service, address, given, service.api_keys,
                   "a valid API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")
        client = request.scope[KEY_FP] = fingerprint(given)  # type: ignore[arg-type]
    else:
        # Without configured keys, whatever a client sends as a key means nothing (OpenAI
        # clients always send one): limit by address, so made-up keys cannot dodge the limit.
        client = f"ip:{address}"
    wait = service.limits.take(client)
    if wait > 0:
        service.metrics.rejected.labels("rate_limit").inc()
        retry = max(1, math.ceil(wait))
        raise ApiError(429, "rate_limited", f"rate limit of {service.settings.rate_limit_per_minute} requests per "
                       f"minute reached: retry in {retry} s", {"Retry-After": str(retry)})


def _check_key(service: Any, address: str, given: str | None, keys: list[bytes], refusal: str) -> None:
    """401 unless ``given`` is one of ``keys``; 429 first for an address that failed too often.

    The address is refused before its key is compared: an address past its failures learns
    nothing from its next guesses, not even when one is right."""
    blocked = service.limits.auth_blocked(address)
    if blocked > 0:
        service.metrics.rejected.labels("auth_limit").inc()
        retry = max(1, math.ceil(blocked))
        raise ApiError(429, "rate_limited", f"too many failed authentications from this address (limit "
                       f"{service.settings.auth_failures_per_minute} per minute): retry in {retry} s",
                       {"Retry-After": str(retry)})
    if not given or not _matches(given, keys):
        service.limits.note_auth_failure(address)
        service.metrics.rejected.labels("auth").inc()
        raise ApiError(401, "unauthorized", refusal, {"WWW-Authenticate": "Bearer"})


async def check_client(request: Request) -> None:
    """``require_client`` for a request that FastAPI's dependency solving does not see (the
    query fast path): the same key headers, read by the same security schemes."""
    await require_client(request, await _bearer(request), await _api_key_header(request))


async def require_admin(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    admin_key: Annotated[str | None, Depends(_admin_key_header)],
) -> None:
    """The admin key, as `Authorization: Bearer <key>` or `X-Admin-Key`; 403 when none is configured."""
    service = request.app.state.service
    if not service.admin_keys:
        raise ApiError(403, "admin_disabled", "admin routes are disabled: set KB_ADMIN_KEY to enable them")
    given = admin_key or (bearer.credentials if bearer else None)
    _check_key(service, _client_host(request), given, service.admin_keys,
               "a valid admin key is required: send `Authorization: Bearer <admin key>` or `X-Admin-Key: <admin key>`")
    request.scope[KEY_FP] = fingerprint(given)  # type: ignore[arg-type]


def _client_host(request: Request) -> str:
    # The peer address, or the one a trusted proxy forwarded (uvicorn rewrites the client
    # only for trusted_proxies: api/server_options.py).
    return request.client.host if request.client else "unknown"


# ---- middlewares ---------------------------------------------------------------------------


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def send_error(send: Send, status: int, code: str, message: str, request_id: str | None,
                     headers: dict[str, str] | None = None) -> None:
    body = error_body(code, message, request_id)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestContext:
    """Request id, X-Request-ID on every response, one access log line and the metrics."""

    def __init__(self, app: ASGIApp, service: Any, known_paths: set[str]) -> None:
        self.app = app
        self.service = service
        self.known_paths = known_paths  # route templates: labels for requests refused before routing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = None
        if given is not None:
            candidate = given.decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                request_id = candidate
        request_id = request_id or uuid.uuid4().hex
        scope[REQUEST_ID_KEY] = request_id
        # nosniff: a browser never renders a JSON body that echoes a client's payload as HTML.
        extra_headers = [(b"x-request-id", request_id.encode()), (b"x-content-type-options", b"nosniff")]
        status: int | None = None
        disconnected = False

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        async def receive_watched() -> Message:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        try:
            await self.app(scope, receive_watched, send_with_id)
        finally:
            if status is None:
                # No response: the client went away first (499, nginx's "client closed
                # request": an abandoned request, not a server error), or the app failed.
                status = ABANDONED if disconnected else 500
            seconds = time.perf_counter() - started
            route = scope.get("route")
            path = scope["path"]
            label = getattr(route, "path", None) or (path if path in self.known_paths else "unmatched")
            self.service.metrics.observe(label, scope["method"], status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                fields = {"event": "request", "request_id": request_id, "method": scope["method"], "route": label,
                          "status": status, "duration_ms": round(seconds * 1000, 2),
                          "client": (scope.get("client") or ("?",))[0], "key": scope.get(KEY_FP)}
                if QUESTION in scope:
                    fields["question"] = scope[QUESTION]
                access_log.info("request", extra={"fields": fields})


_JSON_BODY_METHODS = {"POST", "PUT", "PATCH"}
ABANDONED = 499  # the status logged and counted for a request whose client left before the answer


class RequestLimits:
    """Body deadline, in-flight limit, Content-Type, body size and UTF-8 checks; unexpected
    errors become 500.

    The body is read (within ``body_timeout_s``) before the request counts as in flight: a
    client trickling a body is not work yet, so slow clients cannot use up the budget that
    requests being answered need. They cost a connection each, and the deadline bounds that.
    """

    def __init__(self, app: ASGIApp, service: Any, json_paths: set[str]) -> None:
        self.app = app
        self.service = service
        self.max_in_flight = service.settings.max_concurrency
        self.max_body = service.settings.max_body_bytes
        self.body_timeout = service.settings.body_timeout_s
        self.in_flight = 0
        self.json_paths = json_paths  # POST routes whose body is JSON

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = scope.get(REQUEST_ID_KEY)
        # Probes, metrics and docs always answer; the query routes (REST and MCP) are limited.
        limited = scope["path"].startswith("/v1/") or scope["path"] == "/mcp"
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if scope["method"] in _JSON_BODY_METHODS:
                receive = await self._checked_body(scope, receive, send_tracked)
                if receive is None:
                    return
            if limited and self.in_flight >= self.max_in_flight:
                self.service.metrics.rejected.labels("overload").inc()
                return await send_error(send_tracked, 503, "overloaded", f"the server is at its limit of "
                                        f"{self.max_in_flight} requests in flight (max_concurrency): retry in a second",
                                        request_id, {"Retry-After": "1"})
            if limited:
                self.in_flight += 1
            try:
                await self.app(scope, receive, send_tracked)
            finally:
                if limited:
                    self.in_flight -= 1
        except ClientDisconnect:
            return None  # the client left mid-request: RequestContext logs it as abandoned (499)
        except Exception:
            log.exception("unexpected error", extra={"fields": {"event": "internal_error", "request_id": request_id}})
            if not started:
                await send_error(send, 500, "internal_error", "unexpected server error: quote request id "
                                 f"{request_id} when reporting it", request_id)

    async def _checked_body(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Read the whole body (at most max_body_bytes, within body_timeout_s) and hand it on;
        None when refused or when the client went away."""
        request_id = scope.get(REQUEST_ID_KEY)
        is_json_route = scope["path"] in self.json_paths
        if is_json_route:
            content_type = _header(scope, b"content-type")
            if content_type is not None and not _is_json(content_type):
                await send_error(send, 415, "unsupported_media_type",
                                 f"Content-Type must be application/json, got {content_type.decode('latin-1')[:100]!r}",
                                 request_id)
                return None
        too_large = f"the request body is larger than the limit of {self.max_body} bytes (max_body_bytes)"
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await send_error(send, 413, "payload_too_large", too_large, request_id)
            return None
        chunks: list[bytes] = []
        size = 0
        more = True
        try:
            async with asyncio.timeout(self.body_timeout):
                while more:  # chunked bodies have no Content-Length: count as they arrive
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body:
                        await send_error(send, 413, "payload_too_large", too_large, request_id)
                        return None
                    chunks.append(chunk)
                    more = message.get("more_body", False)
        except TimeoutError:
            self.service.metrics.rejected.labels("body_timeout").inc()
            # Connection: close, so that uvicorn drops the connection rather than wait for the
            # rest of a body it would have to read before the next request.
            await send_error(send, 408, "body_timeout", f"the request body did not arrive within "
                             f"{self.body_timeout:g} s (body_timeout_s)", request_id, {"Connection": "close"})
            return None
        body = b"".join(chunks)
        if is_json_route:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                await send_error(send, 400, "invalid_json", f"the request body is not valid UTF-8 (byte {exc.start})",
                                 request_id)
                return None
        return replay_body(body, receive)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands on an already-read ``body`` in one message, then the real one."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as the server would

    return replay


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))
