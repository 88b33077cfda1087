"""Median latency of ask_docs over /mcp (the MCP SDK's client, Streamable HTTP) against the
same question on POST /v1/ask, on one live server on 127.0.0.1 (the app run in process).

    KB_INDEX=index .venv/bin/python scripts/mcp_latency.py [--n 25]

Distinct questions each round (the eval dev set), so no answer is a cache hit twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
import httpx2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

from kb_service.config import load_settings  # noqa: E402
from kb_service.kb import KnowledgeBase  # noqa: E402
from tests.live_server import live_server  # noqa: E402


def questions(n: int) -> list[str]:
    found: list[str] = []
    for name in ("dev.jsonl", "dev-plus.jsonl"):
        path = ROOT.parent / "shared" / "eval" / name
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        found += [r["question"] for r in rows if isinstance(r.get("question"), str) and r["question"] not in found]
    if len(found) < n:
        raise SystemExit(f"only {len(found)} distinct questions in ../shared/eval: use --n {len(found) // 2}")
    return found[:n]


async def over_mcp(url: str, asked: list[str]) -> list[float]:
    times = []
    async with httpx2.AsyncClient(timeout=60) as http:
        async with Client(streamable_http_client(url + "/mcp", http_client=http)) as kb:
            for question in asked:
                started = time.perf_counter()
                result = await kb.call_tool("ask_docs", {"question": question})
                times.append((time.perf_counter() - started) * 1000)
                assert not result.is_error, result.content[0].text
    return times


def over_rest(url: str, asked: list[str]) -> list[float]:
    times = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for question in asked:
            started = time.perf_counter()
            assert http.post("/v1/ask", json={"question": question}).status_code == 200
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=25, help="questions per route")
    args = parser.parse_args()
    settings = load_settings().model_copy(update={"api_keys": None, "rate_limit_per_minute": 0})
    kb = KnowledgeBase.from_settings(settings).load()
    kb.warm_up()
    asked = questions(2 * args.n)  # every other one to each route: no question is asked twice
    with live_server(settings, kb=kb) as (url, _app):
        rest = over_rest(url, asked[0::2])
        mcp = asyncio.run(over_mcp(url, asked[1::2]))
    print(f"{len(rest)} questions each, median ms: REST /v1/ask {statistics.median(rest):.1f}, "
          f"MCP ask_docs {statistics.median(mcp):.1f} (p90 {sorted(mcp)[int(0.9 * len(mcp)) - 1]:.1f})")


if __name__ == "__main__":
    main()
