"""Bad input on every question route, through the real app on the real corpus index.

The per-route tests in test_api_query/test_api_chat/test_api_openai cover /v1/ask (and
/v1/chat for conversations) in depth; this module applies the same hostile inputs to all
four question routes, adds the cases those do not reach (unsupported languages, Markdown,
deep nesting, NaN, huge conversations under a raised body limit, odd headers), and proves
that a document path never reaches the file system (an audit hook watches every open).
Every refusal is a 4xx with the error shape; nothing is ever a 5xx.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import orjson
import pytest

from kb_service.api.schemas import AnswerPublic, ChatCompletionPublic, SearchPublic

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import assert_error  # noqa: E402  (after the rewrite hook)

pytest_plugins = ["tests.api_fixtures"]

ROUTES = ["/v1/ask", "/v1/search", "/v1/chat", "/v1/chat/completions"]
JSON = {"content-type": "application/json"}


def body_for(route: str, text, **extra) -> dict:
    """The smallest valid body of ``route`` carrying ``text`` as the question."""
    if route == "/v1/ask":
        return {"question": text, **extra}
    if route == "/v1/search":
        return {"query": text, **extra}
    if route == "/v1/chat":
        return {"messages": [{"role": "user", "content": text}], **extra}
    return {"model": "kb", "messages": [{"role": "user", "content": text}], **extra}


def field_of(route: str) -> str:
    return {"/v1/ask": "question", "/v1/search": "query"}.get(route, "messages.0.content")


def assert_ok(route: str, response) -> dict:
    """200 with the route's documented shape, as JSON (never HTML)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    model = {"/v1/ask": AnswerPublic, "/v1/chat": AnswerPublic, "/v1/search": SearchPublic,
             "/v1/chat/completions": ChatCompletionPublic}[route]
    return model.model_validate(response.json()).model_dump()


# ---- the question text ---------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("text", ["", "    ", "\n\t\r ", "\x00\x01\x1b\x7f", "\u0085\u009f"])
def test_empty_whitespace_or_control_only_text_is_422_on_every_route(client, route, text):
    assert_error(client.post(route, json=body_for(route, text)), 422, "invalid_request", field_of(route))


@pytest.mark.parametrize("route", ROUTES)
def test_ten_kilobyte_text_is_413_on_every_route(client, route):
    assert_error(client.post(route, json=body_for(route, "cart " * 2048)), 413, "question_too_long",
                 field_of(route), "max_question_chars")


@pytest.mark.parametrize("route", ROUTES)
def test_one_megabyte_body_is_413_on_every_route(client, route):
    body = orjson.dumps(body_for(route, "a" * 1_000_000))
    assert_error(client.post(route, content=body, headers=JSON), 413, "payload_too_large", "max_body_bytes")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("raw", [b"caf\xe9", b"\xff\xfe\xfd", b"\xc3(", b"\xed\xa0\x80", b"ok \xf4\x90\x80\x80"])
def test_invalid_utf8_is_400_on_every_route(client, route, raw):
    body = orjson.dumps(body_for(route, "PLACEHOLDER")).replace(b"PLACEHOLDER", raw)
    assert_error(client.post(route, content=body, headers=JSON), 400, "invalid_json", "UTF-8")


@pytest.mark.parametrize("route", ROUTES)
def test_control_characters_and_lone_surrogates_are_removed_on_every_route(client, route):
    body = orjson.dumps(body_for(route, "PLACEHOLDER")).replace(
        b"PLACEHOLDER", b"cart\\u0000 aban\\u0007donment \\ud800\\udfff?\\u001b")
    assert_ok(route, client.post(route, content=body, headers=JSON))


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("text", [
    "🛒🛒 cart abandonment 🚀 which approach? 👩‍👩‍👧‍👦",
    "ما هي الطريقة المناسبة لسلة التسوق المهجورة؟",
    "\u202ewhich approach for cart abandonment?\u202c\u200f",
    "e\u0301\u0301\u0301\u0301 zalgo c\u0336a\u0336r\u0336t\u0336",
])
def test_emoji_and_right_to_left_text_on_every_route(client, route, text):
    assert_ok(route, client.post(route, json=body_for(route, text)))


