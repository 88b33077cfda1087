"""The query fast path (api/fast_path.py) answers exactly as the FastAPI routes do.

Each request goes to two apps on the same knowledge base, one with the fast path and one
without, and the two responses must match: status, error code and message, headers a client
acts on, and the JSON (timings aside).
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import BlockingKB  # noqa: E402  (after the rewrite hook)

pytest_plugins = ["tests.api_fixtures"]

CART = "which approach for cart abandonment?"
KEY = "k" * 32


def _comparable(response) -> tuple:
    body = response.json()
    if "error" in body:
        body["error"].pop("request_id", None)
    body.pop("took_ms", None)
    body.pop("answer_id", None)  # a new id per answer given
    headers = {name: response.headers.get(name) for name in ("content-type", "retry-after", "www-authenticate")}
    return response.status_code, headers, body


def _same(make_client, requests, **settings) -> list[int]:
    fast, plain = make_client(**settings), make_client(fast_path=False, **settings)
    statuses = []
    for path, kwargs in requests:
        got, expected = _comparable(fast.post(path, **kwargs)), _comparable(plain.post(path, **kwargs))
        assert got == expected, (path, kwargs)
        statuses.append(got[0])
    return statuses


def test_answers_searches_and_refusals_match_the_fastapi_routes(make_client):
    statuses = _same(make_client, [
        ("/v1/ask", {"json": {"question": CART}}),
        ("/v1/ask", {"json": {"question": "Quelle approche pour une newsletter ?", "k": 3, "lang": "fr"}}),
        ("/v1/ask", {"json": {"question": "How do I reverse a list in Python?"}}),
        ("/v1/search", {"json": {"query": CART, "k": 3}}),
        ("/v1/search", {"json": {"query": "newsletter", "lang": "en", "path_prefix": "help/using/campaigns/"}}),
        ("/v1/ask", {"json": {"question": "x" * 2001}}),
        ("/v1/search", {"json": {"query": "x" * 2001}}),
        ("/v1/ask", {"json": {"question": "  "}}),
        ("/v1/ask", {"json": {"question": CART, "k": 0}}),
        ("/v1/ask", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("/v1/ask", {"content": b'{"question": "cart abandonment"}'}),
    ])
    assert statuses == [200, 200, 200, 200, 200, 413, 413, 422, 422, 400, 200]


def test_api_keys_are_checked_the_same_way(make_client):
    statuses = _same(make_client, [
        ("/v1/ask", {"json": {"question": CART}}),
        ("/v1/ask", {"json": {"question": CART}, "headers": {"Authorization": "Bearer wrong"}}),
        ("/v1/ask", {"json": {"question": CART}, "headers": {"Authorization": f"Basic {KEY}"}}),
        ("/v1/ask", {"json": {"question": CART}, "headers": {"Authorization": f"Bearer {KEY}"}}),
        ("/v1/search", {"json": {"query": CART}, "headers": {"X-API-Key": KEY}}),
    ], api_keys=KEY)
    assert statuses == [401, 401, 401, 200, 200]


def test_the_rate_limit_is_applied_the_same_way(make_client):
    statuses = _same(make_client, [("/v1/ask", {"json": {"question": CART}})] * 3, rate_limit_per_minute=2)
    assert statuses == [200, 200, 429]


def test_not_ready_is_the_same_503(make_client, shared_kb):
    blocked = BlockingKB(shared_kb, block_warm_up=True)
    fast = make_client(kb=blocked, wait=False)
    plain = make_client(kb=blocked, wait=False, fast_path=False)
    try:
        assert blocked.entered.wait(60)
        got, expected = (_comparable(c.post("/v1/ask", json={"question": CART})) for c in (fast, plain))
        assert got == expected and got[0] == 503
    finally:
        blocked.release.set()


def test_valid_requests_take_the_fast_path_and_invalid_ones_fall_through(make_client, monkeypatch):
    from kb_service.api import fast_path

    taken = []
    model, content = fast_path._HANDLERS["/v1/ask"]

    async def recording(*args):
        taken.append(args[-1])
        return await content(*args)

    monkeypatch.setitem(fast_path._HANDLERS, "/v1/ask", (model, recording))
    client = make_client()
    assert client.post("/v1/ask", json={"question": CART}).status_code == 200
    assert client.post("/v1/ask", json={"question": ""}).status_code == 422
    assert [body.question for body in taken] == [CART]
    metrics = client.get("/metrics").text
    assert 'kb_requests_total{method="POST",route="/v1/ask",status="200"} 1.0' in metrics
    assert 'kb_requests_total{method="POST",route="/v1/ask",status="422"} 1.0' in metrics
