"""A TCP port on 127.0.0.1 for a server that a test or a benchmark starts.

Asking the kernel for port 0 and handing the number on leaves a window before the server
binds it (a replica loads its index first, for seconds). The number comes from the
ephemeral range, the same range every outgoing connection on the machine draws its local
port from, so on a busy machine another client can take it in that window ("address already
in use"). Ports below that range are never handed to outgoing connections, so a free one
there stays free unless another server deliberately binds it; and the numbers given out in
one process are remembered, so two servers started together never get the same one.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000  # above the well-known and most registered services' ports
_given: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on, outside the ephemeral range, not given out before here."""
    top = _ephemeral_start()
    if top - _LOWEST < 1000:  # an unusual range: fall back to the kernel's choice
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    for _ in range(200):
        port = random.randrange(_LOWEST, top)
        if port not in _given and _bindable(port):
            _given.add(port)
            return port
    raise RuntimeError(f"no free port found between {_LOWEST} and {top}")
