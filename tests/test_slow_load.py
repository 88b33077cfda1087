"""Slow: a load test and an overload test against a real uvicorn server on 127.0.0.1.

Load: ``LOAD_CLIENTS`` (32) concurrent clients for ``LOAD_SECONDS`` (60 s), mixing /v1/ask,
/v1/search and /v1/chat with distinct questions (so the query cache does not flatter the
figures). Asserts zero errors and a bounded growth of the server's resident memory; writes
p50/p95/p99 latencies, throughput and memory to bench/load_test.json.

Overload: a server with a low ``KB_MAX_CONCURRENCY`` gets a burst several times that size;
the excess is refused at once with 503 + Retry-After rather than queued. The figures are
reported; no timing is asserted beyond "did not hang" (the machine is shared).

    HF_HUB_OFFLINE=1 pytest -m slow tests/test_slow_load.py -s
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import platform
import re
import statistics
import time
from pathlib import Path

import httpx
import pytest

from kb_service.config import Settings  # noqa: E402

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import REPO, uvicorn_server  # noqa: E402
from tests.conftest import DEV_SET  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

pytestmark = pytest.mark.slow

LOAD_CLIENTS = int(os.environ.get("LOAD_CLIENTS", "32"))
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
MAX_REQUESTS = 200_000  # a bound on the run besides its duration
WARM_UP_REQUESTS = 200  # memory is measured from after these (caches, allocator arenas, threads)
RSS_GROWTH_BOUND_MB = 150
CLIENT_TIMEOUT_S = 120  # generous: a request slower than this counts as an error (a hang)

PREFIXES = ["", "please tell me: ", "quick question, ", "for my team: ", "in short, "]
SUFFIXES = ["", " thanks", " (we are new to this)", " — any advice?", " please"]
FOLLOW_UPS = ["and for a monthly newsletter?", "and for a birthday message?", "what about a one-off promotion?",
              "et pour une newsletter mensuelle ?", "and for order confirmations?"]


def distinct_questions():
    """Dev-set questions, rephrased so that no text repeats (then numbered, if ever exhausted)."""
    base = [json.loads(line)["question"] for line in DEV_SET.read_text().splitlines() if line.strip()]
    variants = [f"{p}{q}{s}" for q in base for p in PREFIXES for s in SUFFIXES]
    for n in itertools.count():
        for text in variants:
            yield text if n == 0 else f"{text} #{n}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[index]


def summary(latencies: list[float]) -> dict:
    return {"count": len(latencies), "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p95_ms": round(percentile(latencies, 95) * 1000, 1), "p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1) if latencies else None}


def request_for(n: int, questions) -> tuple[str, dict]:
    question = next(questions)
    kind = n % 3
    if kind == 0:
        return "/v1/ask", {"question": question}
    if kind == 1:
        return "/v1/search", {"query": question, "k": 5}
    return "/v1/chat", {"messages": [{"role": "user", "content": question},
                                     {"role": "assistant", "content": "…"},
                                     {"role": "user", "content": FOLLOW_UPS[n % len(FOLLOW_UPS)]}]}


async def drive(url: str, pid: int, clients: int, seconds: float) -> dict:
    questions = distinct_questions()
    counter = itertools.count()
    results: list[tuple[str, int, float]] = []
    errors: list[str] = []
    memory = {"ready_mb": rss_mb(pid)}
    samples: list[float] = []
    warmed = asyncio.Event()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT_S, limits=limits) as http:
        started = time.perf_counter()
        deadline = started + seconds

        async def client() -> None:
            while time.perf_counter() < deadline:
                n = next(counter)
                if n >= MAX_REQUESTS:
                    return
                route, body = request_for(n, questions)
                t0 = time.perf_counter()
                try:
                    response = await http.post(route, json=body)
                    status = response.status_code
                    if status != 200:
                        errors.append(f"{route} {status} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    status = 0
                    errors.append(f"{route} {type(exc).__name__}: {exc}")
                results.append((route, status, time.perf_counter() - t0))
                if len(results) == WARM_UP_REQUESTS:
                    memory["after_warm_up_mb"] = rss_mb(pid)
                    warmed.set()

        async def sample_memory() -> None:
            while time.perf_counter() < deadline:
                samples.append(rss_mb(pid))
                await asyncio.sleep(1.0)  # a sampling period, not a synchronisation

        await asyncio.gather(sample_memory(), *(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    memory["end_mb"] = rss_mb(pid)
    memory["peak_sampled_mb"] = max(samples + [memory["end_mb"]])
    memory.setdefault("after_warm_up_mb", memory["ready_mb"])
    memory = {k: round(v, 1) for k, v in memory.items()}
    ok = [seconds for _, status, seconds in results if status == 200]
    by_route = {route: summary([s for r, status, s in results if r == route and status == 200])
                for route in ("/v1/ask", "/v1/search", "/v1/chat")}
    return {"requests": len(results), "errors": len(errors), "error_samples": errors[:10],
            "duration_s": round(elapsed, 1), "throughput_rps": round(len(results) / elapsed, 1),
            "latency": summary(ok), "latency_by_route": by_route, "memory": memory}


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    configured = os.environ.get("KB_LOAD_REPORT")
    return Path(configured) if configured else tmp_path_factory.getbasetemp() / "load_test.json"


def write_report(report_file: Path, section: str, figures: dict) -> None:
    report = json.loads(report_file.read_text()) if report_file.is_file() else {}
    report[section] = figures
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "load_average_1m_at_end": round(os.getloadavg()[0], 2)}
    report_file.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"load report written to {report_file}")


def test_load_32_clients_mixed_routes_zero_errors_bounded_memory(api_index, tmp_path, report_file):
    with uvicorn_server(api_index, tmp_path) as server:
        pid = server.process.pid
        load_before = os.getloadavg()[0]
        figures = asyncio.run(drive(server.url, pid, LOAD_CLIENTS, LOAD_SECONDS))
        assert server.process.poll() is None, f"the server died:\n{server.log()}"
        metrics = httpx.get(server.url + "/metrics", timeout=30).text
    growth = figures["memory"]["end_mb"] - figures["memory"]["after_warm_up_mb"]
    figures.update({
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m slow tests/test_slow_load.py",
        "clients": LOAD_CLIENTS, "seconds": LOAD_SECONDS, "mix": "ask : search : chat = 1 : 1 : 1, distinct questions",
        "server": "uvicorn (uvloop, httptools), 1 process, default settings (worker_threads "
                  f"{Settings().worker_threads if Settings().worker_threads is not None else 'auto: 2 in one process'}"
                  f", max_concurrency {Settings().max_concurrency})",
        "rss_growth_after_warm_up_mb": round(growth, 1), "rss_growth_bound_mb": RSS_GROWTH_BOUND_MB,
        "load_average_1m_at_start": round(load_before, 2),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    write_report(report_file, "load", figures)
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    assert figures["errors"] == 0, figures["error_samples"]
    assert figures["requests"] > LOAD_CLIENTS
    assert growth < RSS_GROWTH_BOUND_MB, figures["memory"]
    # No 5xx on any /v1 route in the server's own count either (/readyz is 503 while it starts).
    assert not re.search(r'route="/v1/[^"]*",status="5', metrics), metrics


OVERLOAD_LIMIT = 4
BURST = 64


async def burst(url: str, size: int) -> list[tuple[int, float, str | None, str | None]]:
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT_S, limits=limits) as http:
        async def one(n: int):
            t0 = time.perf_counter()
            response = await http.post("/v1/ask", json={"question": f"which approach for cart abandonment? #{n}"})
            code = response.json().get("error", {}).get("code") if response.status_code != 200 else None
            return response.status_code, time.perf_counter() - t0, response.headers.get("retry-after"), code

        return await asyncio.gather(*(one(n) for n in range(size)))


def test_overload_answers_503_with_retry_after_instead_of_queueing(api_index, tmp_path, report_file):
    with uvicorn_server(api_index, tmp_path, KB_MAX_CONCURRENCY=str(OVERLOAD_LIMIT)) as server:
        results = asyncio.run(burst(server.url, BURST))
        assert server.process.poll() is None
        # Once the burst is over the server answers normally again.
        assert httpx.post(server.url + "/v1/ask", json={"question": "which approach for cart abandonment?"},
                          timeout=CLIENT_TIMEOUT_S).status_code == 200
    refused = [r for r in results if r[0] == 503]
    served = [r for r in results if r[0] == 200]
    assert len(refused) + len(served) == BURST, sorted({r[0] for r in results})
    assert refused, "a burst of 64 against a limit of 4 should be partly refused"
    assert all(retry == "1" and code == "overloaded" for _, _, retry, code in refused)
    figures = {
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m slow tests/test_slow_load.py",
        "max_concurrency": OVERLOAD_LIMIT, "burst": BURST, "served": len(served), "refused_503": len(refused),
        "refused_latency": summary([s for _, s, _, _ in refused]),
        "served_latency": summary([s for _, s, _, _ in served]),
    }
    write_report(report_file, "overload", figures)
    print(json.dumps(figures, indent=2))
