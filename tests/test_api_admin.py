"""Start-up, readiness, index load failures and admin reload, on real index files."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest


pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import BlockingKB, LOAD_TIMEOUT_S, assert_error, copy_index, drop_one_document  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

ADMIN = "admin-secret-key"
QUESTION = {"question": "which approach for cart abandonment?"}


def test_healthz_and_readyz_when_ready(client, shared_kb):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "build": shared_kb.info()["build"]}


def test_not_ready_until_the_warm_up_ends(make_client, shared_kb):
    blocking = BlockingKB(shared_kb, block_warm_up=True)
    client = make_client(kb=blocking, wait=False)
    try:
        assert blocking.entered.wait(LOAD_TIMEOUT_S)
        assert client.get("/healthz").status_code == 200
        readyz = client.get("/readyz")
        assert readyz.status_code == 503 and readyz.json()["status"] == "loading"
        response = client.post("/v1/ask", json=QUESTION)
        assert_error(response, 503, "not_ready", "loading")
        assert response.headers["retry-after"] == "1"
    finally:
        blocking.release.set()
    assert client.app.state.service.loaded.wait(LOAD_TIMEOUT_S)
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/ask", json=QUESTION).status_code == 200


def test_an_index_that_cannot_load_keeps_the_server_up(make_client, tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="kb_service.api"):
        client = make_client(kb=None, index=tmp_path / "no-index-here")
    assert client.get("/healthz").status_code == 200
    readyz = client.get("/readyz")
    assert readyz.status_code == 503
    message = readyz.json()["error"]["message"]
    # The public message says what to do; the server log says where (no paths to anyone).
    assert "server log" in message and "kb ingest" in message and str(tmp_path) not in message
    assert any(f"no index at {tmp_path}" in str(getattr(r, "fields", {}).get("error")) for r in caplog.records)
    for response in (client.post("/v1/ask", json=QUESTION), client.post("/v1/search", json={"query": "x"}),
                     client.get("/v1/documents")):
        assert_error(response, 503, "index_unavailable", message)
        assert "retry-after" in response.headers


def test_reload_is_disabled_without_an_admin_key(client):
    assert_error(client.post("/v1/admin/reload"), 403, "admin_disabled", "KB_ADMIN_KEY")
    assert_error(client.post("/v1/admin/reload", headers={"Authorization": "Bearer anything"}), 403,
                 "admin_disabled")


def test_reload_needs_the_admin_key(make_client):
    client = make_client(admin_key=ADMIN, api_keys="user-key")
    for headers in ({}, {"Authorization": f"Bearer {ADMIN}x"}, {"X-Admin-Key": "wrong"},
                    {"Authorization": "Bearer user-key"}, {"Authorization": ADMIN}, {"Authorization": "Basic x"}):
        response = client.post("/v1/admin/reload", headers=headers)
        assert_error(response, 401, "unauthorized", "admin key")
        assert ADMIN not in response.text
    assert 'kb_rejected_total{reason="auth"} 6.0' in client.get("/metrics").text


def test_reload_swaps_in_a_new_build(make_client, shared_kb, api_index, tmp_path):
    root = copy_index(api_index, tmp_path / "index")
    client = make_client(admin_key=ADMIN, index=root)
    before = client.get("/v1/index").json()
    documents_before = client.get("/v1/documents").json()["documents"]

    dropped = drop_one_document(root)
    response = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "reloaded" and body["build"] != before["build"]
    assert body["documents"] == len(documents_before) - 1

    after = client.get("/v1/index").json()
    assert after["build"] == body["build"]
    paths = {f"{d['lang']}:{d['path']}" for d in client.get("/v1/documents").json()["documents"]}
    assert dropped not in paths and len(paths) == len(documents_before) - 1
    assert client.post("/v1/ask", json=QUESTION).status_code == 200
    # The query model was reused, not loaded again (KnowledgeBase keeps it private).
    assert client.app.state.service.serving.kb.embedder is shared_kb.embedder
    metrics = client.get("/metrics").text
    assert 'kb_reloads_total{result="success"} 1.0' in metrics
    assert f"kb_index_documents {float(len(paths))}" in metrics

    again = client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN})
    assert again.status_code == 200 and again.json()["build"] == body["build"]


def test_a_failed_reload_keeps_serving_the_old_index(make_client, api_index, tmp_path):
    root = copy_index(api_index, tmp_path / "index")
    client = make_client(admin_key=ADMIN, index=root)
    before = client.get("/v1/index").json()
    (root / "CURRENT").write_text("20990101T000000000000Z-abcdef\n")
    error = assert_error(client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN}), 409, "reload_failed",
                         "does not exist", "previous index")
    assert "20990101T000000000000Z-abcdef" in error["message"]
    assert client.get("/v1/index").json() == before
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/ask", json=QUESTION).status_code == 200
    assert 'kb_reloads_total{result="failure"} 1.0' in client.get("/metrics").text


def test_reload_recovers_a_server_that_started_without_an_index(make_client, api_index, tmp_path):
    root = tmp_path / "index"
    client = make_client(kb=None, admin_key=ADMIN, index=root)
    assert client.get("/readyz").status_code == 503
    assert_error(client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN}), 409, "reload_failed", "no index")
    copy_index(api_index, root)
    assert client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN}).status_code == 200
    assert client.get("/readyz").json() == {"status": "ready", "build": (root / "CURRENT").read_text().strip()}
    assert client.post("/v1/ask", json=QUESTION).json()["approach"] == "journey"


def test_a_request_in_flight_during_a_reload_finishes_on_the_old_index(make_client, shared_kb, api_index, tmp_path):
    root = copy_index(api_index, tmp_path / "index")
    blocking = BlockingKB(shared_kb)
    client = make_client(kb=blocking, admin_key=ADMIN, index=root)
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(client.post, "/v1/ask", json=QUESTION)
        try:
            assert blocking.entered.wait(LOAD_TIMEOUT_S)
            drop_one_document(root)
            assert client.post("/v1/admin/reload", headers={"X-Admin-Key": ADMIN}).status_code == 200
            # New requests go to the new index at once (the old one is still blocked).
            assert client.post("/v1/ask", json=QUESTION).status_code == 200
        finally:
            blocking.release.set()
        response = in_flight.result(timeout=LOAD_TIMEOUT_S)
    assert response.status_code == 200
    assert response.json()["approach"] == "journey"
