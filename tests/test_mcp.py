"""kb as an MCP server, driven by the MCP SDK's own client, on the real corpus index.

* Over Streamable HTTP: ``/mcp`` of the real app served by uvicorn on 127.0.0.1 (one server
  for the module, with an API key required), beside the REST routes it must agree with.
* Over stdio: ``kb mcp`` spawned as a subprocess on the test index, and ``kb mcp --url``
  forwarding to the live server (that one must not import torch).
* Every ask_docs answer carries the answer_id it was recorded under (the server's SQLite
  database, or for ``kb mcp`` one beside the index), and POST /v1/feedback rates it.

Nothing is faked: the model, the FAISS/BM25 index, the server and the clients are real.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import api_settings  # noqa: E402  (after the rewrite hook)
from tests.live_server import live_server  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]  # the session's index and loaded KnowledgeBase

KEY = "mcp-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
APPROACH_QUESTION = "which approach for cart abandonment?"
OFF_TOPIC = "how do I bake a chocolate cake?"
LONG_ANSWER = "how do I test a journey?"  # ~600 characters of answer: more than one 500-character page
GUIDE_PAGE = "help/using/start/journeys-vs-campaigns.md"
HEAVY_MODULES = ("torch", "numpy", "faiss", "onnxruntime", "sentence_transformers", "transformers")


def run(coro_fn: Callable[[Client], Awaitable[Any]], client: Callable[[], Client]) -> Any:
    async def main() -> Any:
        async with client() as session:
            return await coro_fn(session)

    return asyncio.run(main())


@pytest.fixture(scope="module")
def live(api_index: Path, shared_kb, tmp_path_factory) -> Iterator[tuple[str, Any]]:
    """The live server and its app; answers recorded in a SQLite file of this module's own."""
    settings = api_settings(api_index, api_keys=KEY, data_dir=tmp_path_factory.mktemp("mcp-answers"))
    with live_server(settings, kb=shared_kb) as running:
        yield running


@pytest.fixture(scope="module")
def server(live) -> str:
    return live[0]


def stored(app, answer_id: str, until: Callable[[dict], bool] = lambda row: True) -> dict:
    """The answer's row in the server's database, once ``until(row)`` holds (bounded wait)."""
    recorder = app.state.service.recorder
    assert recorder.flush(10), "the answer writer did not catch up"
    row = None
    for _ in range(100):  # a vote queued behind its answer is written right after it
        row = recorder.store.get(answer_id)
        if row is not None and until(row):
            return row
        time.sleep(0.05)
    raise AssertionError(f"answer {answer_id} stored as {row}")


def rate(server: str, answer_id: str, rating: str, comment: str | None = None) -> httpx.Response:
    body = {"answer_id": answer_id, "rating": rating, **({"comment": comment} if comment else {})}
    return httpx.post(server + "/v1/feedback", json=body, headers=AUTH, timeout=30)


def http_client(url: str, headers: dict[str, str] | None = AUTH) -> Callable[[], Client]:
    """A factory of SDK clients for ``url``/mcp, sending ``headers`` (the API key)."""

    def make() -> Client:
        http = httpx2.AsyncClient(headers=headers or {}, timeout=60)
        return Client(streamable_http_client(url + "/mcp", http_client=http))

    return make


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


# ---- tools over HTTP ---------------------------------------------------------------------


def test_tools_are_listed_read_only_with_schemas(server):
    tools = {t.name: t for t in run(lambda c: c.list_tools(), http_client(server)).tools}
    assert set(tools) == {"search_docs", "ask_docs", "get_section"}
    arguments = {name: set(t.input_schema["properties"]) for name, t in tools.items()}
    assert {"query", "lang", "k"} <= arguments["search_docs"]
    assert {"question", "lang"} <= arguments["ask_docs"]
    assert "url" in arguments["get_section"]
    assert tools["search_docs"].input_schema["required"] == ["query"]
    lang = tools["ask_docs"].input_schema["properties"]["lang"]
    assert {"enum": ["en", "fr"], "type": "string"} in lang["anyOf"] and lang["default"] is None
    assert tools["search_docs"].input_schema["properties"]["k"]["default"] == 5
    for tool in tools.values():
        assert tool.annotations.read_only_hint is True and tool.annotations.destructive_hint is False
        assert len(tool.description) > 80, f"{tool.name} needs a description a model can choose by"
        assert "next_cursor" in tool.output_schema["properties"]
        assert tool.input_schema["properties"]["max_chars"]["default"] == 4000


