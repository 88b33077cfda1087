"""Feedback through every HTTP surface, on the real app, the real corpus index and a real
SQLite file per test: /v1/ask (fast path and FastAPI route), /v1/chat (JSON and streamed),
/v1/chat/completions (JSON and streamed, through the official openai client on a real
uvicorn server); then POST /v1/feedback, /metrics and the admin gaps route.
"""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from kb_service.api.schemas import AnswerPublic, GapsPublic
from kb_service.feedback import AnswerStore, database_url

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import api_settings, assert_error  # noqa: E402
from tests.live_server import live_server  # noqa: E402

pytest_plugins = ["tests.api_fixtures", "tests.pg_cluster"]

ADMIN = "a" * 32
CART = "which approach for cart abandonment?"
PRICE = "How much does Journey Optimizer cost?"  # the docs do not say: kb abstains
DEADLINE_S = 30


def stored(data_dir, answer_id: str) -> dict | None:
    """The row as the database has it, once the writer has written it (bounded wait)."""
    store = AnswerStore(database_url(None, data_dir)).open()
    try:
        deadline = time.monotonic() + DEADLINE_S
        while (row := store.get(answer_id)) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return row
    finally:
        store.close()


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in filter(str.strip, text.split("\n\n")):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def app(make_client, data_dir):
    return make_client(data_dir=data_dir, admin_key=ADMIN)


def vote(client, answer_id: str, rating: str, comment: str | None = None):
    return client.post("/v1/feedback", json={"answer_id": answer_id, "rating": rating, "comment": comment})


@pytest.mark.parametrize("fast_path", [True, False])
def test_ask_carries_an_answer_id_that_feedback_rates(make_client, data_dir, fast_path):
    client = make_client(data_dir=data_dir, fast_path=fast_path)
    body = client.post("/v1/ask", json={"question": CART}).json()
    AnswerPublic.model_validate(body)
    answer_id = body["answer_id"]
    accepted = vote(client, answer_id, "down", "the newsletter part is missing")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"status": "accepted", "answer_id": answer_id, "rating": "down"}
    row = stored(data_dir, answer_id)
    assert (row["surface"], row["question"], row["abstained"], row["lang"]) == ("ask", CART, False, "en")
    assert row["cited_chunks"] == [c["chunk_id"] for c in body["citations"]]
    assert row["build"] == client.get("/v1/index").json()["build"]
    assert (row["rating"], row["comment"]) == ("down", "the newsletter part is missing")
    assert vote(client, answer_id, "up").status_code == 202  # the second vote replaces the first
    assert (stored(data_dir, answer_id)["rating"], stored(data_dir, answer_id)["comment"]) == ("up", None)


def test_chat_and_its_stream_carry_answer_ids(app, data_dir):
    messages = [{"role": "user", "content": CART}, {"role": "user", "content": PRICE}]
    plain = app.post("/v1/chat", json={"messages": messages}).json()
    streamed = sse(app.post("/v1/chat", json={"messages": messages, "stream": True}).text)
    citations = dict(streamed)["citations"]
    assert plain["answer_id"] and citations["answer_id"] and plain["answer_id"] != citations["answer_id"]
    for answer_id in (plain["answer_id"], citations["answer_id"]):
        assert vote(app, answer_id, "down").status_code == 202
        row = stored(data_dir, answer_id)
        assert (row["surface"], row["question"], row["abstained"], row["rating"]) == ("chat", PRICE, True, "down")


def test_chat_completions_through_the_openai_client_carry_answer_ids(api_index, shared_kb, tmp_path):
    data_dir = tmp_path / "data"
    with live_server(api_settings(api_index, data_dir=data_dir), kb=shared_kb) as (url, _app):
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        completion = client.chat.completions.create(model="kb", messages=[{"role": "user", "content": CART}])
        answer_id = completion.model_extra["answer_id"]
        assert completion.id == f"chatcmpl-{answer_id}"
        chunks = list(client.chat.completions.create(model="kb", messages=[{"role": "user", "content": CART}],
                                                     stream=True))
        streamed_id = chunks[-1].model_extra["answer_id"]
        assert chunks[0].id == f"chatcmpl-{streamed_id}" and streamed_id != answer_id
        # The completion id itself is accepted, so an OpenAI client needs nothing extra.
        for given, wanted in ((completion.id, answer_id), (streamed_id, streamed_id)):
            response = httpx.post(url + "/v1/feedback", json={"answer_id": given, "rating": "up"}, timeout=30)
            assert response.status_code == 202 and response.json()["answer_id"] == wanted
        metrics = httpx.get(url + "/metrics", timeout=30).text
    for answer_id in (answer_id, streamed_id):
        row = stored(data_dir, answer_id)
        assert (row["surface"], row["rating"], row["question"]) == ("chat_completions", "up", CART)
    assert metric(metrics, 'kb_feedback_total{rating="up"}') == 2
    assert metric(metrics, 'kb_answers_total{outcome="answered"}') >= 2


def test_feedback_refusals_use_the_error_shape(app):
    answer_id = app.post("/v1/ask", json={"question": CART}).json()["answer_id"]
    assert_error(vote(app, "f" * 32, "up"), 404, "answer_not_found", "ffff")
    assert_error(vote(app, answer_id, "up", "x" * 2001), 413, "comment_too_long", "2001", "2000")
    assert vote(app, answer_id, "up", "x" * 2000).status_code == 202
    assert_error(vote(app, answer_id, "sideways"), 422, "invalid_request", "rating")
    assert_error(app.post("/v1/feedback", json={"rating": "up"}), 422, "invalid_request", "answer_id")
    assert_error(vote(app, "'; DROP TABLE answers; --", "up"), 422, "invalid_request", "32 hexadecimal digits")


