"""One worker of `kb serve --workers N`: the app on its own SO_REUSEPORT socket (see supervisor.py)."""

from __future__ import annotations

import socket
import sys

import uvicorn


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # the kernel spreads connections
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def main() -> None:
    host, port, keep_alive_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    config = uvicorn.Config("kb_service.api.app:create_app", factory=True, loop="uvloop", http="httptools",
                            log_level="warning", access_log=False, timeout_keep_alive=keep_alive_s)
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


if __name__ == "__main__":
    main()
