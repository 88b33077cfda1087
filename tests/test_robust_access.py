"""Access control and logs, read as an operator reads them: the JSON lines the server writes.

test_api_security covers keys, rate limits, the in-flight limit and CORS route by route;
this module proves the properties that need the formatted log output or a look inside the
comparison: keys never reach a log line (whatever the route, the outcome or where the key
was sent), questions only with ``log_questions``, the request id in the header is the one in
the log line, every key comparison goes through ``hmac.compare_digest`` with no early exit,
and CORS stays closed for anything not configured.
"""

from __future__ import annotations

import hmac
import io
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import orjson
import pytest

from kb_service.api import security
from kb_service.api.app import JsonLogFormatter

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import BlockingKB, LOAD_TIMEOUT_S, assert_error  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

KEYS = ["key-alpha-5f1e2d9c", "key-beta-77aa01b3"]
ADMIN = "admin-key-0c9d8e7f6a"
QUESTION = "zanzibar-marker which approach for cart abandonment?"


class LogCapture:
    """The formatted lines written so far, parsed (each must be one JSON object)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonLogFormatter())

    def text(self) -> str:
        self.handler.flush()
        return self.stream.getvalue()

    def records(self) -> list[dict]:
        return [orjson.loads(line) for line in self.text().splitlines()]

    def access(self) -> list[dict]:
        return [r for r in self.records() if r["logger"] == "kb_service.api.access"]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    logger = logging.getLogger("kb_service.api")
    previous = logger.level
    logger.addHandler(capture.handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        logger.removeHandler(capture.handler)
        logger.setLevel(previous)


def every_kind_of_request(client, key: str) -> list:
    """Successes and failures on every route family, with the key sent every way it can be."""
    bearer, header = {"Authorization": f"Bearer {key}"}, {"X-API-Key": key}
    chat = {"messages": [{"role": "user", "content": QUESTION}]}
    return [
        client.post("/v1/ask", json={"question": QUESTION}, headers=bearer),
        client.post("/v1/search", json={"query": QUESTION}, headers=header),
        client.post("/v1/chat", json=chat, headers=bearer),
        client.post("/v1/chat", json={**chat, "stream": True}, headers=header),
        client.post("/v1/chat/completions", json={"model": "kb", **chat}, headers=bearer),
        client.post("/v1/ask", json={"question": QUESTION + "x" * 3000}, headers=bearer),  # 413
        client.post("/v1/ask", json={"question": QUESTION, "k": 0}, headers=header),  # 422
        client.post("/v1/ask", content=b"{bad " + QUESTION.encode(), headers={**bearer, "content-type": "application/json"}),
        client.post("/v1/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {key}-wrong"}),  # 401
        client.post("/v1/ask", json={"question": QUESTION}, headers={"X-API-Key": key[:-1]}),  # 401
        client.get(f"/v1/documents?api_key={key}&q={QUESTION}", headers=bearer),
        client.get(f"/v1/documents/en/{key}.md", headers=bearer),  # 404 naming the path, not the key
        client.get(f"/v1/nothing/{key}", headers=bearer),
        client.post("/v1/admin/reload", headers={"X-Admin-Key": key}),  # a user key on admin: 401
        client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"}),  # 200
        client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN + "0"}),  # 401
    ]


def test_keys_never_appear_in_log_lines_or_error_bodies(make_client, logs):
    client = make_client(api_keys=",".join(KEYS), admin_key=ADMIN)
    responses = every_kind_of_request(client, KEYS[0]) + every_kind_of_request(client, KEYS[1])
    statuses = {r.status_code for r in responses}
    assert {200, 401, 404, 413, 422, 400} <= statuses, statuses
    text = logs.text()
    assert text.count('"logger":"kb_service.api.access"') >= len(responses)
    for secret in (*KEYS, ADMIN):
        assert secret not in text
        assert secret[:-1] not in text  # nor a wrong key that differs by one character
    for record in logs.access():
        assert set(record) >= {"ts", "level", "logger", "msg", "request_id", "method", "route", "status",
                               "duration_ms", "client", "key"}
        assert record["key"] in (None, *(security.fingerprint(k) for k in (*KEYS, ADMIN)))
        assert "?" not in record["route"]  # the route template, never the raw URL and its query


def test_error_bodies_do_not_echo_keys(make_client):
    client = make_client(api_keys=",".join(KEYS), admin_key=ADMIN)
    for response in every_kind_of_request(client, KEYS[0]):
        for secret in (*KEYS, ADMIN):
            if response.request.url.path.endswith(f"/{secret}.md") or response.request.url.path.endswith(f"/{secret}"):
                continue  # a key typed into the URL path is echoed as the path asked for; never a header
            assert secret not in response.text


@pytest.mark.parametrize("log_questions", [False, True])
def test_question_text_is_logged_only_when_enabled(make_client, logs, log_questions):
    client = make_client(api_keys=KEYS[0], log_questions=log_questions)
    responses = every_kind_of_request(client, KEYS[0])
    assert {r.status_code for r in responses} >= {200, 413, 422, 400}
    if not log_questions:
        assert "zanzibar-marker" not in logs.text()
        return
    logged = [r.get("question") for r in logs.access()]
    answered = [r for r in logs.access() if r["status"] == 200 and r["route"] in
                ("/v1/ask", "/v1/search", "/v1/chat", "/v1/chat/completions")]
    assert len(answered) == 5
    assert all(r["question"] == QUESTION for r in answered)
    assert logged.count(QUESTION) == 5  # refused requests (413, 422, 400) log no question


def test_internal_error_logs_a_traceback_but_no_question_or_key(make_client, shared_kb, logs):
    class ExplodingKB:
        def __init__(self, kb):
            self._kb = kb

        def __getattr__(self, name):
            return getattr(self._kb, name)

        def ask(self, question, **kwargs):
            raise RuntimeError("boom")

    client = make_client(kb=ExplodingKB(shared_kb), api_keys=KEYS[0])
    response = client.post("/v1/ask", json={"question": QUESTION}, headers={"X-API-Key": KEYS[0]})
    assert_error(response, 500, "internal_error")
    records = logs.records()
    failure = next(r for r in records if r.get("event") == "internal_error")
    assert failure["request_id"] == response.headers["x-request-id"]
    assert "RuntimeError: boom" in failure["exc"]
    assert "zanzibar-marker" not in logs.text() and KEYS[0] not in logs.text()


def test_request_id_header_matches_the_log_line(make_client, shared_kb, logs):
    blocking = BlockingKB(shared_kb)
    client = make_client(kb=blocking, max_concurrency=1)
    sent = client.post("/v1/ask", json={"question": "   "}, headers={"X-Request-ID": "trace-7f3a_01"})
    generated = client.get("/v1/documents")
    too_big = client.post("/v1/ask", content=b"{" + b" " * 70_000 + b"}", headers={"content-type": "application/json"})
    with ThreadPoolExecutor(1) as pool:  # a middleware refusal (503) carries the same id too
        held = pool.submit(client.post, "/v1/search", json={"query": "journey"})
        try:
            assert blocking.entered.wait(LOAD_TIMEOUT_S)
            overloaded = client.post("/v1/ask", json={"question": "journey"})
        finally:
            blocking.release.set()
        assert held.result(timeout=LOAD_TIMEOUT_S).status_code == 200
    assert sent.headers["x-request-id"] == "trace-7f3a_01"
    assert overloaded.status_code == 503 and too_big.status_code == 413
    by_id = {r["request_id"]: r for r in logs.access()}
    for response in (sent, generated, too_big, overloaded):
        request_id = response.headers["x-request-id"]
        record = by_id[request_id]
        assert record["status"] == response.status_code
        if response.status_code >= 400:
            assert response.json()["error"]["request_id"] == request_id


# ---- constant-time comparison -----------------------------------------------------------------


_compare_digest = hmac.compare_digest  # the real one, before any test replaces it


class CompareSpy:
    """Records every comparison, then does it for real."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, bytes]] = []

    def __call__(self, a, b) -> bool:
        self.calls.append((a, b))
        return _compare_digest(a, b)