def test_search_docs_returns_located_hits_like_the_rest_route(server):
    result = run(lambda c: c.call_tool("search_docs", {"query": "cart abandonment", "lang": "en", "k": 3}),
                 http_client(server))
    assert not result.is_error
    hits = result.structured_content["hits"]
    rest = httpx.post(server + "/v1/search", json={"query": "cart abandonment", "lang": "en", "k": 3},
                      headers=AUTH).json()["hits"]
    assert [h["url"] for h in hits] == [h["url"] for h in rest]  # one implementation behind both
    for hit in hits:
        assert hit["lang"] == "en" and "#" in hit["url"] and hit["path"].endswith(".md")
        assert 1 <= hit["line_start"] <= hit["line_end"] and hit["heading_path"] and hit["text"]
        assert hit["url"] in text_of(result) and hit["title"] in text_of(result)


def test_ask_docs_answers_with_citations_that_get_section_opens(server):
    async def scenario(c: Client):
        answer = await c.call_tool("ask_docs", {"question": APPROACH_QUESTION})
        citation = answer.structured_content["citations"][0]
        section = await c.call_tool("get_section", {"url": citation["url"]})
        other = await c.call_tool("get_section", {"url": citation["alt_url"]})
        return answer, citation, section, other

    answer, citation, section, other = run(scenario, http_client(server))
    rest = httpx.post(server + "/v1/ask", json={"question": APPROACH_QUESTION}, headers=AUTH).json()
    data = answer.structured_content
    assert not answer.is_error and not data["abstained"] and not data["not_found"]
    assert data["answer"] == rest["answer"] and data["approach"] == rest["approach"] == "journey"
    assert [c["url"] for c in data["citations"]] == [c["url"] for c in rest["citations"]]
    assert "[1]" in text_of(answer) and citation["url"] in text_of(answer)
    assert citation["alt_url"] and "/fr/" in citation["alt_url"]
    # The section holds the cited lines, whole.
    whole = section.structured_content
    assert (whole["path"], whole["lang"]) == (citation["path"], citation["lang"])
    assert whole["line_start"] <= citation["line_start"] <= citation["line_end"] <= whole["line_end"]
    assert whole["next_cursor"] is None and len(whole["text"]) == whole["total_chars"]
    cited = next(c for c in rest["citations"] if c["url"] == citation["url"])
    if cited["kind"] == "table_row":  # "Header: cell | Header: cell", from the table the section shows
        assert all(part.split(": ", 1)[-1] in whole["text"] for part in cited["text"].split(" | "))
    else:
        assert " ".join(cited["text"].split())[:60] in " ".join(whole["text"].split())
    assert whole["alt_url"] == citation["alt_url"]
    assert other.structured_content["lang"] == "fr" and other.structured_content["alt_url"] == citation["url"]


