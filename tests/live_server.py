"""The real app served by a real uvicorn server, in this process, on 127.0.0.1.

For tests that need real HTTP and real concurrency but not a second copy of the model: the
app is handed an already loaded KnowledgeBase. The listening socket is bound here (port 0,
the OS picks), so there is no race for a port; start-up and shut-down wait on uvicorn's own
``started`` flag and thread, each a bounded number of times.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import httpx
import uvicorn

from kb_service.api.app import create_app
from kb_service.api.server_options import uvicorn_options
from kb_service.config import Settings

LOAD_TIMEOUT_S = 180


@contextmanager
def live_server(settings: Settings, kb: Any = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(base_url, app)`` once /readyz answers 200; stop the server on exit."""
    app = create_app(settings, kb=kb)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, loop="asyncio",
                            timeout_graceful_shutdown=5, **uvicorn_options(settings, http="h11"))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="kb-live-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(LOAD_TIMEOUT_S * 20):  # bounded: uvicorn flips ``started`` once it listens
            if server.started or not thread.is_alive():
                break
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        assert app.state.service.loaded.wait(LOAD_TIMEOUT_S), "the index did not load in time"
        assert httpx.get(url + "/readyz", timeout=30).status_code == 200, "the server is not ready"
        yield url, app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
