"""scripts/ports.py: the ports servers in tests and the benchmark are started on."""

from __future__ import annotations

import socket
import sys

from tests.api_fixtures import REPO

sys.path.insert(0, str(REPO / "scripts"))
import ports  # noqa: E402
from ports import _ephemeral_start, free_port  # noqa: E402


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range():
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    assert all(port < _ephemeral_start() for port in ports)
    for port in ports[:3]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # raises if the port was not free


def test_a_port_something_listens_on_is_skipped(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        other = free_port()
        ports._given.discard(other)
        draws = iter([busy, other])
        monkeypatch.setattr(ports.random, "randrange", lambda *_: next(draws))
        assert free_port() == other