def test_ask_docs_answers_are_recorded_for_feedback(live):
    server, app = live

    async def scenario(c: Client):
        first = await c.call_tool("ask_docs", {"question": LONG_ANSWER, "max_chars": 500})
        cursor = first.structured_content["next_cursor"]
        assert cursor, "the answer should take more than one 500-character page"
        recorded = app.state.service.recorder.store.count() if app.state.service.recorder.flush(10) else None
        second = await c.call_tool("ask_docs", {"question": LONG_ANSWER, "max_chars": 500, "cursor": cursor})
        return first, recorded, second

    first, recorded_after_first, second = run(scenario, http_client(server))
    answer_id = first.structured_content["answer_id"]
    assert answer_id and f"answer_id: {answer_id}" in text_of(first)
    row = stored(app, answer_id)
    assert (row["surface"], row["question"], row["abstained"]) == ("mcp", LONG_ANSWER, False)
    assert row["build"] == app.state.service.serving.info["build"] and row["cited_chunks"]
    # The next page is the same answer: the same id, and no second record.
    assert second.structured_content["answer_id"] == answer_id
    assert app.state.service.recorder.store.count() == recorded_after_first

    response = rate(server, answer_id, "down", "the journey page says more")
    assert response.status_code == 202, response.text
    row = stored(app, answer_id, until=lambda r: r["rating"] == "down")
    assert row["comment"] == "the journey page says more"
    assert rate(server, "0" * 32, "up").status_code == 404  # an id no surface gave


def test_ask_docs_says_not_found_with_the_closest_sections(server):
    result = run(lambda c: c.call_tool("ask_docs", {"question": OFF_TOPIC}), http_client(server))
    data = result.structured_content
    assert not result.is_error and data["not_found"] is True and data["abstained"] is True
    assert data["citations"] == [] and data["closest"], "closest sections, never a guess"
    assert text_of(result).startswith("NOT FOUND")
    assert all("#" in s["url"] for s in data["closest"])


def test_results_are_cut_at_max_chars_and_the_cursor_fetches_the_rest(server):
    url = httpx.post(server + "/v1/search", json={"query": "decision guide journeys campaigns", "k": 1},
                     headers=AUTH).json()["hits"][0]["url"]
    whole = httpx.get(server + "/v1/sections", params={"url": url}, headers=AUTH).json()["text"]

    async def scenario(c: Client):
        pieces, cursor, pages = [], None, 0
        while pages < 50:  # bounded: 500 characters a page
            args = {"url": url, "max_chars": 500, **({"cursor": cursor} if cursor else {})}
            result = await c.call_tool("get_section", args)
            assert not result.is_error, text_of(result)
            assert len(text_of(result)) <= 500 + 300  # the page, plus the cursor's line
            data = result.structured_content
            pieces.append((data["offset"], data["text"]))
            cursor, pages = data["next_cursor"], pages + 1
            if cursor is None:
                break
        hits, cursor = [], None
        for _ in range(10):
            result = await c.call_tool("search_docs", {"query": "journey", "k": 8, "max_chars": 900,
                                                       **({"cursor": cursor} if cursor else {})})
            hits += result.structured_content["hits"]
            cursor = result.structured_content["next_cursor"]
            if cursor is None:
                break
        everything = await c.call_tool("search_docs", {"query": "journey", "k": 8, "max_chars": 20000})
        return pieces, pages, hits, everything.structured_content["hits"]

    pieces, pages, hits, everything = run(scenario, http_client(server))
    assert len(whole) > 500 and pages >= 2
    rebuilt = "".join(whole[offset:offset + len(text)] for offset, text in pieces)
    assert all(whole[offset:offset + len(text)] == text for offset, text in pieces)
    assert "".join(whole.split()) == "".join(rebuilt.split())  # only the separators at the cuts are dropped
    assert [h["url"] for h in hits] == [h["url"] for h in everything] and len(everything) == 8