def test_answers_and_votes_are_counted_by_outcome_and_rating(app):
    answered = app.post("/v1/ask", json={"question": CART}).json()
    abstained = app.post("/v1/ask", json={"question": PRICE}).json()
    assert abstained["abstained"] and not answered["abstained"]
    vote(app, answered["answer_id"], "up")
    vote(app, abstained["answer_id"], "down")
    vote(app, abstained["answer_id"], "down")
    metrics = app.get("/metrics").text
    assert metric(metrics, 'kb_answers_total{outcome="answered"}') >= 1  # the warm-up asks nothing through the API
    assert metric(metrics, 'kb_answers_total{outcome="abstained"}') == 1
    assert metric(metrics, 'kb_feedback_total{rating="down"}') == 2
    assert metric(metrics, 'kb_answer_records_dropped_total{reason="database"}') == 0


def test_with_the_database_down_answers_flow_and_drops_are_counted(make_client, tmp_path):
    blocked = tmp_path / "data"
    blocked.write_text("a file where the data folder should be: the database cannot open")
    client = make_client(data_dir=blocked, admin_key=ADMIN)
    service = client.app.state.service
    assert service.recorder.opened.wait(DEADLINE_S)
    for question in (CART, PRICE, CART):
        response = client.post("/v1/ask", json={"question": question})
        assert response.status_code == 200 and response.json()["answer_id"]
    chat = client.post("/v1/chat", json={"messages": [{"role": "user", "content": CART}], "stream": True})
    assert chat.status_code == 200 and dict(sse(chat.text))["citations"]["answer_id"]
    assert service.recorder.flush(DEADLINE_S)
    metrics = client.get("/metrics").text
    assert metric(metrics, 'kb_answer_records_dropped_total{reason="database"}') == 4
    refused = vote(client, response.json()["answer_id"], "up")
    assert_error(refused, 503, "feedback_unavailable", "cannot open the answer database")
    assert refused.headers["retry-after"] == "30"
    assert_error(client.get("/v1/admin/gaps", headers={"X-Admin-Key": ADMIN}), 503, "feedback_unavailable")


def test_a_restarted_server_still_takes_votes_on_earlier_answers(make_client, api_index, shared_kb, data_dir):
    from tests.api_fixtures import running_app

    with running_app(api_settings(api_index, data_dir=data_dir), kb=shared_kb) as first:
        ids = [first.post("/v1/ask", json={"question": q}).json()["answer_id"] for q in (CART, PRICE) * 20]
    # The app has stopped: whatever was still queued was written before it closed the store.
    with running_app(api_settings(api_index, data_dir=data_dir), kb=shared_kb) as second:
        assert vote(second, ids[0], "down").status_code == 202
        assert vote(second, ids[-1], "up").status_code == 202
    store = AnswerStore(database_url(None, data_dir)).open()
    assert store.count() == 40 and store.get(ids[0])["rating"] == "down"
    store.close()


def test_the_gaps_route_needs_the_admin_key_and_reports_down_votes_and_abstentions(app, make_client, data_dir):
    for _ in range(2):
        app.post("/v1/ask", json={"question": PRICE})
    down = app.post("/v1/ask", json={"question": CART}).json()["answer_id"]
    assert vote(app, down, "down", "I wanted the newsletter").status_code == 202
    assert app.app.state.service.recorder.flush(DEADLINE_S)
    assert_error(app.get("/v1/admin/gaps"), 401, "unauthorized")
    assert_error(app.get("/v1/admin/gaps?since=soon", headers={"X-Admin-Key": ADMIN}), 422, "invalid_request", "7d")
    response = app.get("/v1/admin/gaps?since=1h", headers={"X-Admin-Key": ADMIN})
    assert response.status_code == 200, response.text
    report = GapsPublic.model_validate(response.json()).model_dump()
    assert (report["answers"], report["abstained"], report["down_votes"]) == (3, 2, 1)
    topics = {t["topic"]: t for t in report["topics"]}
    assert set(topics) == {PRICE, CART}
    assert (topics[PRICE]["asks"], topics[PRICE]["abstained"]) == (2, 2)
    assert topics[PRICE]["sections"] and topics[PRICE]["sections"][0]["url"].startswith("https://")
    assert report["most_down_voted"][0]["question"] == CART
    assert report["most_down_voted"][0]["comments"] == ["I wanted the newsletter"]
    assert report["most_down_voted"][0]["cited"][0]["title"]
    closed = make_client(data_dir=data_dir)  # no admin key configured: admin routes are off
    assert_error(closed.get("/v1/admin/gaps"), 403, "admin_disabled")


def test_with_postgresql_the_same_round_trip_lands_in_postgresql(make_client, pg):
    client = make_client(database_url=pg.url)
    body = client.post("/v1/chat", json={"messages": [{"role": "user", "content": PRICE}]}).json()
    assert vote(client, body["answer_id"], "down", "pricing is what we need").status_code == 202
    assert client.app.state.service.recorder.flush(DEADLINE_S)
    store = AnswerStore(database_url(pg.url, None)).open()
    row = store.get(body["answer_id"])
    store.close()
    assert store.dialect == "postgresql"
    assert (row["question"], row["abstained"], row["rating"], row["comment"]) == \
        (PRICE, True, "down", "pricing is what we need")
