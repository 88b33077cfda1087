"""A lean HTTP/1.1 load generator for kb bench: keep-alive connections over asyncio streams.

Why not httpx here: the load generator shares the server's two cores, and httpx spends
about 1.2 ms of CPU per request (measured with os.times around a load cell) against the
server's ~6 ms, so at concurrency 16 it takes a fifth of the machine from the server it
measures. This client writes each request as ready-made bytes and reads the response by its
Content-Length (or chunked framing): about a tenth of that. bench.py can still run its
cells with httpx (`--client httpx`) as a cross-check.

Only for servers on this machine: the URL must be http://127.0.0.1 or localhost.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Iterator
from urllib.parse import urlsplit

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _request(host: str, route: str, field: str, question: str) -> bytes:
    body = json.dumps({field: question}, ensure_ascii=False).encode("utf-8")
    head = (f"POST {route} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one whole response; return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        await reader.readexactly(int(lower[at + 17 : end]))
    elif b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                break
    return status


async def run_cell(url: str, route: str, questions: Iterator[str], concurrency: int, duration: float,
                   max_requests: int) -> dict:
    """Like bench._load_cell: ``concurrency`` connections sending distinct questions until the
    deadline or ``max_requests``; returns latencies (ms) of 200s and error counts by kind."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in _LOCAL_HOSTS:
        raise ValueError(f"the load generator only targets servers on this machine, not {url}")
    port = parts.port or 80
    host = f"{parts.hostname}:{port}"
    field = "query" if route == "/v1/search" else "question"
    latencies: list[float] = []
    errors: dict[str, int] = {}
    issued = 0
    deadline = time.perf_counter() + duration

    async def connection() -> None:
        nonlocal issued
        reader = writer = None
        while time.perf_counter() < deadline and issued < max_requests:
            issued += 1
            payload = _request(host, route, field, next(questions))
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(parts.hostname, port)
                writer.write(payload)
                status = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            if status == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1
        if writer is not None:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return {"latencies": latencies, "errors": errors, "elapsed": time.perf_counter() - began}
