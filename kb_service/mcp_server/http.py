"""``/mcp`` on kb's own app: the MCP server over Streamable HTTP, stateless.

Stateless (no MCP session kept between requests) so that any worker or replica can answer any
request. The endpoint is a plain ASGI route of the FastAPI app, so it sits behind the same
middlewares as the REST routes (request id, access log, metrics, in-flight and body limits),
and it asks ``security.check_client`` for the API key and the rate limit before the SDK sees
the request, as the query routes do. The SDK's transport security allow-lists the Host (and
Origin) headers the server may be reached under, against DNS rebinding.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import Request
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from kb_service.api.deps import Service, run_cpu
from kb_service.api.errors import ApiError
from kb_service.api.security import check_client
from kb_service.mcp_server.backends import BackendError, page_with_text
from kb_service.mcp_server.server import DocsMCPServer, build_server
from kb_service.sections import sections_of
from kb_service.views import answer_view, hit_view

MCP_PATH = "/mcp"


class ServiceBackend:
    """The index the kb server is serving, taken once per call (a reload swaps it whole), with
    the searches and answers run by ``run_cpu`` like the REST routes' (threads, timeout)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def _serving(self) -> Any:
        serving = self.service.serving
        if serving is None:
            raise BackendError(self.service.load_error or "the index is still loading: retry in a moment")
        return serving

    def _kb(self) -> Any:
        return self._serving().kb

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await run_cpu(self.service, fn, *args, **kwargs)
        except ApiError as exc:  # the timeout
            raise BackendError(exc.message) from None

    async def search(self, query: str, lang: str | None, k: int) -> dict[str, Any]:
        result = await self._run(self._kb().search, query, k=k, lang=lang)
        return {"hits": [hit_view(h) for h in result.hits], "took_ms": round(result.took_ms, 3)}

    async def ask(self, question: str, lang: str | None, record: bool = True) -> dict[str, Any]:
        answer = await self._run(self._kb().ask, question, lang=lang)
        if not record:  # a later page of an answer already counted and recorded
            return answer_view(answer)
        if answer.abstained:
            self.service.metrics.abstentions.inc()
        return answer_view(answer, self.service.record_answer(answer, question, "mcp"))

    async def section(self, url: str) -> dict[str, Any]:
        kb = self._kb()
        return await self._run(lambda: sections_of(kb).section(url))

    async def documents(self) -> list[dict[str, Any]]:
        return self._serving().documents  # computed once per loaded index

    async def page(self, lang: str, path: str) -> dict[str, Any] | None:
        kb = self._kb()
        return await self._run(page_with_text, kb, lang, path)


def transport_security(allowed_hosts: list[str]) -> TransportSecuritySettings:
    """Host headers as configured; Origin headers of pages served from those same hosts."""
    origins = [f"{scheme}://{host}" for host in allowed_hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts,
                                     allowed_origins=origins)


class McpEndpoint:
    """The ASGI endpoint of ``/mcp``; ``running()`` (in the app's lifespan) runs the SDK's
    session manager, a new one each time the app starts (a manager runs only once)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        settings = service.settings
        self.server: DocsMCPServer = build_server(ServiceBackend(service), max_chars=settings.mcp_max_chars,
                                                  max_question_chars=settings.max_question_chars)
        self.security = transport_security(settings.mcp_allowed_host_list)
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # Building the SDK's Starlette app creates a fresh session manager; only the manager is
        # used, behind this endpoint, so /mcp stays a route of kb's app and passes its middlewares.
        self.server.streamable_http_app(
            stateless_http=True,
            json_response=True,  # one JSON reply per POST: nothing to stream for these tools
            transport_security=self.security,
            max_request_body_size=self.service.settings.max_body_bytes,
        )
        manager = self.server.session_manager
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await check_client(Request(scope, receive))  # ApiError -> the app's error handler: 401/429
        if self._manager is None:
            raise ApiError(503, "not_ready", "the MCP endpoint is starting: retry in a moment", {"Retry-After": "1"})
        await self._manager.handle_request(scope, receive, send)
