"""The chat page, the widget and the API docs in a real browser: Debian's Chromium driven by
Playwright, against one real uvicorn server (tests/live_server.py) serving the real corpus index.

Every browser context aborts requests to any host but 127.0.0.1 and records them, so a page
that reached for the internet (a CDN, a font) is caught. The Experience League page a
citation opens, the other site that embeds the widget, and the error responses of one test
are answered by Playwright inside the browser: those tests are about the page, not about what
lies behind a URL (the server's own 401/429/503 are tested in test_api_security.py).

A screenshot of each state goes to the test's output folder (printed with -s).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote

import httpx
import pytest

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect  # noqa: E402

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import REPO, api_settings  # noqa: E402
from tests.live_server import live_server  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

CHROMIUM = "/usr/bin/chromium"
# What this machine's sandboxed, offline Chromium needs: no GPU, no sandbox inside the
# container, and none of the background calls home (updates, sync, QUIC probes).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE_VERSION = "4.14.1"
# The other site that embeds the widget (answered by Playwright). Chromium asks the user
# before a site on the internet reaches a loopback address: the test context grants it.
SHOP = "https://shop.example"
DOCS_HOST = "https://experienceleague.adobe.com/"
CART = "which approach for cart abandonment?"
NEWSLETTER = "and for a monthly newsletter?"
OUT_OF_SCOPE = "who won the 1998 football world cup?"
FRENCH = "quelle approche pour l'abandon de panier ?"
TIMEOUT_MS = 20_000  # an upper bound for one answer to appear, not a wait
expect.set_options(timeout=TIMEOUT_MS)


# ---- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(api_index: Path, shared_kb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The server and its app; the answers it gives are recorded in this module's own SQLite file."""
    settings = api_settings(api_index, cors_origins=SHOP, data_dir=tmp_path_factory.mktemp("web-answers"))
    with live_server(settings, kb=shared_kb) as running:
        yield running


@pytest.fixture(scope="module")
def server(live) -> str:
    return live[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    subprocess.run([str(REPO / "scripts" / "system-deps.sh"), "chromium"], check=True)
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("web-screenshots")
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core from the npm registry, installed once into a cache outside the checkout."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kb-test" / "npm"
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    package = cache / "node_modules" / "axe-core" / "package.json"
    if not (script.is_file() and json.loads(package.read_text())["version"] == AXE_VERSION):
        if shutil.which("npm") is None:
            subprocess.run([str(REPO / "scripts" / "system-deps.sh"), "npm"], check=True)
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(cache), "--no-save", "--no-audit", "--no-fund",
                        "--loglevel=error", f"axe-core@{AXE_VERSION}"], check=True, timeout=300)
    return script.read_text()