@pytest.mark.parametrize("given, matched", [(KEYS[0], True), (KEYS[1], True), ("nope", False),
                                            (KEYS[0][:-1], False), ("", False)])
def test_every_configured_key_is_compared_with_compare_digest(make_client, monkeypatch, given, matched):
    spy = CompareSpy()
    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    client = make_client(api_keys=",".join(KEYS))
    response = client.get("/v1/index", headers={"X-API-Key": given} if given else {})
    assert response.status_code == (200 if matched else 401)
    if given:
        # One comparison per configured key whichever matched: no early exit, bytes on both sides.
        assert [b for _, b in spy.calls] == [k.encode() for k in KEYS]
        assert all(a == given.encode() for a, _ in spy.calls)


def test_admin_key_is_compared_with_compare_digest(make_client, monkeypatch):
    spy = CompareSpy()
    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    client = make_client(admin_key=ADMIN)
    assert client.post("/v1/admin/reload", headers={"X-Admin-Key": "guess"}).status_code == 401
    assert spy.calls == [(b"guess", ADMIN.encode())]


# ---- CORS --------------------------------------------------------------------------------------

ORIGIN = "https://docs.example.com"


def preflight(client, origin: str, method: str = "POST", headers: str = "content-type"):
    return client.options("/v1/ask", headers={"Origin": origin, "Access-Control-Request-Method": method,
                                              "Access-Control-Request-Headers": headers})


