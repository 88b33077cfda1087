"""API keys, rate limiting, the in-flight limit, CORS, logs, metrics and the OpenAPI docs."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from limits.storage import MemoryStorage

from kb_service.api.rate_limit import RateLimits, SQLiteWindowStorage
from kb_service.api.security import fingerprint

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import BlockingKB, LOAD_TIMEOUT_S, assert_error  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

QUESTION = {"question": "which approach for cart abandonment?"}
KEYS = "key-alpha,key-beta"
ORIGIN = "https://docs.example.com"


# ---- API keys --------------------------------------------------------------------------------


def test_query_routes_need_a_key_when_keys_are_configured(make_client):
    client = make_client(api_keys=KEYS)
    requests = [("POST", "/v1/ask", QUESTION), ("POST", "/v1/search", {"query": "journey"}),
                ("POST", "/v1/chat", {"messages": [{"role": "user", "content": "journey"}]}),
                ("POST", "/v1/chat/completions", {"model": "kb", "messages": [{"role": "user", "content": "journey"}]}),
                ("GET", "/v1/models", None), ("GET", "/v1/documents", None), ("GET", "/v1/index", None)]
    for method, path, body in requests:
        for headers in ({}, {"Authorization": "Bearer key-gamma"}, {"X-API-Key": "key-alph"},
                        {"Authorization": "key-alpha"}):
            response = client.request(method, path, json=body, headers=headers)
            assert_error(response, 401, "unauthorized", "API key")
            assert response.headers["www-authenticate"] == "Bearer"
        assert client.request(method, path, json=body, headers={"Authorization": "Bearer key-alpha"}).status_code == 200
        assert client.request(method, path, json=body, headers={"X-API-Key": "key-beta"}).status_code == 200


def test_operations_routes_stay_open_with_keys(make_client):
    client = make_client(api_keys=KEYS)
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_no_key_needed_when_none_is_configured(client):
    assert client.post("/v1/ask", json=QUESTION).status_code == 200
    assert client.post("/v1/ask", json=QUESTION, headers={"Authorization": "Bearer whatever"}).status_code == 200


def test_logs_name_the_key_by_fingerprint_and_questions_only_when_asked(make_client, caplog):
    client = make_client(api_keys=KEYS)
    with caplog.at_level(logging.INFO, logger="kb_service.api.access"):
        client.post("/v1/ask", json=QUESTION, headers={"Authorization": "Bearer key-alpha"})
    record = next(r for r in caplog.records if r.name == "kb_service.api.access")
    fields = record.fields
    assert fields["key"] == fingerprint("key-alpha")
    assert fields["route"] == "/v1/ask" and fields["status"] == 200 and fields["method"] == "POST"
    assert fields["request_id"] and fields["duration_ms"] >= 0
    assert "question" not in fields
    assert "key-alpha" not in caplog.text

    caplog.clear()
    client = make_client(api_keys=KEYS, log_questions=True)
    with caplog.at_level(logging.INFO, logger="kb_service.api.access"):
        client.post("/v1/ask", json=QUESTION, headers={"X-API-Key": "key-beta"})
    fields = next(r for r in caplog.records if r.name == "kb_service.api.access").fields
    assert fields["question"] == QUESTION["question"]
    assert "key-beta" not in caplog.text


# ---- rate limiting ---------------------------------------------------------------------------


def test_rate_limit_per_key_answers_429_with_retry_after(make_client):
    client = make_client(api_keys=KEYS, rate_limit_per_minute=2)
    alpha = {"Authorization": "Bearer key-alpha"}
    assert client.post("/v1/ask", json=QUESTION, headers=alpha).status_code == 200
    assert client.post("/v1/search", json={"query": "journey"}, headers=alpha).status_code == 200
    response = client.post("/v1/ask", json=QUESTION, headers=alpha)
    assert_error(response, 429, "rate_limited", "2 requests per minute")
    assert int(response.headers["retry-after"]) >= 1
    assert client.post("/v1/ask", json=QUESTION, headers={"X-API-Key": "key-beta"}).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert 'kb_rejected_total{reason="rate_limit"} 1.0' in client.get("/metrics").text


def test_rate_limit_per_address_without_keys(make_client):
    client = make_client(rate_limit_per_minute=1)
    assert client.post("/v1/ask", json=QUESTION).status_code == 200
    assert_error(client.post("/v1/ask", json=QUESTION), 429, "rate_limited")


def test_the_limit_counts_a_moving_window_and_says_when_to_retry():
    limits = RateLimits(2, 0, MemoryStorage())
    assert limits.take("a") == 0 and limits.take("a") == 0
    wait = limits.take("a")
    assert 1 <= wait <= 60  # the oldest hit leaves the window within the minute
    assert limits.take("b") == 0
    assert RateLimits(0, 0, MemoryStorage()).take("a") == 0


# ---- in-flight limit -------------------------------------------------------------------------


def test_past_max_concurrency_the_server_answers_503_at_once(make_client, shared_kb):
    blocking = BlockingKB(shared_kb)  # holds one request in flight until the test releases it
    client = make_client(kb=blocking, max_concurrency=1)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/v1/ask", json=QUESTION)
        try:
            assert blocking.entered.wait(LOAD_TIMEOUT_S)
            response = client.post("/v1/ask", json=QUESTION)
            assert_error(response, 503, "overloaded", "max_concurrency")
            assert response.headers["retry-after"] == "1"
            assert client.get("/healthz").status_code == 200  # probes are never refused
            assert client.get("/readyz").status_code == 200
        finally:
            blocking.release.set()
        assert first.result(timeout=LOAD_TIMEOUT_S).status_code == 200
    assert client.post("/v1/ask", json=QUESTION).status_code == 200
    assert 'kb_rejected_total{reason="overload"} 1.0' in client.get("/metrics").text


# ---- CORS ----------------------------------------------------------------------------------


def preflight(client, origin: str):
    return client.options("/v1/ask", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "content-type,authorization"})


def test_cors_is_closed_by_default(client):
    response = preflight(client, ORIGIN)
    assert "access-control-allow-origin" not in response.headers
    response = client.post("/v1/ask", json=QUESTION, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_cors_opens_for_configured_origins_only(make_client):
    client = make_client(cors_origins=f"{ORIGIN}, https://other.example.com")
    response = preflight(client, ORIGIN)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    response = client.post("/v1/ask", json=QUESTION, headers={"Origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    refused = client.post("/v1/ask", content=b"x", headers={"Origin": ORIGIN, "Content-Type": "text/plain"})
    assert refused.status_code == 415 and refused.headers["access-control-allow-origin"] == ORIGIN

    evil = preflight(client, "https://evil.example.com")
    assert evil.headers.get("access-control-allow-origin") != "https://evil.example.com"
    response = client.post("/v1/ask", json=QUESTION, headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in response.headers


# ---- metrics and docs ------------------------------------------------------------------------


def test_metrics_names_and_values(client, shared_kb):
    client.post("/v1/ask", json=QUESTION)
    client.post("/v1/ask", json={"question": "who won the 1998 football world cup?"})
    client.post("/v1/ask", json={"question": " "})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in ("kb_requests_total", "kb_request_duration_seconds_bucket", "kb_abstentions_total",
                 "kb_index_chunks", "kb_index_documents", "kb_reloads_total", "kb_rejected_total"):
        assert f"\n{name}" in text, name
    assert 'kb_requests_total{method="POST",route="/v1/ask",status="200"} 2.0' in text
    assert 'kb_requests_total{method="POST",route="/v1/ask",status="422"} 1.0' in text
    assert 'kb_request_duration_seconds_bucket{le="0.001",route="/v1/ask"}' in text
    assert 'kb_request_duration_seconds_bucket{le="2.5",route="/v1/ask"}' in text
    assert "kb_abstentions_total 1.0" in text
    assert f"kb_index_chunks {float(shared_kb.info()['counts']['total'])}" in text
    assert f"kb_index_documents {float(len(shared_kb.documents()))}" in text
    for reason in ("overload", "rate_limit", "auth"):
        assert f'kb_rejected_total{{reason="{reason}"}} 0.0' in text


def test_each_app_has_its_own_metrics(make_client):
    first, second = make_client(), make_client()
    first.post("/v1/ask", json=QUESTION)
    assert 'route="/v1/ask"' in first.get("/metrics").text
    assert 'route="/v1/ask"' not in second.get("/metrics").text


def test_openapi_documents_routes_examples_and_limits(make_client):
    client = make_client(max_body_bytes=32768, max_question_chars=1500)
    spec = client.get("/openapi.json").json()
    for path in ("/v1/search", "/v1/ask", "/v1/chat", "/v1/chat/completions", "/v1/models", "/v1/documents",
                 "/v1/documents/{lang}/{path}", "/v1/index", "/v1/admin/reload", "/healthz", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    assert "32768 bytes" in spec["info"]["description"] and "1500" in spec["info"]["description"]
    assert "Unknown fields are ignored" in spec["info"]["description"]
    ask = spec["paths"]["/v1/ask"]["post"]
    assert "citations" in ask["description"]
    assert {"413", "422", "429", "503"} <= set(ask["responses"])
    schemas = spec["components"]["schemas"]
    assert schemas["AskRequest"]["examples"] and schemas["AnswerPublic"]["examples"]
    assert client.get("/docs").status_code == 200


def test_made_up_keys_do_not_dodge_the_address_limit(make_client):
    client = make_client(rate_limit_per_minute=1)
    assert client.post("/v1/ask", json=QUESTION, headers={"Authorization": "Bearer one"}).status_code == 200
    assert_error(client.post("/v1/ask", json=QUESTION, headers={"Authorization": "Bearer two"}), 429, "rate_limited")


def test_the_shared_limit_file_forgets_old_hits(tmp_path):
    storage = SQLiteWindowStorage(path=tmp_path / "limits.sqlite")
    storage.SWEEP_EVERY = 10
    db = storage._db
    db.executemany("INSERT INTO hits (key, at) VALUES (?, 0)", [(f"ip:{i}",) for i in range(1000)])
    limits = RateLimits(5, 0, storage)
    for i in range(10):
        limits.take("ip:new")
    (rows,) = db.execute("SELECT COUNT(*) FROM hits").fetchone()
    assert rows == 5  # the 1,000 hits of 1970 swept; the new client's 5 counted hits kept
