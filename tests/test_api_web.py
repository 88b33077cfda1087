"""The chat page's and the API docs' routes through the real app (no browser): what is
served, with which headers, and that nothing points at another host."""

from __future__ import annotations

import re

import pytest

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import assert_error  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

FOREIGN_URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


def test_chat_page_is_served_with_a_strict_content_security_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                      "frame-ancestors 'none'"):
        assert directive in policy
    assert "unsafe" not in policy
    assert '<script type="module" src="ui/main.js">' in page.text
    assert not FOREIGN_URL.search(page.text)


@pytest.mark.parametrize("name, media_type", [("chat.js", "text/javascript"), ("chat.css", "text/css"),
                                              ("favicon.svg", "image/svg+xml")])
def test_page_assets(client, name, media_type):
    response = client.get(f"/ui/{name}")
    assert response.status_code == 200 and response.headers["content-type"].startswith(media_type)


def test_page_code_never_parses_text_as_html(client):
    for name in ("chat.js", "api.js", "citations.js", "dom.js", "strings.js", "main.js", "widget.js"):
        code = client.get(f"/ui/{name}").text
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", code), name


@pytest.mark.parametrize("path", ["/ui/nothing.js", "/ui/..%2Fapi%2Fapp.py", "/ui/README.md", "/docs-assets/x.js"])
def test_only_shipped_files_are_served(client, path):
    assert_error(client.get(path), 404, "not_found")


def test_page_config_says_whether_a_key_is_needed(make_client):
    assert make_client().get("/ui/config").json()["api_key_required"] is False
    keyed = make_client(api_keys="k1").get("/ui/config")  # open without a key: the page asks it first
    assert keyed.status_code == 200 and keyed.json()["api_key_required"] is True
    assert keyed.json()["max_question_chars"] > 0


def test_widget_script(client):
    response = client.get("/widget.js")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/javascript")
    assert "attachShadow" in response.text


def test_widget_modules_carry_cors_headers_for_configured_origins(make_client):
    client = make_client(cors_origins="https://shop.example")
    response = client.get("/ui/chat.js", headers={"Origin": "https://shop.example"})
    assert response.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in client.get("/ui/chat.js", headers={"Origin": "https://evil.example"}).headers


@pytest.mark.parametrize("path, bundle", [("/docs", "/docs-assets/swagger-ui-bundle.js"),
                                          ("/redoc", "/docs-assets/redoc.standalone.js")])
def test_api_docs_load_their_bundles_from_kb(client, path, bundle):
    page = client.get(path)
    assert page.status_code == 200
    assert bundle in page.text and not FOREIGN_URL.search(page.text), page.text
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    script = client.get(bundle)
    assert script.status_code == 200 and len(script.content) > 100_000


def test_web_routes_stay_out_of_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/ui/config", "/ui/{name}", "/widget.js", "/docs", "/redoc"} & set(paths)
