"""One error shape for every failure: ``{"error": {"code", "message", "request_id"}}``.

Routes raise ``ApiError``; FastAPI's own errors (validation, 404, 405) are translated by the
handlers installed here; anything unexpected becomes 500 ``internal_error`` in the request
guard (see ``security.RequestGuard``), never a traceback.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

REQUEST_ID_KEY = "kb.request_id"  # where the request guard keeps the id in the ASGI scope


class ApiError(Exception):
    """An error the client can act on; ``message`` says what is wrong and how to fix it."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


# Codes for statuses FastAPI/Starlette raise themselves.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(code: str, message: str, request_id: str | None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if request_id:
        error["request_id"] = request_id
    return orjson.dumps({"error": error})


def error_response(
    status: int, code: str, message: str, request_id: str | None, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(error_body(code, message, request_id), status_code=status, headers=dict(headers or {}),
                    media_type="application/json")


def _request_id(request: Request) -> str | None:
    return request.scope.get(REQUEST_ID_KEY)


def _field_name(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    loc = tuple(error.get("loc", ()))
    field = _field_name(loc)
    if kind == "missing" and loc in (("body",), ()):
        return "the request body is required: send a JSON object"
    if kind in ("model_attributes_type", "dict_type", "model_type") and len(loc) <= 1:
        return "the request body must be a JSON object"
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    if kind == "missing":
        message = "field required"
    return f"{field}: {message}"


async def _validation_handler(request: Request, exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next((e.get("ctx", {}).get("error") for e in errors if e.get("type") == "json_invalid"), None)
        message = "the request body is not valid JSON" + (f" ({detail})" if detail else "")
        return error_response(400, "invalid_json", message, _request_id(request))
    message = "; ".join(_describe(e) for e in errors[:5])
    if len(errors) > 5:
        message += f"; and {len(errors) - 5} more"
    return error_response(422, "invalid_request", message, _request_id(request))


async def _api_error_handler(request: Request, exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, _request_id(request), exc.headers)


async def _http_error_handler(request: Request, exc: StarletteHTTPException) -> Response:
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}: see /docs for the API"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
        message = f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}" if allowed else "")
    elif exc.status_code == 400:
        code, message = "invalid_json", "the request body could not be parsed as JSON"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, code, message, _request_id(request), exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)  # type: ignore[arg-type]