def test_bad_arguments_are_tool_errors_and_the_server_keeps_answering(server):
    cases = [
        ("search_docs", {"query": "journeys", "lang": "de"}, "lang"),
        ("search_docs", {"query": "journeys", "k": 0}, "k"),
        ("search_docs", {"query": "   "}, "empty"),
        ("search_docs", {"query": "x" * 2001}, "limit is 2000"),
        ("search_docs", {"query": "journeys", "max_chars": 10}, "max_chars"),
        ("search_docs", {"query": "journeys", "cursor": "not-a-cursor"}, "not a cursor"),
        ("ask_docs", {}, "question"),
        ("ask_docs", {"question": 42}, "question"),
        ("get_section", {"url": "https://example.com/nowhere#x"}, "not found"),
        ("get_section", {"url": "https://experienceleague.adobe.com/en/docs/journey-optimizer/using/start/"
                                "journeys-vs-campaigns"}, "its sections are"),
        ("no_such_tool", {}, "no_such_tool"),
    ]

    async def scenario(c: Client):
        results = [(await c.call_tool(name, args), name, word) for name, args, word in cases]
        search = await c.call_tool("search_docs", {"query": "journey", "k": 2, "max_chars": 500})
        stolen = await c.call_tool("get_section", {"url": "https://x/y#z",
                                                   "cursor": search.structured_content["next_cursor"]})
        again = await c.call_tool("search_docs", {"query": "journey"})
        return results, stolen, again

    results, stolen, again = run(scenario, http_client(server))
    for result, name, word in results:
        assert result.is_error, f"{name} accepted a bad argument"
        assert word.lower() in text_of(result).lower(), text_of(result)
    assert stolen.is_error
    assert not again.is_error and again.structured_content["hits"]


# ---- resources ------------------------------------------------------------------------------


def test_every_indexed_page_is_a_readable_resource(server):
    async def scenario(c: Client):
        listed = await c.list_resources()
        templates = await c.list_resource_templates()
        page = await c.read_resource(f"kb://en/{GUIDE_PAGE}")
        with pytest.raises(MCPError, match="no page"):
            await c.read_resource("kb://en/help/using/no-such-page.md")
        return listed, templates, page

    listed, templates, page = run(scenario, http_client(server))
    documents = httpx.get(server + "/v1/documents", headers=AUTH).json()["documents"]
    assert {r.uri for r in listed.resources} == {f"kb://{d['lang']}/{d['path']}" for d in documents}
    assert [t.uri_template for t in templates.resource_templates] == ["kb://{lang}/{+path}"]
    text = page.contents[0].text
    outline = httpx.get(f"{server}/v1/documents/en/{GUIDE_PAGE}", params={"text": "true"}, headers=AUTH).json()
    assert text.startswith(f"# {outline['title']}") and page.contents[0].mime_type == "text/markdown"
    for section in outline["sections"]:
        assert section["url"] in text and section["text"][:80] in text


# ---- access ---------------------------------------------------------------------------------


def test_the_api_key_is_required_on_mcp(server):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}):
        response = httpx.post(server + "/mcp", json=body, headers={**accept, **headers})
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    with pytest.raises(Exception):  # the SDK client cannot even connect
        run(lambda c: c.list_tools(), http_client(server, headers={}))
    by_header = run(lambda c: c.list_tools(), http_client(server, headers={"X-API-Key": KEY}))
    assert len(by_header.tools) == 3


def test_mcp_answers_only_under_the_allowed_hosts(server):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {**AUTH, "Accept": "application/json, text/event-stream"}
    assert httpx.post(server + "/mcp", json=body, headers=headers).status_code == 200
    assert httpx.post(server + "/mcp", json=body, headers={**headers, "Host": "rebound.example:8000"}).status_code == 421
    assert httpx.post(server + "/mcp", json=body, headers={**headers, "Origin": "http://rebound.example"}).status_code == 403


def test_mcp_takes_posts_only_and_never_holds_a_stream_open(server):
    # Stateless: no session to end, nothing the server would send unasked on a GET stream.
    for method in ("GET", "DELETE"):
        response = httpx.request(method, server + "/mcp", headers={**AUTH, "Accept": "text/event-stream"}, timeout=10)
        assert response.status_code == 405 and "use POST" in response.json()["error"]["message"]


def test_mcp_shares_the_rate_limit_of_the_query_routes(make_client):
    # The app in process (TestClient: its Host is "testserver", allowed here); the limit is the
    # same token bucket per key as /v1/ask's.
    client = make_client(rate_limit_per_minute=3, api_keys=KEY, mcp_allowed_hosts="testserver")
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {**AUTH, "Accept": "application/json, text/event-stream"}
    assert client.post("/mcp", json=body, headers=headers).status_code == 200
    assert client.post("/v1/ask", json={"question": APPROACH_QUESTION}, headers=AUTH).status_code == 200
    assert client.post("/mcp", json=body, headers=headers).status_code == 200
    refused = client.post("/mcp", json=body, headers=headers)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in refused.headers


