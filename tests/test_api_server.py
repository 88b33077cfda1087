"""A real uvicorn process on 127.0.0.1: the official openai client, SSE, raw HTTP, the CLI."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import REPO, Server, uvicorn_server  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

KEY = "server-test-key"
ADMIN = "server-admin-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server(api_index: Path, tmp_path_factory: pytest.TempPathFactory):
    with uvicorn_server(api_index, tmp_path_factory.mktemp("server"), KB_API_KEYS=KEY, KB_ADMIN_KEY=ADMIN) as running:
        yield running


@pytest.fixture
def openai_client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=30)


def test_server_is_ready_and_healthy(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"


def test_openai_client_completion(openai_client):
    completion = openai_client.chat.completions.create(
        model="gpt-4o",  # clients hard-code model names: any is accepted
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "which approach for cart abandonment?"},
            {"role": "assistant", "content": "A journey."},
            {"role": "user", "content": "and for a monthly newsletter?"},
        ],
        temperature=0.2,
    )
    assert completion.object == "chat.completion"
    assert completion.model == "kb"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert "Action Campaign" in choice.message.content
    assert "Sources:\n- [1] [" in choice.message.content
    citations = completion.model_extra["citations"]
    assert citations and citations[0]["number"] == 1 and citations[0]["url"].startswith("https://")
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_openai_client_stream(openai_client):
    plain = openai_client.chat.completions.create(
        model="kb", messages=[{"role": "user", "content": "which approach for a monthly newsletter?"}])
    stream = openai_client.chat.completions.create(
        model="kb", messages=[{"role": "user", "content": "which approach for a monthly newsletter?"}], stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"] == plain.model_extra["citations"]


def test_openai_client_models_and_errors(server, openai_client):
    assert [m.id for m in openai_client.models.list()] == ["kb"]
    with pytest.raises(openai.AuthenticationError) as info:
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0).models.list()
    assert info.value.body["code"] == "unauthorized"
    with pytest.raises(openai.UnprocessableEntityError):
        openai_client.chat.completions.create(model="kb", messages=[{"role": "user", "content": "  "}])


def test_chat_stream_over_http(server):
    body = {"messages": [{"role": "user", "content": "which approach for cart abandonment?"},
                         {"role": "user", "content": "and for a monthly newsletter?"}], "stream": True}
    events = []
    with httpx.stream("POST", f"{server.url}/v1/chat", json=body, headers=AUTH, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[len("data: "):])))
    assert [e for e, _ in events][-2:] == ["citations", "done"]
    assert "Action Campaign" in "".join(d["delta"] for e, d in events if e == "answer")


def test_chunked_body_over_the_limit_is_413(server):
    def body():  # a generator: httpx sends it chunked, without Content-Length
        yield b'{"question": "'
        for _ in range(100):
            yield b"a" * 1024
        yield b'"}'

    response = httpx.post(f"{server.url}/v1/ask", content=body(), headers={**AUTH, "Content-Type": "application/json"},
                          timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_declared_content_length_over_the_limit_is_413(server):
    response = httpx.post(f"{server.url}/v1/ask", content=b"{" + b" " * 2_000_000 + b"}",
                          headers={**AUTH, "Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413


@pytest.mark.parametrize("raw_path", [
    "/v1/documents/en/../../../../etc/passwd",
    "/v1/documents/en/..%2F..%2F..%2Fetc%2Fpasswd",
    "/v1/documents/en/%2e%2e/%2e%2e/etc/passwd",
    "/v1/documents/en//etc/passwd",
])
def test_path_traversal_over_raw_http(server, raw_path):
    # http.client sends the path byte for byte (httpx would normalise the dot segments).
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", raw_path, headers=AUTH)
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    assert response.status == 404
    assert json.loads(text)["error"]["code"] in ("document_not_found", "not_found")
    assert "root:" not in text


def test_invalid_utf8_over_http(server):
    response = httpx.post(f"{server.url}/v1/ask", content=b'{"question": "\xff\xfe"}',
                          headers={**AUTH, "Content-Type": "application/json", "X-Request-ID": "utf8-check"})
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "invalid_json", "message": response.json()["error"]["message"],
                                        "request_id": "utf8-check"}


def run_cli(server: Server, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess:
    env = dict(server.env)
    env.pop("KB_INDEX", None)
    if key:
        env["KB_API_KEY"] = key
    return subprocess.run([sys.executable, "-m", "kb_service.cli", *args, "--url", server.url], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_remote_ask_and_search(server):
    asked = run_cli(server, "ask", "which", "approach", "for", "cart", "abandonment?")
    assert asked.returncode == 0, asked.stderr
    assert "[1]" in asked.stdout and "https://" in asked.stdout
    as_json = run_cli(server, "ask", "--json", "which approach for a monthly newsletter?")
    assert json.loads(as_json.stdout)["approach"] == "action"
    searched = run_cli(server, "search", "-k", "3", "--lang", "en", "cart abandonment")
    assert searched.returncode == 0, searched.stderr
    assert searched.stdout.startswith(" 1. [")


def test_cli_remote_prints_the_server_error(server):
    too_long = run_cli(server, "ask", "x" * 3000)
    assert too_long.returncode == 2
    assert "413 question_too_long" in too_long.stderr and "2000" in too_long.stderr
    unauthorised = run_cli(server, "ask", "cart abandonment", key="wrong")
    assert unauthorised.returncode == 2
    assert "401 unauthorized" in unauthorised.stderr


def test_admin_reload_over_http(server):
    assert httpx.post(f"{server.url}/v1/admin/reload", headers=AUTH).status_code == 401
    response = httpx.post(f"{server.url}/v1/admin/reload", headers={"X-Admin-Key": ADMIN}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "reloaded"
    assert httpx.get(f"{server.url}/readyz").status_code == 200
