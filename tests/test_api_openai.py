"""/v1/chat/completions and /v1/models: the OpenAI wire format, through the real app."""

from __future__ import annotations

import json
import re

import pytest

from kb_service.api.schemas import ChatCompletionPublic, ModelListPublic

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import assert_error  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

NEWSLETTER = "which approach for a monthly newsletter?"


def completion(client, messages, **extra):
    return client.post("/v1/chat/completions", json={"model": "kb", "messages": messages, **extra})


def data_lines(text: str) -> list[str]:
    return [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]


def test_completion_shape_and_content(client):
    response = completion(client, [{"role": "system", "content": "Answer in pirate speak."},
                                   {"role": "user", "content": NEWSLETTER}])
    assert response.status_code == 200
    body = ChatCompletionPublic.model_validate(response.json()).model_dump()
    assert body["object"] == "chat.completion" and body["model"] == "kb" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    assert "Action Campaign" in content and "[1]" in content
    sources, definitions = content.split("\n\nSources:\n", 1)[1].split("\n\n")
    assert len(sources.split("\n")) == len(definitions.split("\n")) == len(body["citations"])
    for line, definition, citation in zip(sources.split("\n"), definitions.split("\n"), body["citations"]):
        assert line.startswith(f"- [{citation['number']}] [{citation['title']}")
        assert line.endswith(f"]({citation['url']})")
        assert definition == f"[{citation['number']}]: {citation['url']}"
    usage = body["usage"]
    assert usage["prompt_tokens"] == len("Answer in pirate speak.".split()) + len(NEWSLETTER.split())
    assert usage["completion_tokens"] == len(content.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_content_renders_as_markdown_with_linked_references(client):
    """Rendered as a Markdown chat UI would: a paragraph per answer line, each [n] a link to its source."""
    from markdown_it import MarkdownIt

    body = completion(client, [{"role": "user", "content": "which approach for cart abandonment?"}]).json()
    content = body["choices"][0]["message"]["content"]
    answer = content.split("\n\nSources:\n", 1)[0]
    tokens = MarkdownIt("commonmark").parse(content)
    paragraphs = [t for t in tokens if t.type == "paragraph_open" and t.level == 0]
    assert len(paragraphs) >= answer.count("\n\n") + 1
    html = MarkdownIt("commonmark").render(answer + "\n\n" + content.rsplit("\n\n", 1)[1])
    for citation in body["citations"]:
        assert f'<a href="{citation["url"]}">{citation["number"]}</a>' in html
    listed = MarkdownIt("commonmark").render(content)
    for citation in body["citations"]:
        assert f'<a href="{citation["url"]}">{citation["title"]}' in listed
    assert "[1]" not in listed.split("<ul>")[0]  # every reference in the text became a link


def test_abstention_lists_the_closest_sections_as_links(client):
    body = completion(client, [{"role": "user", "content": "who won the 1998 football world cup?"}]).json()
    content = body["choices"][0]["message"]["content"]
    closest = content.split("\n\nClosest sections:\n", 1)[1].split("\n")
    assert closest and all(re.fullmatch(r"- \[.+\]\(https://\S+\)", line) for line in closest), closest


def test_system_messages_do_not_change_the_answer(client):
    plain = completion(client, [{"role": "user", "content": NEWSLETTER}]).json()
    with_system = completion(client, [{"role": "system", "content": "Be brief."},
                                      {"role": "developer", "content": "Cite sources."},
                                      {"role": "user", "content": NEWSLETTER}]).json()
    assert plain["choices"][0]["message"]["content"] == with_system["choices"][0]["message"]["content"]


def test_any_model_name_and_sampling_parameters_are_accepted(client):
    response = completion(client, [{"role": "user", "content": NEWSLETTER}], model="gpt-4o-mini", temperature=0.7,
                          top_p=0.9, max_tokens=50, n=1, presence_penalty=0, user="u-1", seed=3)
    assert response.status_code == 200
    assert response.json()["model"] == "kb"


def test_content_parts_and_follow_ups(client):
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "which approach for cart abandonment?"}]},
        {"role": "assistant", "content": None},
        {"role": "user", "content": "and for a monthly newsletter?"},
    ]
    response = completion(client, messages)
    assert response.status_code == 200
    assert "Action Campaign" in response.json()["choices"][0]["message"]["content"]


def test_abstention_lists_the_closest_sections(client):
    body = completion(client, [{"role": "user", "content": "who won the 1998 football world cup?"}]).json()
    assert body["citations"] == []
    assert "Sources:" not in body["choices"][0]["message"]["content"]


def test_streaming_chunks(client):
    plain = completion(client, [{"role": "user", "content": NEWSLETTER}]).json()
    response = completion(client, [{"role": "user", "content": NEWSLETTER}], stream=True,
                          stream_options={"include_usage": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = data_lines(response.text)
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "kb" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    usage_chunk, final = chunks[-1], chunks[-2]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"] == plain["usage"]
    assert final["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert final["citations"] == plain["citations"]
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert len(pieces) > 1 and all(c["choices"][0]["finish_reason"] is None for c in chunks[1:-2])
    assert "".join(pieces) == plain["choices"][0]["message"]["content"]


def test_models(client):
    body = ModelListPublic.model_validate(client.get("/v1/models").json()).model_dump()
    assert [m["id"] for m in body["data"]] == ["kb"]
    assert client.get("/v1/models/kb").json()["id"] == "kb"
    assert_error(client.get("/v1/models/gpt-4"), 404, "model_not_found")


@pytest.mark.parametrize("messages, status, words", [
    ([], 422, ["messages:"]),
    ([{"role": "system", "content": "You are kb."}], 422, ["role 'user'"]),
    ([{"role": "wizard", "content": "hi"}], 422, ["messages.0.role"]),
    ([{"role": "user", "content": "   "}], 422, ["messages.0.content"]),
    ([{"role": "user", "content": "x" * 2001}], 413, ["2000"]),
])
def test_bad_conversations(client, messages, status, words):
    response = completion(client, messages)
    assert response.status_code == status
    error = response.json()["error"]
    assert all(word in error["message"] for word in words), error