class Offline:
    """A browser context whose requests to any host but 127.0.0.1 are aborted and recorded."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.foreign: list[str] = []
        context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), self._abort)

    def _abort(self, route: Route) -> None:
        self.foreign.append(route.request.url)
        route.abort("internetdisconnected")


@pytest.fixture
def offline(browser: Browser) -> Iterator[Offline]:
    context = browser.new_context(viewport={"width": 1000, "height": 900}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield Offline(context)
    finally:
        context.close()


def open_chat(offline: Offline, server: str) -> Page:
    page = offline.context.new_page()
    page.goto(server + "/")
    expect(page.locator(".kb-chat[data-ready=true]")).to_be_visible()
    return page


def ask(page: Page, question: str) -> dict:
    """Type ``question``, press Enter, wait for the answer to end; the request body sent."""
    turns = page.locator(".kb-turn").count()
    page.locator("textarea").fill(question)
    with page.expect_request("**/v1/chat") as sent:
        page.locator("textarea").press("Enter")
    answer = page.locator(".kb-turn").nth(turns)
    expect(answer.locator(".kb-answer:not(.kb-pending), .kb-error")).to_be_visible()
    return sent.value.post_data_json


def last_answer(page: Page):
    return page.locator(".kb-turn").last.locator(".kb-answer")


def server_answer(server: str, messages: list[dict], **extra) -> dict:
    return httpx.post(server + "/v1/chat", json={"messages": messages, **extra}, timeout=30).json()


# Counts the changes made to answer texts while their answer is still pending: pieces added,
# nodes removed. Added before the page's own scripts run (an init script is not page script,
# so the page's Content-Security-Policy does not apply to it).
WATCH_STREAMING = """
window.__kbStream = {added: 0, removed: 0};
new MutationObserver((records) => {
  for (const r of records) {
    const text = r.target.closest && r.target.closest('.kb-answer-text');
    if (!text || !text.closest('.kb-pending')) continue;
    window.__kbStream.added += r.addedNodes.length;
    window.__kbStream.removed += r.removedNodes.length;
  }
}).observe(document, {childList: true, subtree: true});
"""


# ---- the cases ----------------------------------------------------------------------------------


def test_answer_streams_in_with_numbered_citations(offline, server, shots):
    offline.context.add_init_script(WATCH_STREAMING)
    page = open_chat(offline, server)
    with page.expect_response("**/v1/chat") as response_info:
        body = ask(page, CART)
    assert body == {"messages": [{"role": "user", "content": CART}], "stream": True}
    assert response_info.value.headers["content-type"].startswith("text/event-stream")

    expected = server_answer(server, body["messages"])
    answer = last_answer(page)
    # The pieces joined are the server's answer, word for word, and were shown one by one
    # into the same nodes: nothing already on screen was rebuilt while the rest arrived.
    assert answer.locator(".kb-answer-text").text_content() == expected["answer"]
    streamed = page.evaluate("window.__kbStream")
    assert streamed["added"] > 1 and streamed["removed"] == 0, streamed
    assert expected["approach"] == "journey"
    expect(answer.locator(".kb-approach")).to_contain_text("Recommended approach")
    expect(answer.locator(".kb-approach-name")).to_have_text("Journey")

    citations = answer.locator(".kb-citation")
    expect(citations).to_have_count(len(expected["citations"]))
    for i, cited in enumerate(expected["citations"]):
        item = citations.nth(i)
        expect(item.locator(".kb-cite-number")).to_have_text(f"[{cited['number']}]")
        title = " › ".join([cited["title"], *cited["heading_path"][1:]])
        expect(item.locator(".kb-source-link")).to_have_text(title)
        expect(item.locator(".kb-cite-url")).to_have_text(cited["url"])
        expect(item.locator(".kb-cite-alt")).to_have_attribute("href", cited["alt_url"])
        expect(item.locator(".kb-cite-alt")).to_have_text("Version française")

    page.screenshot(path=str(shots / "1-answer.png"), full_page=True)  # docs/images/chat.png is one of these

    # The [n] marks in the text are links to their source in the list.
    refs = answer.locator(".kb-answer-text a.kb-ref")
    assert refs.count() >= 1
    refs.first.click()
    expect(citations.first).to_be_focused()


def test_citation_opens_the_quoted_sentence_at_its_anchor(offline, server, shots):
    opened: list[str] = []

    def docs_page(route: Route) -> None:  # the Experience League page, answered in the browser
        opened.append(route.request.url)
        route.fulfill(content_type="text/html", body="<h2 id='decision-guide'>Decision guide</h2>"
                      "<p>Real-time trigger, wait times, conditional follow-up</p>")

    offline.context.route(DOCS_HOST + "**", docs_page)
    page = open_chat(offline, server)
    ask(page, CART)
    cited = server_answer(server, [{"role": "user", "content": CART}])["citations"][0]
    link = last_answer(page).locator(".kb-source-link").first
    href = link.get_attribute("href")
    assert href.startswith(cited["url"] + ":~:text=")  # the page URL, its #anchor, then the sentence
    assert cited["url"].endswith("#" + cited["anchor"])
    quoted = unquote(href.split(":~:text=", 1)[1])
    words = re.compile(r"[\w-]+")
    assert set(words.findall(quoted)) <= set(words.findall(cited["snippet"]))  # words of the quoted sentence
    with page.expect_popup() as popup_info:
        link.click()
    popup = popup_info.value
    popup.wait_for_load_state()
    assert opened == [cited["url"].split("#")[0]]  # the fragment stays in the browser
    assert popup.url.split(":~:")[0] == cited["url"]
    assert popup.evaluate("location.hash") == "#" + cited["anchor"]
    popup.screenshot(path=str(shots / "2-citation-opened.png"))
    assert offline.foreign == []


def test_follow_up_is_answered_in_context(offline, server, shots):
    page = open_chat(offline, server)
    ask(page, CART)
    first = last_answer(page).locator(".kb-answer-text").text_content()
    body = ask(page, NEWSLETTER)
    assert body["messages"] == [{"role": "user", "content": CART}, {"role": "assistant", "content": first},
                                {"role": "user", "content": NEWSLETTER}]
    answer = last_answer(page)
    expect(answer.locator(".kb-answer-text")).to_contain_text("Action Campaign")
    expect(answer.locator(".kb-approach-name")).to_have_text("Action campaign")
    expect(page.locator(".kb-turn")).to_have_count(2)
    page.screenshot(path=str(shots / "3-follow-up.png"), full_page=True)

    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(".kb-turn")).to_have_count(0)
    expect(page.locator("textarea")).to_be_focused()
    assert ask(page, NEWSLETTER)["messages"] == [{"role": "user", "content": NEWSLETTER}]


def test_out_of_scope_question_shows_an_abstention_with_the_closest_sections(offline, server, shots):
    page = open_chat(offline, server)
    ask(page, OUT_OF_SCOPE)
    expected = server_answer(server, [{"role": "user", "content": OUT_OF_SCOPE}])
    assert expected["abstained"] and expected["see_also"]
    answer = last_answer(page)
    expect(answer).to_have_class(re.compile(r"\bkb-abstention\b"))
    expect(answer.locator(".kb-abstention-title")).to_have_text("The docs don't cover this")
    expect(answer.locator(".kb-citations, .kb-approach, .kb-ref")).to_have_count(0)
    closest = answer.locator(".kb-closest a")
    expect(closest).to_have_count(len(expected["see_also"]))
    for i, hit in enumerate(expected["see_also"]):
        expect(closest.nth(i)).to_have_attribute("href", hit["url"])
    # Not styled like an answer: another background and border than an answered question's.
    look = "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).borderStyle]"
    abstention_look = answer.evaluate(look)
    ask(page, CART)
    assert last_answer(page).evaluate(look) != abstention_look
    page.locator(".kb-turn").first.screenshot(path=str(shots / "4-abstention.png"))


def test_french_switch_sets_the_answer_language(offline, server, shots):
    page = open_chat(offline, server)
    page.get_by_label("Français").check()
    expect(page.get_by_role("button", name="Envoyer")).to_be_visible()  # the page speaks French too
    expect(page.locator(".kb-chat")).to_have_attribute("lang", "fr")
    body = ask(page, FRENCH)
    assert body["lang"] == "fr"
    answer = last_answer(page)
    expect(answer).to_have_attribute("lang", "fr")
    expect(answer.locator(".kb-approach-label")).to_have_text("Approche recommandée")
    links = answer.locator(".kb-source-link")
    assert links.count() >= 1
    assert all("/fr/docs/" in links.nth(i).get_attribute("href") for i in range(links.count()))
    expect(answer.locator(".kb-cite-alt").first).to_have_text("English version")
    page.screenshot(path=str(shots / "5-french.png"))

    page.get_by_label("Auto").check()
    assert "lang" not in ask(page, CART)  # back to following the question
    expect(last_answer(page)).to_have_attribute("lang", "en")


def test_phone_sized_screen(browser, server, shots):
    context = browser.new_context(viewport={"width": 375, "height": 667}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        offline = Offline(context)
        page = open_chat(offline, server)
        ask(page, CART)
        # Nothing wider than the screen; the question box and its button on screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        for control in (page.locator("textarea"), page.get_by_role("button", name="Send")):
            box = control.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["height"] >= 40
        assert page.locator("textarea").evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 16
        page.screenshot(path=str(shots / "6-phone.png"))
        assert offline.foreign == []
    finally:
        context.close()


def test_markup_in_a_question_is_shown_as_text(offline, server, shots):
    dialogs: list[str] = []
    requests: list[str] = []
    page = open_chat(offline, server)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    injected = '<img src=x onerror="alert(document.domain)"><b>bold</b>'
    ask(page, injected)
    expect(page.locator(".kb-question-text")).to_have_text(injected)
    assert page.locator(".kb-chat img, .kb-chat b").count() == 0
    assert dialogs == []
    assert not [url for url in requests if url.endswith("/x")]  # no <img src=x> was ever created
    page.screenshot(path=str(shots / "7-markup-as-text.png"))

    headers = httpx.get(server + "/").headers
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "unsafe-inline" not in policy


def test_page_makes_no_request_to_another_host(offline, server):
    seen: list[str] = []
    offline.context.on("request", lambda request: seen.append(request.url))
    page = open_chat(offline, server)
    ask(page, CART)
    expect(last_answer(page).locator(".kb-citation").first).to_be_visible()
    assert offline.foreign == []
    assert seen and all(url.startswith(server + "/") for url in seen), seen


def test_accessibility_has_no_serious_violation(browser, server, shots, axe_source):
    # The page's CSP forbids inline scripts, which is how Playwright injects axe: this one
    # context bypasses it (the CSP itself is checked in test_markup_in_a_question_is_shown_as_text).
    context = browser.new_context(bypass_csp=True, viewport={"width": 1000, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        offline = Offline(context)
        page = open_chat(offline, server)
        ask(page, CART)
        ask(page, OUT_OF_SCOPE)
        page.add_script_tag(content=axe_source)
        results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in results["violations"]
                   if v["impact"] in ("serious", "critical")]
        assert serious == [], serious
        page.screenshot(path=str(shots / "8-axe-checked.png"), full_page=True)
    finally:
        context.close()


def test_errors_are_worded_and_the_page_recovers(offline, server, shots):
    """The failures come from Playwright, in the browser: the network down, then kb's 429 and
    401 error bodies. The retried request goes to the real server each time."""
    page = open_chat(offline, server)
    failures = iter([
        lambda route: route.abort("internetdisconnected"),
        lambda route: route.fulfill(status=503, headers={"Retry-After": "1"}, content_type="application/json",
                                    body=json.dumps({"error": {"code": "index_loading", "message": "loading",
                                                               "request_id": "r503"}})),
        lambda route: route.fulfill(status=429, headers={"Retry-After": "1"}, content_type="application/json",
                                    body=json.dumps({"error": {"code": "rate_limited", "message": "limit",
                                                               "request_id": "r429"}})),
        lambda route: route.fulfill(status=401, content_type="application/json",
                                    body=json.dumps({"error": {"code": "unauthorized", "message": "key",
                                                               "request_id": "r401"}})),
    ])
    failing = {"on": True}

    def chat_route(route: Route) -> None:
        if failing["on"]:
            next(failures)(route)
        else:
            route.continue_()

    page.route("**/v1/chat", chat_route)
    error = page.locator(".kb-turn").last.locator(".kb-error")
    retry = page.get_by_role("button", name=re.compile("Try again"))

    ask(page, CART)
    expect(error).to_contain_text("kb cannot be reached")
    page.screenshot(path=str(shots / "9-network-down.png"))
    retry.click()  # still failing: now kb is starting up
    expect(error).to_contain_text("kb is busy or still starting up")
    failing["on"] = False
    retry.click()
    expect(last_answer(page).locator(".kb-citation").first).to_be_visible()

    failing["on"] = True
    ask(page, NEWSLETTER)
    expect(error).to_contain_text("Too many questions")
    expect(error).to_contain_text("r429")
    expect(retry).to_be_disabled()
    page.screenshot(path=str(shots / "10-rate-limited.png"))
    failing["on"] = False
    expect(retry).to_be_enabled()  # after Retry-After (1 s), by itself
    with page.expect_request("**/v1/chat") as retried:
        retry.click()
    expect(last_answer(page).locator(".kb-answer-text")).to_contain_text("Action Campaign")
    # The failed try was not sent as context; the answered first turn was.
    assert [m["role"] for m in retried.value.post_data_json["messages"]] == ["user", "assistant", "user"]

    failing["on"] = True
    key = page.get_by_label("API key")
    expect(key).to_be_hidden()
    ask(page, OUT_OF_SCOPE)
    expect(error).to_contain_text("API key")
    expect(key).to_be_visible()
    expect(key).to_be_focused()
    key.fill("k-123")
    failing["on"] = False
    with page.expect_request("**/v1/chat") as retried:
        retry.click()
    assert retried.value.headers["authorization"] == "Bearer k-123"
    assert page.evaluate("sessionStorage.getItem('kb.apiKey')") == "k-123"
    assert page.evaluate("localStorage.length") == 0
    expect(last_answer(page)).to_have_class(re.compile(r"\bkb-abstention\b"))


def test_keyboard_only(offline, server, shots):
    page = open_chat(offline, server)
    page.locator("body").focus()
    focused = []
    for _ in range(12):  # Tab goes through the controls in reading order, to the question box
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.tagName + ':' + (document.activeElement.type || '')"))
        if focused[-1] == "TEXTAREA:textarea":
            break
    assert focused[-1] == "TEXTAREA:textarea", focused
    assert "INPUT:radio" in focused and "BUTTON:button" in focused  # the language switch, New conversation
    page.keyboard.type("which approach")
    page.keyboard.press("Shift+Enter")  # a new line, not a send
    page.keyboard.type("for cart abandonment?")
    assert page.locator("textarea").input_value() == "which approach\nfor cart abandonment?"
    expect(page.locator(".kb-turn")).to_have_count(0)
    with page.expect_request("**/v1/chat") as sent:
        page.keyboard.press("Enter")
    assert sent.value.post_data_json["messages"][-1]["content"] == "which approach\nfor cart abandonment?"
    answer = last_answer(page)
    expect(answer.locator(".kb-citation").first).to_be_visible()
    expect(page.locator("textarea")).to_be_focused()  # ready for the next question
    expect(page.locator("textarea")).to_have_value("")
    answer.locator("a.kb-ref").first.focus()
    page.keyboard.press("Enter")
    expect(answer.locator(".kb-citation").first).to_be_focused()
    page.screenshot(path=str(shots / "0-keyboard.png"))


def test_a_thumbs_down_is_stored_and_acknowledged(offline, live, shots):
    server, app = live
    page = open_chat(offline, server)
    with page.expect_response("**/v1/chat") as response_info:
        ask(page, CART)
    events = [json.loads(line[len("data: "):]) for line in response_info.value.text().split("\n")
              if line.startswith("data: ")]
    answer_id = next(event["answer_id"] for event in events if event.get("answer_id"))
    answer = last_answer(page)
    expect(answer.locator(".kb-vote")).to_have_count(2)
    up, down = answer.locator(".kb-vote[data-rating=up]"), answer.get_by_role("button", name="Not helpful")
    with page.expect_response("**/v1/feedback") as voted:
        down.click()
    assert voted.value.status == 202
    assert voted.value.request.post_data_json == {"answer_id": answer_id, "rating": "down"}
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    expect(answer.locator(".kb-feedback-note")).to_have_text("Thanks for the feedback.")
    page.screenshot(path=str(shots / "feedback-down.png"))

    # The server stored the vote on the answer the page was given (the recorder's database).
    recorder = app.state.service.recorder
    assert recorder.flush(10), "the answer writer did not catch up"
    row = None
    for _ in range(100):  # bounded: a vote that arrived while its answer was queued follows it
        row = recorder.store.get(answer_id)
        if row is not None and row["rating"] == "down":
            break
        time.sleep(0.05)
    assert row is not None and row["rating"] == "down", row
    assert (row["surface"], row["question"], row["abstained"]) == ("chat", CART, False)


def test_key_field_shown_when_the_server_requires_keys(browser, api_index, shared_kb):
    with live_server(api_settings(api_index, api_keys="page-key"), kb=shared_kb) as (url, _app):
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        try:
            page = open_chat(Offline(context), url)
            expect(page.get_by_label("API key")).to_be_visible()
            page.get_by_label("API key").fill("page-key")
            ask(page, CART)
            expect(last_answer(page).locator(".kb-citation").first).to_be_visible()
        finally:
            context.close()


def test_widget_on_another_site_is_isolated_and_calls_kb(offline, server, shots):
    host_page = (f"<!doctype html><html lang='en'><head><title>Shop</title><style>"
                 "* { color: rgb(255, 0, 0) !important; font-family: serif !important; }"
                 "button { background: rgb(255, 0, 0) !important; font-size: 40px !important; }"
                 "</style></head><body><h1>A shop</h1><p>Our help desk:</p>"
                 f"<script src='{server}/widget.js'></script></body></html>")
    offline.context.route(SHOP + "/**", lambda route: route.fulfill(content_type="text/html", body=host_page))
    offline.context.grant_permissions(["local-network-access"], origin=SHOP)
    page = offline.context.new_page()
    page.goto(SHOP + "/help")
    widget = page.locator(".kb-widget .kb-chat[data-ready=true]")  # Playwright's locators pierce the shadow root
    expect(widget).to_be_visible()
    assert page.evaluate("document.querySelector('.kb-widget').shadowRoot !== null")
    assert page.locator("body > .kb-chat").count() == 0
    send = widget.get_by_role("button", name="Send")
    assert send.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(31, 79, 191)"
    assert send.evaluate("e => getComputedStyle(e).fontSize") == "16px"
    assert widget.evaluate("e => getComputedStyle(e).color") != "rgb(255, 0, 0)"
    widget.locator("textarea").fill(CART)
    with page.expect_response(f"{server}/v1/chat") as response_info:
        widget.locator("textarea").press("Enter")
    assert response_info.value.headers["access-control-allow-origin"] == SHOP
    expect(widget.locator(".kb-citation").first).to_be_visible()
    page.screenshot(path=str(shots / "11-widget.png"), full_page=True)
    assert offline.foreign == []


def test_api_docs_work_offline(offline, server, shots):
    spec = httpx.get(server + "/openapi.json").json()
    operations = {(method.upper(), path) for path, methods in spec["paths"].items() for method in methods}
    page = offline.context.new_page()
    page.goto(server + "/docs")
    expect(page.locator(".opblock-summary-path", has_text=re.compile(r"^/v1/chat$"))).to_have_count(1)
    listed = page.locator(".opblock-summary").evaluate_all(
        "blocks => blocks.map(b => [b.querySelector('.opblock-summary-method').textContent,"
        " b.querySelector('.opblock-summary-path').textContent])")
    assert {tuple(op) for op in listed} == operations
    page.screenshot(path=str(shots / "12-swagger.png"))
    assert offline.foreign == []

    page.goto(server + "/redoc")
    expect(page.locator("[data-section-id^='tag/']").first).to_be_visible()
    chat_id = spec["paths"]["/v1/chat"]["post"]["operationId"]
    expect(page.locator(f"[data-section-id='operation/{chat_id}']")).to_have_count(1)
    page.screenshot(path=str(shots / "13-redoc.png"))