@pytest.mark.parametrize("origin", [ORIGIN, "null", "http://localhost:3000", "https://evil.example.com"])
def test_cors_closed_by_default_for_any_origin(make_client, origin):
    client = make_client(api_keys=KEYS[0])
    for response in (preflight(client, origin), client.post("/v1/ask", json={"question": "journey"},
                                                            headers={"Origin": origin, "X-API-Key": KEYS[0]}),
                     client.post("/v1/ask", json={"question": "journey"}, headers={"Origin": origin})):
        assert not any(h.startswith("access-control-") for h in response.headers), response.headers


def test_configured_cors_never_allows_credentials_other_origins_or_methods(make_client):
    client = make_client(cors_origins=ORIGIN, api_keys=KEYS[0], rate_limit_per_minute=1)
    allowed = preflight(client, ORIGIN, headers="authorization,x-api-key,content-type")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in allowed.headers
    for bad in (preflight(client, "https://docs.example.com.evil.io"), preflight(client, "http://docs.example.com"),
                preflight(client, ORIGIN, method="DELETE"), preflight(client, ORIGIN, headers="x-custom")):
        assert bad.status_code == 400
        assert bad.headers.get("access-control-allow-origin") in (None, ORIGIN)
        assert bad.headers.get("access-control-allow-origin") != "https://docs.example.com.evil.io"
    # Refusals (401, 429) still carry the CORS headers, so a browser app can read the error.
    unauthorised = client.post("/v1/ask", json={"question": "journey"}, headers={"Origin": ORIGIN})
    assert unauthorised.status_code == 401 and unauthorised.headers["access-control-allow-origin"] == ORIGIN
    headers = {"Origin": ORIGIN, "X-API-Key": KEYS[0]}
    assert client.post("/v1/ask", json={"question": "journey"}, headers=headers).status_code == 200
    limited = client.post("/v1/ask", json={"question": "journey"}, headers=headers)
    assert limited.status_code == 429 and limited.headers["access-control-allow-origin"] == ORIGIN
    assert "retry-after" in limited.headers["access-control-expose-headers"].lower()


def test_reload_log_lines_name_the_failure_without_secrets(make_client, api_index, tmp_path, logs):
    # The builds only: a reload reuses the loaded query model, so the ONNX export is not needed.
    root = tmp_path / "index"
    shutil.copytree(api_index, root, ignore=shutil.ignore_patterns("onnx", ".ingest.lock", ".tmp-*"))
    client = make_client(admin_key=ADMIN, index=root)
    (root / "CURRENT").write_text("garbage\n")
    response = client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN})
    assert_error(response, 409, "reload_failed", "CURRENT")
    failure = next(r for r in logs.records() if r.get("event") == "reload_failed")
    assert "CURRENT" in failure["error"] and ADMIN not in logs.text()