MARKUP = [
    "# Heading\n\n```python\nimport os; os.system('rm -rf /')\n```\n| a | b |\n|---|---|\n[x](javascript:alert(1))",
    "<script>alert(document.cookie)</script><img src=x onerror=alert(1)> cart abandonment",
    "{{7*7}} ${7*7} <%= 7*7 %> {% raw %} journey",
    "'; DROP TABLE chunks; -- campaign",
    "\"}]} {\"question\": \"injected\"} newsletter",
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("text", MARKUP)
def test_markdown_html_and_template_payloads_are_data(client, route, text):
    assert_ok(route, client.post(route, json=body_for(route, text)))


def test_payload_echoed_in_errors_is_json_encoded_and_not_sniffable(client):
    script = "<script>alert(1)</script>"
    for response in (client.get(f"/v1/{script}"), client.get(f"/v1/documents/en/{script}.md"),
                     client.post("/v1/ask", content=b"{}", headers={"content-type": f"text/html; x={script}"})):
        assert 400 <= response.status_code < 500
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-content-type-options"] == "nosniff"
        orjson.loads(response.content)  # one JSON document, whatever the payload
    stream = client.post("/v1/chat", json={"messages": [{"role": "user", "content": script}], "stream": True})
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["x-content-type-options"] == "nosniff"
    for line in filter(None, stream.text.splitlines()):  # every line is an event name or JSON data
        assert line.startswith("event: ") or orjson.loads(line.removeprefix("data: ")) is not None


@pytest.mark.parametrize("route", ["/v1/ask", "/v1/chat", "/v1/chat/completions", "/v1/search"])
@pytest.mark.parametrize("question", [
    "Welcher Ansatz eignet sich für Warenkorbabbrüche?",
    "¿Qué enfoque para un boletín mensual?",
    "购物车放弃应该用哪种方法？",
    "カート放棄にはどの方法が適していますか？",
    "Какой подход выбрать для брошенной корзины?",
    "कार्ट छोड़ने के लिए कौन सा तरीका?",
    "장바구니 포기에는 어떤 접근 방식이 좋나요?",
    "Ποια προσέγγιση για εγκαταλελειμμένο καλάθι;",
])
def test_a_question_in_an_unsupported_language_is_answered_or_abstained(client, route, question):
    body = assert_ok(route, client.post(route, json=body_for(route, question)))
    if route in ("/v1/ask", "/v1/chat"):
        assert body["lang"] in ("en", "fr")
        assert body["abstained"] or body["citations"]


# ---- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/v1/chat"])
@pytest.mark.parametrize("k", [0, -1, 10**9, 10**30, "abc", "5", [5], {"k": 5}, 1.5, 5.0, True])
def test_bad_k_on_chat_is_422_naming_k(client, route, k):
    response = client.post(route, json=body_for(route, "cart abandonment", k=k))
    assert_error(response, 422, "invalid_request", "k:")  # strict: "5", 5.0 and true are not coerced


@pytest.mark.parametrize("route", ["/v1/ask", "/v1/search", "/v1/chat"])
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_are_422_not_500(client, route, literal):
    body = orjson.dumps(body_for(route, "cart abandonment", k=0)).replace(b'"k":0', b'"k":' + literal)
    response = client.post(route, content=body, headers=JSON)
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]["code"] in ("invalid_json", "invalid_request")


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_fields_are_ignored_on_every_route(client, route):
    body = body_for(route, "which approach for cart abandonment?", temperature=0.2, tools=[{"x": 1}],
                    __proto__={"admin": True}, constructor=None)
    assert_ok(route, client.post(route, json=body))


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx", "json", "*/*"])
def test_wrong_content_type_is_415_on_every_route(client, route, content_type):
    body = orjson.dumps(body_for(route, "cart abandonment"))
    assert_error(client.post(route, content=body, headers={"content-type": content_type}), 415,
                 "unsupported_media_type", "application/json")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b'"x"', b"{}", b"\xef\xbb\xbf{}",
                                  b"[" * 20_000 + b"]" * 20_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000])
def test_malformed_or_deeply_nested_bodies_are_4xx(client, route, body):
    response = client.post(route, content=body, headers=JSON)
    assert response.status_code in (400, 413, 422), response.text
    assert response.json()["error"]["code"] in ("invalid_json", "invalid_request", "payload_too_large")


@pytest.mark.parametrize("path_prefix, status", [("../../etc", 200), ("/etc/passwd", 200), ("\x00help", 200),
                                                 ("%2e%2e%2f", 200), ("x" * 501, 422), (7, 422)])
def test_path_prefix_is_only_a_filter(client, path_prefix, status):
    response = client.post("/v1/search", json={"query": "campaign", "path_prefix": path_prefix})
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["hits"] == [] or all(
            h["path"].startswith(path_prefix.replace("\x00", "")) for h in response.json()["hits"])


# ---- conversations ---------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/v1/chat", "/v1/chat/completions"])
@pytest.mark.parametrize("messages, words", [
    ([], ["messages"]),
    ([{"role": "assistant", "content": "hello"}], ["role 'user'"]),
    ([{"role": "user"}], ["messages.0"]),
    ([{"role": "user", "content": 42}], ["messages.0.content"]),
    (["which approach?"], ["messages.0"]),
    ([None], ["messages.0"]),
    ("which approach?", ["messages"]),
    ({"role": "user", "content": "hi"}, ["messages"]),
    ([{"role": "root", "content": "hi"}], ["messages.0.role"]),
    ([{"role": ["user"], "content": "hi"}], ["messages.0.role"]),
])
def test_bad_conversations_are_422_on_both_chat_routes(client, route, messages, words):
    body = {"messages": messages} if route == "/v1/chat" else {"model": "kb", "messages": messages}
    assert_error(client.post(route, json=body), 422, "invalid_request", *words)


@pytest.mark.parametrize("route", ["/v1/chat", "/v1/chat/completions"])
def test_ten_thousand_turns_are_413_even_under_a_raised_body_limit(make_client, route):
    client = make_client(max_body_bytes=4 * 1024 * 1024)
    messages = [{"role": "user", "content": "cart abandonment"}] * 10_000
    body = {"messages": messages} if route == "/v1/chat" else {"model": "kb", "messages": messages}
    assert_error(client.post(route, json=body), 413, "too_many_messages", "10000", "max_messages")


@pytest.mark.parametrize("content", [
    [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}],
    [{"type": "text", "text": 42}],
    ["not a part", 3, None],
    [{"type": "text"}],
    [],
])
def test_openai_content_parts_without_text_are_422(client, content):
    response = client.post("/v1/chat/completions", json={"model": "kb", "messages": [
        {"role": "user", "content": content}]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


# ---- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {"authorization": b"Bearer \xff\xfe"},
    {"x-api-key": b"\xc3\x28"},
    {"authorization": b"Bearer " + b"k" * 8000},
    {"authorization": b"Bearer"},
    {"authorization": b"Bearer  "},
])
def test_odd_key_headers_are_401_not_500(make_client, headers):
    client = make_client(api_keys="key-alpha")
    assert_error(client.post("/v1/ask", json={"question": "cart abandonment"}, headers=headers), 401, "unauthorized")


def test_odd_request_id_headers_are_replaced(client):
    for value in (b"\xff\xfe", b"id\x00x", b"a" * 10_000):
        response = client.get("/healthz", headers={"x-request-id": value})
        assert response.status_code == 200
        assert len(response.headers["x-request-id"]) == 32


# ---- paths never reach the file system --------------------------------------------------------

_opened: list[str] = []
_watching = threading.Event()


def _audit(event: str, args: tuple) -> None:
    if _watching.is_set() and event in ("open", "os.listdir", "os.scandir", "os.stat") and args:
        _opened.append(str(args[0]))


_hook_installed = False


def watch_file_access() -> list[str]:
    """Start recording every file the process opens (an audit hook cannot be removed, so it is
    installed once and switched with an event)."""
    global _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True
    _opened.clear()
    _watching.set()
    return _opened


TRAVERSALS = [
    "..%2F..%2Fetc/passwd",
    "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "%252e%252e%252fetc%252fpasswd",
    "..%5C..%5C..%5Cetc%5Cpasswd",
    "%2Fetc%2Fpasswd",
    "%2F%2Fetc%2Fpasswd",
    "help/using/start/journeys-vs-campaigns.md%00../../etc/passwd",
    "..%c0%af..%c0%afetc/passwd",
    "file:%2F%2F%2Fetc%2Fpasswd",
    "~root/.ssh/id_rsa",
    "proc/self/environ",
]


def test_document_paths_never_open_a_file(client, tmp_path):
    secret = tmp_path / "kb-secret-sentinel.md"
    secret.write_text("# Secret\n\nroot:x:0:0\n")
    relative = "/".join([".."] * 12) + str(secret)
    paths = TRAVERSALS + [str(secret).lstrip("/"), relative.replace("/", "%2F"),
                          "help/" + "x/" * 400 + "a.md"]
    opened = watch_file_access()
    try:
        secret.read_bytes()  # the control: the hook does see this process open the file
        assert any("kb-secret-sentinel" in p for p in opened), opened
        opened.clear()
        for lang in ("en", "fr", "..", "%2e%2e"):
            for path in paths:
                response = client.get(f"/v1/documents/{lang}/{path}")
                assert response.status_code == 404, (lang, path, response.text)
                assert response.json()["error"]["code"] in ("document_not_found", "not_found")
                assert "root:" not in response.text
    finally:
        _watching.clear()
    touched = [p for p in opened if "passwd" in p or "kb-secret-sentinel" in p or "id_rsa" in p
               or "environ" in p or p.startswith("/etc")]
    assert touched == [], touched


# ---- the documented shapes ----------------------------------------------------------------------


@pytest.mark.parametrize("method, path, model", [
    ("post", "/v1/ask", "AnswerPublic"), ("post", "/v1/search", "SearchPublic"), ("post", "/v1/chat", "AnswerPublic"),
    ("post", "/v1/chat/completions", "ChatCompletionPublic"), ("get", "/v1/documents", "DocumentsPublic"),
    ("get", "/v1/index", "IndexInfoPublic"), ("get", "/healthz", "StatusPublic"),
    ("post", "/v1/admin/reload", "ReloadPublic"),
])
def test_openapi_documents_each_success_body(client, method, path, model):
    # Regression: with a response class that was not a JSONResponse, every 200 was documented as
    # {"type": "string"}, so generated clients and schema checks saw the wrong shape.
    spec = client.get("/openapi.json").json()
    schema = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": f"#/components/schemas/{model}"}
