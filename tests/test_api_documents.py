"""/v1/documents, page outlines (index only, never the file system) and /v1/index."""

from __future__ import annotations

import pytest

from kb_service.api.schemas import DocumentsPublic, IndexInfoPublic, OutlinePublic

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import assert_error  # noqa: E402  (after the rewrite hook)

pytest_plugins = ["tests.api_fixtures"]  # its session fixtures, shared by every API test module

GUIDE = "help/using/start/journeys-vs-campaigns.md"


def test_documents_list_the_index(client, shared_kb):
    response = client.get("/v1/documents")
    assert response.status_code == 200
    documents = DocumentsPublic.model_validate(response.json()).model_dump()["documents"]
    assert documents == shared_kb.documents()
    assert {"en", "fr"} >= {d["lang"] for d in documents}
    assert any(d["path"] == GUIDE for d in documents)
    assert all(d["chunks"] > 0 for d in documents)


def test_outline_of_a_page(client, shared_kb):
    lang = next(d["lang"] for d in shared_kb.documents() if d["path"] == GUIDE)
    response = client.get(f"/v1/documents/{lang}/{GUIDE}")
    assert response.status_code == 200
    outline = OutlinePublic.model_validate(response.json()).model_dump()
    assert outline == shared_kb.outline(lang, GUIDE)
    starts = [s["line_start"] for s in outline["sections"]]
    assert starts == sorted(starts)


@pytest.mark.parametrize("path", [
    "help/using/no-such-page.md",
    "..%2F..%2Fetc/passwd",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "help/using/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "%2Fetc%2Fpasswd",
    "help/using/start/journeys-vs-campaigns.md%00.txt",
    "help\\..\\..\\etc\\passwd",
    "....//....//etc/passwd",
    "C:%5CWindows%5Cwin.ini",
])
def test_unknown_and_traversal_paths_are_404(client, path):
    response = client.get(f"/v1/documents/en/{path}")
    assert_error(response, 404, "document_not_found", "/v1/documents")
    assert "root:" not in response.text


def test_unknown_language_is_404(client):
    assert_error(client.get(f"/v1/documents/de/{GUIDE}"), 404, "document_not_found")
    assert_error(client.get(f"/v1/documents/..%2F/{GUIDE}"), 404, "document_not_found")


def test_index_info(client, shared_kb):
    response = client.get("/v1/index")
    assert response.status_code == 200
    info = IndexInfoPublic.model_validate(response.json()).model_dump()
    assert info == shared_kb.info()
    assert info["counts"]["total"] > 0
