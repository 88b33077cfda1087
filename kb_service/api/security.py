"""Access control and limits: API and admin keys, per-client rate limiting, and the two ASGI
middlewares every request passes through.

``RequestContext`` (outermost): request id, X-Request-ID header, one JSON log line, metrics.
``RequestLimits`` (inside CORS): in-flight limit (503), Content-Type (415), body size (413),
UTF-8 (400), and the last resort that turns an unexpected exception into 500.

Keys are compared with ``hmac.compare_digest`` and only ever logged as a short fingerprint.
"""

from __future__ import annotations

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


class RateLimiter:
    """Token buckets per client: ``per_minute`` tokens, refilled continuously; 0 = off."""

    MAX_BUCKETS = 10_000

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> float:
        """0 when the request may go on, else the seconds to wait for a token."""
        if self.capacity <= 0:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._prune(now)
            bucket = (self.capacity, now)
        tokens, last = bucket
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely is the same as no bucket. If too many clients
        # are mid-bucket (a flood of addresses), forget the older half: memory stays bounded.
        full = [c for c, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.capacity]
        for client in full:
            del self._buckets[client]
        if len(self._buckets) >= self.MAX_BUCKETS:
            for client in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[client]


# ---- dependencies --------------------------------------------------------------------------


async def require_client(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    """API key (when keys are configured), then the client's rate limit."""
    service = request.app.state.service
    if service.api_keys:
        given = api_key or (bearer.credentials if bearer else None)
        if not given or not _matches(given, service.api_keys):
            service.metrics.rejected.labels("auth").inc()
            raise ApiError(401, "unauthorized", "a valid API key is required: send `Authorization: Bearer <key>` "
                           "or `X-API-Key: <key>`", {"WWW-Authenticate": "Bearer"})
        client = request.scope[KEY_FP] = fingerprint(given)
    else:
        # Without configured keys, whatever a client sends as a key means nothing (OpenAI
        # clients always send one): limit by address, so made-up keys cannot dodge the limit.
        client = f"ip:{_client_host(request)}"
    wait = service.rate_limiter.take(client)
    if wait > 0:
        service.metrics.rejected.labels("rate_limit").inc()
        retry = max(1, math.ceil(wait))
        raise ApiError(429, "rate_limited", f"rate limit of {service.settings.rate_limit_per_minute} requests per "
                       f"minute reached: retry in {retry} s", {"Retry-After": str(retry)})


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
    if not given or not _matches(given, service.admin_keys):
        service.metrics.rejected.labels("auth").inc()
        raise ApiError(401, "unauthorized", "a valid admin key is required: send `Authorization: Bearer <admin key>` "
                       "or `X-Admin-Key: <admin key>`", {"WWW-Authenticate": "Bearer"})
    request.scope[KEY_FP] = fingerprint(given)


def _client_host(request: Request) -> str:
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
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
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


class RequestLimits:
    """In-flight limit, Content-Type, body size and UTF-8 checks; unexpected errors become 500."""

    def __init__(self, app: ASGIApp, service: Any, json_paths: set[str]) -> None:
        self.app = app
        self.service = service
        self.max_in_flight = service.settings.max_concurrency
        self.max_body = service.settings.max_body_bytes
        self.in_flight = 0
        self.json_paths = json_paths  # POST routes whose body is JSON

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = scope.get(REQUEST_ID_KEY)
        limited = scope["path"].startswith("/v1/")  # probes, metrics and docs always answer
        if limited and self.in_flight >= self.max_in_flight:
            self.service.metrics.rejected.labels("overload").inc()
            return await send_error(send, 503, "overloaded", f"the server is at its limit of {self.max_in_flight} "
                                    "requests in flight (max_concurrency): retry in a second", request_id,
                                    {"Retry-After": "1"})
        if limited:
            self.in_flight += 1
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
            await self.app(scope, receive, send_tracked)
        except Exception:
            log.exception("unexpected error", extra={"fields": {"event": "internal_error", "request_id": request_id}})
            if not started:
                await send_error(send, 500, "internal_error", "unexpected server error: quote request id "
                                 f"{request_id} when reporting it", request_id)
        finally:
            if limited:
                self.in_flight -= 1

    async def _checked_body(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Read the whole body (at most max_body_bytes) and hand it on; None when refused."""
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
