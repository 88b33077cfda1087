"""/v1/search and /v1/ask through the real app, on the real corpus index, and every bad input."""

from __future__ import annotations

import orjson
import pytest

from kb_service.api.schemas import AnswerPublic, SearchPublic


pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import BlockingKB, assert_error  # noqa: E402  (after the rewrite hook)

pytest_plugins = ["tests.api_fixtures"]  # its session fixtures, shared by every API test module

CART = "which approach for cart abandonment?"


# ---- happy paths ---------------------------------------------------------------------------


def test_search_returns_hits_in_the_view_shape(client):
    response = client.post("/v1/search", json={"query": "cart abandonment", "k": 5, "lang": "en"})
    assert response.status_code == 200
    body = SearchPublic.model_validate(response.json()).model_dump()
    assert 1 <= len(body["hits"]) <= 5
    assert all(hit["lang"] == "en" for hit in body["hits"])
    assert body["hits"] == sorted(body["hits"], key=lambda h: -h["score"])


def test_search_path_prefix_filters_pages(client):
    prefix = "help/using/start/"
    response = client.post("/v1/search", json={"query": "campaign", "path_prefix": prefix})
    hits = response.json()["hits"]
    assert hits and all(h["path"].startswith(prefix) for h in hits)


def test_ask_answers_with_numbered_citations(client):
    response = client.post("/v1/ask", json={"question": CART})
    assert response.status_code == 200
    body = AnswerPublic.model_validate(response.json()).model_dump()
    assert not body["abstained"]
    assert body["approach"] == "journey"
    assert body["citations"]
    for citation in body["citations"]:
        assert f"[{citation['number']}]" in body["answer"]
        assert citation["url"].startswith("https://")


def test_ask_k_and_lang(client):
    response = client.post("/v1/ask", json={"question": "quelle approche pour une newsletter mensuelle ?", "k": 3,
                                            "lang": "fr"})
    assert response.status_code == 200
    body = response.json()
    assert body["lang"] == "fr"
    assert all(c["lang"] == "fr" for c in body["citations"])


def test_unknown_fields_are_ignored(client):
    response = client.post("/v1/ask", json={"question": CART, "temperature": 0.2, "extra": {"nested": [1, 2]}})
    assert response.status_code == 200
    assert not response.json()["abstained"]


def test_a_body_without_content_type_is_read_as_json(client):
    response = client.post("/v1/ask", content=orjson.dumps({"question": CART}))
    assert response.status_code == 200


def test_control_characters_are_removed_not_refused(client):
    clean = client.post("/v1/ask", json={"question": CART}).json()
    noisy = client.post("/v1/ask", json={"question": "which\x00 approach for cart aban\x07donment?\x1b\x7f"})
    assert noisy.status_code == 200
    assert noisy.json()["answer"] == clean["answer"]


