"""Running one server process, and stopping it without failing a request (``kb serve``).

SIGTERM, what an orchestrator or a rolling restart sends, drains first: /readyz answers
503 at once while requests are still served, for ``drain_s`` seconds, so the load
balancer's health checks take this replica out of rotation before it stops listening.
Then uvicorn's own graceful shutdown: stop accepting, close idle keep-alive connections,
let in-flight requests finish (at most ``request_timeout_s``), run the app's shutdown;
the process exits 0. SIGINT (Ctrl-C) skips the drain delay; a second signal stops at once.
"""

from __future__ import annotations

import signal
import socket
import threading
from types import FrameType

import uvicorn

from kb_service.api.app import create_app
from kb_service.api.server_options import uvicorn_options


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service, drain_s: float) -> None:
        super().__init__(config)
        self.service = service
        self.drain_s = drain_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in uvicorn's captured signals: uvicorn raises those again once it has
        # shut down, and the process would then end killed by SIGTERM instead of exiting 0.
        if self.service.draining or self.should_exit:
            self.should_exit = True
            self.force_exit = self.force_exit or sig == signal.SIGINT  # Ctrl-C twice: now
            return
        self.service.start_draining()
        if sig == signal.SIGTERM and self.drain_s > 0:
            timer = threading.Timer(self.drain_s, self._stop_accepting)
            timer.daemon = True
            timer.start()
        else:
            self.should_exit = True

    def _stop_accepting(self) -> None:
        self.should_exit = True  # uvicorn's main loop notices within 0.1 s


def run(host: str, port: int, sock: socket.socket | None = None, *, loop: str = "uvloop",
        http: str = "httptools") -> None:
    """Serve the app (settings from the environment and kb.toml) until a signal stops it."""
    app = create_app()
    service = app.state.service
    settings = service.settings
    config = uvicorn.Config(app, host=host, port=port, loop=loop, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=max(1, int(settings.request_timeout_s)),
                            **uvicorn_options(settings, http=http))
    server = DrainingServer(config, service, settings.drain_s)
    server.run(sockets=[sock] if sock is not None else None)
