"""/v1/chat: follow-up questions, Server-Sent Events, and bad conversations."""

from __future__ import annotations

import json

import pytest

from kb_service.api.schemas import AnswerPublic

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import assert_error  # noqa: E402  (after the rewrite hook)

pytest_plugins = ["tests.api_fixtures"]  # its session fixtures, shared by every API test module

CONVERSATION = [
    {"role": "user", "content": "which approach for cart abandonment?"},
    {"role": "assistant", "content": "Journeys — Real-time trigger, wait times, conditional follow-up [1]"},
    {"role": "user", "content": "and for a monthly newsletter?"},
]


def parse_sse(text: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of a text/event-stream body."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_follow_up_is_answered_in_the_light_of_the_conversation(client):
    first = client.post("/v1/chat", json={"messages": CONVERSATION[:1]})
    assert first.status_code == 200
    assert first.json()["approach"] == "journey"
    follow_up = client.post("/v1/chat", json={"messages": CONVERSATION})
    assert follow_up.status_code == 200
    body = AnswerPublic.model_validate(follow_up.json()).model_dump()
    assert "Action Campaign" in body["answer"]
    assert body["approach"] == "action"
    assert not body["abstained"]


def test_chat_of_one_question_answers_like_ask(client):
    question = "which approach for a monthly newsletter?"
    chat = client.post("/v1/chat", json={"messages": [{"role": "user", "content": question}]}).json()
    ask = client.post("/v1/ask", json={"question": question}).json()
    assert chat["answer"] == ask["answer"]
    assert [c["chunk_id"] for c in chat["citations"]] == [c["chunk_id"] for c in ask["citations"]]


def test_stream_sends_answer_pieces_then_citations_then_done(client):
    plain = client.post("/v1/chat", json={"messages": CONVERSATION}).json()
    response = client.post("/v1/chat", json={"messages": CONVERSATION, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[-2:] == ["citations", "done"]
    assert set(names[:-2]) == {"answer"} and len(names) > 3  # the answer arrives in several pieces
    assert "".join(data["delta"] for name, data in events if name == "answer") == plain["answer"]
    citations = events[-2][1]
    assert citations["citations"] == plain["citations"]
    assert citations["see_also"] == plain["see_also"]
    assert citations["abstained"] is False
    assert citations["confidence"] == plain["confidence"]


def test_stream_errors_are_plain_json_errors(client):
    response = client.post("/v1/chat", json={"messages": [], "stream": True})
    assert_error(response, 422, "invalid_request", "messages")


def test_empty_messages_is_422(client):
    assert_error(client.post("/v1/chat", json={"messages": []}), 422, "invalid_request", "messages:")
    assert_error(client.post("/v1/chat", json={}), 422, "invalid_request", "messages: field required")


def test_conversation_without_a_user_turn_is_422(client):
    response = client.post("/v1/chat", json={"messages": [{"role": "assistant", "content": "Hello!"}]})
    assert_error(response, 422, "invalid_request", "at least one message with role 'user'")


def test_blank_last_user_turn_is_422(client):
    messages = [{"role": "user", "content": "which approach for cart abandonment?"},
                {"role": "user", "content": "  \x00 "}]
    assert_error(client.post("/v1/chat", json={"messages": messages}), 422, "invalid_request",
                 "messages.1.content: must not be empty")


@pytest.mark.parametrize("role", ["bot", "", "USER", None])
def test_bad_role_is_422(client, role):
    response = client.post("/v1/chat", json={"messages": [{"role": role, "content": "hi"}]})
    assert_error(response, 422, "invalid_request", "messages.0.role")


def test_a_system_turn_is_accepted_and_not_searched(client):
    question = {"role": "user", "content": "which approach for cart abandonment?"}
    plain = client.post("/v1/chat", json={"messages": [question]}).json()
    system = {"role": "system", "content": "You are the newsletter team's assistant. Answer briefly."}
    with_system = client.post("/v1/chat", json={"messages": [system, question]})
    assert with_system.status_code == 200
    assert with_system.json()["answer"] == plain["answer"] and with_system.json()["approach"] == "journey"


def test_ten_thousand_turns_is_413(client):
    messages = [{"role": "user", "content": "hi"}] * 10_000
    error = assert_error(client.post("/v1/chat", json={"messages": messages}), 413, "payload_too_large")
    assert "max_body_bytes" in error["message"]


def test_more_turns_than_max_messages_is_413_with_the_limit(make_client):
    client = make_client(max_messages=4)
    messages = [{"role": "user", "content": "cart abandonment"}] * 5
    assert_error(client.post("/v1/chat", json={"messages": messages}), 413, "too_many_messages", "5", "4",
                 "max_messages")
    assert client.post("/v1/chat", json={"messages": messages[:4]}).status_code == 200


def test_long_user_turn_is_413(client):
    messages = [{"role": "user", "content": "x" * 2001}, {"role": "user", "content": "and for a newsletter?"}]
    assert_error(client.post("/v1/chat", json={"messages": messages}), 413, "question_too_long",
                 "messages.0.content", "2000")