def test_sections_route_says_what_is_not_found(server):
    response = httpx.get(server + "/v1/sections", params={"url": "https://example.com/a#b"}, headers=AUTH)
    assert response.status_code == 404 and response.json()["error"]["code"] == "section_not_found"
    assert httpx.get(server + "/v1/sections", params={"url": "x"}).status_code == 401


# ---- stdio ----------------------------------------------------------------------------------


def _stdio(args: list[str], env: dict[str, str], command: str = sys.executable) -> Callable[[], Client]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    params = StdioServerParameters(command=command, args=args, env={**base, "HF_HUB_OFFLINE": "1", **env})
    return lambda: Client(params, read_timeout_seconds=120)


def test_kb_mcp_over_stdio_loads_the_index(api_index, tmp_path):
    async def scenario(c: Client):
        tools = await c.list_tools()
        search = await c.call_tool("search_docs", {"query": "cart abandonment", "k": 2})
        answer = await c.call_tool("ask_docs", {"question": APPROACH_QUESTION, "lang": "en"})
        section = await c.call_tool("get_section", {"url": answer.structured_content["citations"][0]["url"]})
        bad = await c.call_tool("ask_docs", {"question": APPROACH_QUESTION, "lang": "es"})
        page = await c.read_resource(f"kb://fr/{GUIDE_PAGE}")
        listed = await c.list_resources()
        return tools, search, answer, section, bad, page, listed

    kb_command = Path(sys.executable).with_name("kb")  # the installed `kb` script of this environment
    data = tmp_path / "answers"
    tools, search, answer, section, bad, page, listed = run(
        scenario, _stdio(["mcp"], {"KB_INDEX": str(api_index), "KB_DATA_DIR": str(data)}, command=str(kb_command)))
    assert {t.name for t in tools.tools} == {"search_docs", "ask_docs", "get_section"}
    assert len(search.structured_content["hits"]) == 2
    assert answer.structured_content["approach"] == "journey" and answer.structured_content["citations"]
    # The answer was recorded in the SQLite file of the data folder, written before kb mcp exited.
    from kb_service.feedback import AnswerStore, database_url
    from kb_service.store.index import read_manifest

    answer_id = answer.structured_content["answer_id"]
    assert answer_id and f"answer_id: {answer_id}" in text_of(answer)
    store = AnswerStore(database_url(None, data)).open()
    try:
        row = store.get(answer_id)
        assert row is not None and store.count() == 1, "the answer was not written before the process ended"
        assert (row["surface"], row["question"], row["lang"]) == ("mcp", APPROACH_QUESTION, "en")
        assert row["build"] == read_manifest(api_index)["build"]
    finally:
        store.close()
    assert not section.is_error and section.structured_content["text"]
    assert bad.is_error and "lang" in text_of(bad)
    assert page.contents[0].text.startswith("# ") and "/fr/" in page.contents[0].text
    assert any(r.uri == f"kb://en/{GUIDE_PAGE}" for r in listed.resources)