def test_lone_surrogate_escape_does_not_crash(client):
    response = client.post("/v1/ask", content=b'{"question": "cart abandonment \\ud800 journey"}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 200


@pytest.mark.parametrize("question", [
    "🛒🛒 cart abandonment 🚀 which approach?",
    "ما هي الطريقة المناسبة لسلة التسوق المهجورة؟",
    "איזו גישה לנטישת עגלה?",
    "\u202ewhich approach for cart abandonment?\u202c",
])
def test_emoji_and_right_to_left_text(client, question):
    response = client.post("/v1/ask", json={"question": question})
    assert response.status_code == 200
    AnswerPublic.model_validate(response.json())


def test_html_and_script_payloads_are_data(client):
    payload = "<script>alert('x')</script><img src=x onerror=alert(1)> cart abandonment"
    for route, field in (("/v1/ask", "question"), ("/v1/search", "query")):
        response = client.post(route, json={field: payload})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
    error = client.post("/v1/ask", json={"question": payload, "k": "<b>x</b>"})
    assert error.headers["content-type"] == "application/json"
    assert error.json()["error"]["code"] == "invalid_request"


# ---- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "\n\t ", "\x00\x01"])
def test_empty_or_whitespace_question_is_422(client, question):
    assert_error(client.post("/v1/ask", json={"question": question}), 422, "invalid_request",
                 "question: must not be empty or whitespace")


def test_missing_question_is_422(client):
    assert_error(client.post("/v1/ask", json={"k": 3}), 422, "invalid_request", "question: field required")


def test_empty_query_is_422(client):
    assert_error(client.post("/v1/search", json={"query": " "}), 422, "invalid_request", "query:")


def test_ten_kilobyte_question_is_413_with_the_limit(client):
    error = assert_error(client.post("/v1/ask", json={"question": "cart " * 2000}), 413, "question_too_long",
                         "2000", "max_question_chars")
    assert "10000" in error["message"]


def test_long_search_query_is_413(client):
    assert_error(client.post("/v1/search", json={"query": "x" * 2001}), 413, "question_too_long", "2000")


def test_one_megabyte_body_is_413(client):
    body = orjson.dumps({"question": "a" * 1_000_000})
    assert_error(client.post("/v1/ask", content=body, headers={"content-type": "application/json"}), 413,
                 "payload_too_large", "65536", "max_body_bytes")


@pytest.mark.parametrize("k, words", [
    (0, ["k:", "greater than or equal to 1"]),
    (-1, ["k:", "greater than or equal to 1"]),
    (10**9, ["k:", "less than or equal to 50"]),
    ("abc", ["k:", "valid integer"]),
    (2.5, ["k:"]),
    (None, ["k:"]),
])
def test_bad_k_is_422_naming_k(client, k, words):
    assert_error(client.post("/v1/ask", json={"question": CART, "k": k}), 422, "invalid_request", *words)
    assert_error(client.post("/v1/search", json={"query": CART, "k": k}), 422, "invalid_request", *words)


@pytest.mark.parametrize("lang", ["de", "EN", "", 3])
def test_unknown_lang_is_422(client, lang):
    assert_error(client.post("/v1/ask", json={"question": CART, "lang": lang}), 422, "invalid_request",
                 "lang:", "'en' or 'fr'")


def test_malformed_json_is_400_invalid_json(client):
    for body in (b"{bad", b'{"question": "x"', b"\x00"):
        assert_error(client.post("/v1/ask", content=body, headers={"content-type": "application/json"}), 400,
                     "invalid_json")


def test_invalid_utf8_is_400_invalid_json(client):
    body = b'{"question": "caf\xe9 \xff\xfe cart"}'
    assert_error(client.post("/v1/ask", content=body, headers={"content-type": "application/json"}), 400,
                 "invalid_json", "UTF-8")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"a question"', b"42", b"null"])
def test_json_that_is_not_an_object_is_422(client, body):
    assert_error(client.post("/v1/ask", content=body, headers={"content-type": "application/json"}), 422,
                 "invalid_request", "JSON object")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/xml"])
def test_wrong_content_type_is_415(client, content_type):
    assert_error(client.post("/v1/ask", content=orjson.dumps({"question": CART}),
                             headers={"content-type": content_type}), 415, "unsupported_media_type",
                 "application/json")


def test_json_content_type_with_charset_and_suffix_is_accepted(client):
    for content_type in ("application/json; charset=utf-8", "application/vnd.kb+json"):
        response = client.post("/v1/ask", content=orjson.dumps({"question": CART}),
                               headers={"content-type": content_type})
        assert response.status_code == 200, content_type


def test_empty_body_is_422(client):
    assert_error(client.post("/v1/ask", content=b"", headers={"content-type": "application/json"}), 422,
                 "invalid_request", "body is required")


def test_unknown_route_and_wrong_method(client):
    assert_error(client.get("/v1/nothing-here"), 404, "not_found", "/docs")
    error = assert_error(client.get("/v1/ask"), 405, "method_not_allowed", "POST")
    assert "GET" in error["message"]
    assert_error(client.delete("/v1/search"), 405, "method_not_allowed")


# ---- request ids and unexpected errors ---------------------------------------------------------


def test_request_id_on_every_response(client):
    for response in (client.get("/healthz"), client.post("/v1/ask", json={"question": CART}),
                     client.post("/v1/ask", json={}), client.get("/nope"), client.get("/metrics")):
        assert len(response.headers["x-request-id"]) == 32


def test_sane_client_request_id_is_kept_and_others_replaced(client):
    kept = client.get("/healthz", headers={"X-Request-ID": "trace-42_abc"})
    assert kept.headers["x-request-id"] == "trace-42_abc"
    for bad in ("a" * 65, "has space", "<script>", "semi;colon"):
        replaced = client.get("/healthz", headers={"X-Request-ID": bad})
        assert replaced.headers["x-request-id"] != bad
        assert len(replaced.headers["x-request-id"]) == 32


class ExplodingKB:
    """A real KnowledgeBase whose ask fails unexpectedly: the test is about the 500 path."""

    def __init__(self, kb):
        self._kb = kb

    def __getattr__(self, name):
        return getattr(self._kb, name)

    def ask(self, *args, **kwargs):
        raise RuntimeError("secret internal detail /etc/kb/password")


def test_unexpected_error_is_500_without_details(make_client, shared_kb):
    client = make_client(kb=ExplodingKB(shared_kb))
    response = client.post("/v1/ask", json={"question": CART})
    error = assert_error(response, 500, "internal_error", response.headers["x-request-id"])
    assert "secret" not in response.text and "Traceback" not in response.text and "RuntimeError" not in response.text
    assert client.get("/healthz").status_code == 200  # the server goes on


def test_request_timeout_is_504(make_client, shared_kb):
    blocking = BlockingKB(shared_kb)
    client = make_client(kb=blocking, request_timeout_s=0.2)
    try:
        assert_error(client.post("/v1/ask", json={"question": CART}), 504, "timeout", "request_timeout_s")
    finally:
        blocking.release.set()


class ThreadRecordingKB:
    """The shared knowledge base, noting which thread each answer ran on."""

    def __init__(self, kb):
        self._kb = kb
        self.threads: list[str] = []

    def __getattr__(self, name):
        return getattr(self._kb, name)

    def ask(self, *args, **kwargs):
        import threading

        self.threads.append(threading.current_thread().name)
        return self._kb.ask(*args, **kwargs)


@pytest.mark.parametrize("threads", [0, 1])
def test_answers_on_the_event_loop_or_in_answer_threads_are_the_same(make_client, shared_kb, threads):
    recording = ThreadRecordingKB(shared_kb)
    client = make_client(kb=recording, worker_threads=threads)
    body = client.post("/v1/ask", json={"question": CART}).json()
    assert body["approach"] == "journey" and not body["abstained"]
    assert body["answer"] == shared_kb.ask(CART).answer
    on_answer_thread = [name.startswith("kb-answer") for name in recording.threads]
    assert on_answer_thread == [threads > 0]
    search = client.post("/v1/search", json={"query": CART, "k": 3}).json()
    assert len(search["hits"]) == 3


def test_an_error_answering_on_the_event_loop_is_still_a_500(make_client, shared_kb):
    client = make_client(kb=ExplodingKB(shared_kb), worker_threads=0)
    assert_error(client.post("/v1/ask", json={"question": CART}), 500, "internal_error")
    assert client.get("/healthz").status_code == 200
