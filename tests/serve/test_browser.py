"""The web page in a real browser: headless Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def _chromium() -> str | None:
    explicit = os.environ.get("NEURANK_CHROMIUM")
    found = [explicit] if explicit else [*CANDIDATES, shutil.which("chromium") or ""]
    return next((p for p in found if p and Path(p).exists()), None)


@pytest.fixture(scope="module")
def page(live_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set NEURANK_CHROMIUM); "
                    ".ci/run installs it")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(live_server + "/")
        yield page
        assert not errors, f"JavaScript errors on the page: {errors}"
        if os.environ.get("NEURANK_SCREENSHOT"):
            page.screenshot(path=os.environ["NEURANK_SCREENSHOT"], full_page=True)
        browser.close()


def _api_search(url: str, query: str, mode: str, k: int = 10) -> list[dict]:
    request = urllib.request.Request(url + "/search", method="POST",
                                     data=json.dumps({"query": query, "mode": mode, "k": k}).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())["hits"]


def test_typing_a_query_renders_ranked_hits_with_scores(page, live_server):
    query = "weather observations for climate research"
    page.fill("#query", query)
    page.press("#query", "Enter")
    page.wait_for_selector("#results li")
    expected = _api_search(live_server, query, "hybrid")
    rendered = page.locator("#results li")
    assert rendered.count() == len(expected)
    assert page.locator("#results li").evaluate_all("els => els.map(e => e.dataset.id)") == [
        h["id"] for h in expected]
    first = rendered.first
    assert expected[0]["title"] in first.locator(".title").inner_text()
    badges = first.locator(".score").all_inner_texts()
    assert {b.split()[0] for b in badges} == {"bm25", "dense", "fused"}
    assert page.locator("#results mark").count() >= 3  # query words highlighted
    assert "hybrid" in page.inner_text("#search-info")


def test_mode_switch_and_k(page, live_server):
    query = "population census"
    page.check("input[name=mode][value=bm25]")
    page.select_option("#k", "5")
    page.fill("#query", query)
    page.click("button[type=submit]")
    page.wait_for_function("document.querySelector('#search-info').textContent.includes('bm25')")
    expected = _api_search(live_server, query, "bm25", 5)
    ids = page.locator("#results li").evaluate_all("els => els.map(e => e.dataset.id)")
    assert ids == [h["id"] for h in expected]
    assert {b.split()[0] for b in page.locator("#results li").first.locator(".score")
            .all_inner_texts()} == {"bm25"}


def test_recommendations_panel_flags_unknown_users(page):
    page.fill("#user", "u3")
    page.press("#user", "Enter")
    page.wait_for_selector("#recommendations li")
    assert page.locator("#recommendations li").count() == 10
    assert "for user u3" in page.inner_text("#recommend-info")
    page.fill("#user", "nobody-knows-me")
    page.press("#user", "Enter")
    page.wait_for_function("document.querySelector('#recommend-info').textContent"
                           ".includes('cold start')")
    assert page.locator("#recommendations li").count() == 10


def test_errors_are_shown_not_swallowed(page):
    page.fill("#query", "x" * 2500)  # over the server's query limit
    page.press("#query", "Enter")
    page.wait_for_selector("#search-info.error")
    assert "query" in page.inner_text("#search-info")
    assert page.locator("#results li").count() == 0


def test_docs_page_renders_every_operation_offline(page, live_server):
    blocked: list[str] = []
    page.route("**/*", lambda route: (blocked.append(route.request.url), route.abort())
               if not route.request.url.startswith(live_server) else route.continue_())
    page.goto(live_server + "/docs")
    page.wait_for_selector(".opblock", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/search", "/recommend", "/classify", "/health"} <= {p.strip() for p in paths}
    assert not blocked, f"/docs tried to reach outside the server: {blocked}"
    page.unroute("**/*")
    page.goto(live_server + "/")


def test_searches_are_linkable(page, live_server):
    page.goto(live_server + "/?q=daily+weather+stations&mode=bm25")
    page.wait_for_selector("#results li")
    assert page.locator("input[name=mode][value=bm25]").is_checked()
    expected = _api_search(live_server, "daily weather stations", "bm25")
    assert page.locator("#results li").evaluate_all("els => els.map(e => e.dataset.id)") == [
        h["id"] for h in expected]
    page.fill("#query", "solar power")
    page.press("#query", "Enter")
    page.wait_for_function("() => location.search.includes('solar')")
    assert "q=solar+power" in page.url and "mode=bm25" in page.url
    page.goto(live_server + "/")