def test_kb_mcp_with_url_forwards_to_the_server_without_torch(live, tmp_path):
    server, app = live
    modules = tmp_path / "modules.json"
    # Runs the real CLI; at exit, writes which heavy modules the process had imported.
    launcher = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: open({str(modules)!r}, 'w').write(json.dumps("
        f"sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r}))))\n"
        "from kb_service.cli import main\n"
        f"sys.argv = ['kb', 'mcp', '--url', {server!r}]\n"
        "main()\n"
    )

    async def scenario(c: Client):
        answer = await c.call_tool("ask_docs", {"question": APPROACH_QUESTION})
        section = await c.call_tool("get_section", {"url": answer.structured_content["citations"][0]["url"]})
        missing = await c.call_tool("get_section", {"url": "https://example.com/a#b"})
        page = await c.read_resource(f"kb://en/{GUIDE_PAGE}")
        return answer, section, missing, page

    answer, section, missing, page = run(scenario, _stdio(["-c", launcher], {"KB_API_KEY": KEY}))
    rest = httpx.post(server + "/v1/ask", json={"question": APPROACH_QUESTION}, headers=AUTH).json()
    assert answer.structured_content["answer"] == rest["answer"]
    # The server recorded the answer (as a /v1/ask) and its answer_id came back through the tool.
    answer_id = answer.structured_content["answer_id"]
    assert answer_id and answer_id != rest["answer_id"] and f"answer_id: {answer_id}" in text_of(answer)
    assert rate(server, answer_id, "up").status_code == 202
    row = stored(app, answer_id, until=lambda r: r["rating"] == "up")
    assert (row["surface"], row["question"]) == ("ask", APPROACH_QUESTION)
    assert not section.is_error and section.structured_content["text"]
    assert missing.is_error and "no indexed section" in text_of(missing)
    assert page.contents[0].text.startswith("# ")
    for _ in range(200):  # bounded wait for the file the process writes as it exits
        if modules.exists():
            break
        time.sleep(0.05)
    assert json.loads(modules.read_text()) == [], "kb mcp --url imported heavy modules"


def test_a_refused_key_reaches_the_tool_result_as_the_servers_message(server):
    # The backend of `kb mcp --url`, in this process (the subprocess above covers the command).
    from kb_service.mcp_server.backends import BackendError, RemoteBackend
    from kb_service.mcp_server.server import build_server

    tool = build_server(RemoteBackend(server, api_key="wrong"))
    result = run(lambda c: c.call_tool("search_docs", {"query": "journeys"}), lambda: Client(tool))
    assert result.is_error and "401 unauthorized" in text_of(result) and "API key" in text_of(result)
    with pytest.raises(BackendError, match="cannot reach"):
        asyncio.run(RemoteBackend("http://127.0.0.1:9", api_key=KEY).documents())  # port 9: nothing listens


def test_kb_mcp_refuses_to_start_without_a_usable_index_or_url(tmp_path):
    from typer.testing import CliRunner

    from kb_service.cli import app

    runner = CliRunner()
    missing = runner.invoke(app, ["mcp", "--index", str(tmp_path / "none")], env={"KB_URL": ""})
    assert missing.exit_code == 2 and "kb ingest" in missing.output
    bad_url = runner.invoke(app, ["mcp", "--url", "ftp://example"])
    assert bad_url.exit_code == 2 and "--url must be an http:// or https:// URL" in bad_url.output


def test_kb_mcp_writes_its_answers_when_terminated(api_index, tmp_path):
    # A client that ends kb mcp with SIGTERM rather than by closing stdin (the SDK's client does
    # after 2 s): the answers given are in the database, and the process ends at once. Raw
    # JSON-RPC lines, so that the test holds the process and sends the signal itself.
    import signal
    import subprocess

    from kb_service.feedback import AnswerStore, database_url

    data = tmp_path / "answers"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update({"HF_HUB_OFFLINE": "1", "KB_INDEX": str(api_index), "KB_DATA_DIR": str(data)})
    process = subprocess.Popen([str(Path(sys.executable).with_name("kb")), "mcp"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env=env, text=True)
    try:
        def call(message: dict) -> dict:
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()
            return json.loads(process.stdout.readline() or "null") if "id" in message else {}

        call({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})
        call({"jsonrpc": "2.0", "method": "notifications/initialized"})
        ids = []
        for n, question in enumerate((APPROACH_QUESTION, OFF_TOPIC), start=2):
            reply = call({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                          "params": {"name": "ask_docs", "arguments": {"question": question}}})
            ids.append(reply["result"]["structuredContent"]["answer_id"])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0  # bounded: it stops the writer, then exits
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    store = AnswerStore(database_url(None, data)).open()
    try:
        assert [store.get(i)["abstained"] for i in ids] == [False, True]
    finally:
        store.close()
