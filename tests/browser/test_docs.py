"""/docs in Chromium: Swagger UI renders the API from the package's own files, asks no other
host for anything, and breaks none of the page's security policy."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Browser, expect

from tests.api_deployment import ApiDeployment


def test_docs_render_offline_under_their_policy(browser: Browser, api: ApiDeployment) -> None:
    context = browser.new_context()
    page = context.new_page()
    asked: list[str] = []
    complaints: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: complaints.append(str(e)))
    try:
        page.goto(f"{api.base}/docs")
        expect(page.locator(".opblock-summary-path", has_text="/api/alerts").first).to_be_visible()
        page.locator(".opblock-summary", has_text="/healthz").first.click()
        page.get_by_role("button", name="Try it out").click()
        page.get_by_role("button", name="Execute").click()
        expect(page.locator(".response .response-col_status").first).to_have_text("200")
    finally:
        context.close()
    hosts = {urlsplit(u).netloc for u in asked if not u.startswith("data:")}
    assert hosts == {urlsplit(api.base).netloc}, asked
    assert complaints == []
