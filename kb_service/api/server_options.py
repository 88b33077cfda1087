"""How uvicorn runs the app: one place for `kb serve`, its workers and the tests' live server.

- **Connections that are not yet a request are closed.** uvicorn arms its keep-alive timer
  only after a response, and any byte received disarms it: a connection that never sends a
  request, or sends half a request line or half its headers, stays open forever, each one
  holding a socket (the probe's slow clients). The protocols below add a deadline for the
  request head: a new connection, or one whose next request has begun, must deliver a whole
  head within ``idle_timeout_s``; an idle keep-alive connection (a response sent, no byte of
  the next request yet) may wait ``keep_alive_s``, longer than the clients' own idle expiry,
  so that the client is the one that closes it (docs/robustness.md: closing at the clients'
  expiry reset requests sent at that moment). The body has its own
  deadline in the app (``body_timeout_s``, api/security.py).
- **uvicorn's own 400** (a request it cannot parse) is answered in kb's JSON error shape,
  not as plain text.
- **Forwarded headers** (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only from
  ``trusted_proxies``. uvicorn believes them from 127.0.0.1 by default, so anyone on the
  machine, or any local tool relaying traffic, could name itself any address and dodge
  the per-address limits.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kb_service.api.errors import error_body
from kb_service.config import Settings

_BAD_REQUEST = "the request could not be parsed as HTTP/1.1: check the request line and headers"


class _HeadDeadline:
    """Mixin for uvicorn's HTTP protocols: a deadline for each request head, a JSON 400."""

    head_timeout_s = 5.0  # set per server by protocol_class()
    keep_alive_s = 75.0
    _head_timer: asyncio.TimerHandle | None = None
    _idle = False  # the deadline armed is the keep-alive one: no byte of a next request yet

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._arm_head_deadline(idle=True)

    def data_received(self, data: bytes) -> None:
        if self._idle:
            self._arm_head_deadline()  # the next request has begun: its head must come in time
        super().data_received(data)  # type: ignore[misc]

    def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
        self._disarm_head_deadline()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_head_deadline(self, *, idle: bool = False) -> None:
        self._disarm_head_deadline()
        self._idle = idle
        transport = getattr(self, "transport", None)
        if transport is not None and not transport.is_closing():
            delay = self.keep_alive_s if idle else self.head_timeout_s
            self._head_timer = self.loop.call_later(delay, self._head_deadline_passed)  # type: ignore[attr-defined]

    def _disarm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_deadline_passed(self) -> None:
        self._head_timer = None
        cycle = getattr(self, "cycle", None)
        waiting_for_head = cycle is None or cycle.response_complete
        if waiting_for_head and not self.transport.is_closing():  # type: ignore[attr-defined]
            self.transport.close()  # type: ignore[attr-defined]

    def send_400_response(self, msg: str) -> None:
        body = error_body("bad_request", _BAD_REQUEST, None)
        head = (b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n")
        self.transport.write(head + body)  # type: ignore[attr-defined]
        self.transport.close()  # type: ignore[attr-defined]


class KbHttpToolsProtocol(_HeadDeadline, HttpToolsProtocol):
    pass


class KbH11Protocol(_HeadDeadline, H11Protocol):
    pass


_PROTOCOLS = {"httptools": KbHttpToolsProtocol, "h11": KbH11Protocol}


def protocol_class(http: str, head_timeout_s: float, keep_alive_s: float = 75.0) -> type:
    """The protocol for ``http`` ("httptools" or "h11") with this server's head deadlines."""
    base = _PROTOCOLS[http]
    return type(base.__name__, (base,), {"head_timeout_s": head_timeout_s, "keep_alive_s": keep_alive_s})


def uvicorn_options(settings: Settings, *, http: str = "httptools") -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` / ``uvicorn.run`` that make these promises."""
    trusted = settings.trusted_proxy_list
    return {
        "http": protocol_class(http, settings.idle_timeout_s, settings.keep_alive_s),
        "timeout_keep_alive": settings.keep_alive_s,
        # No trusted proxy: uvicorn does not read the headers at all (its default would
        # trust 127.0.0.1). With some: only from those addresses or networks.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        # h11 buffers at most this much of an incomplete request head (uvicorn's default is
        # 16 kB too; stated so that the limit is ours).
        "h11_max_incomplete_event_size": 16 * 1024,
    }
