"""Every response carries the security headers, and /docs comes from the package itself: no
page or style of it refers to another host, so it works offline."""

from __future__ import annotations

import asyncio
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.unit.api.conftest import Client
from villagewatch.api.context import ApiContext


def raw(client: Client, path: str, **kwargs: Any) -> httpx.Response:
    """One request, a server error answered as the server would (not raised into the test)."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
            return await c.get(path, headers=headers, **kwargs)

    return asyncio.run(call())


@pytest.mark.parametrize(
    ("path", "user", "status"),
    [
        pytest.param("/api/alerts", "viewer", 200, id="json"),
        pytest.param("/api/alerts", None, 401, id="refused"),
        pytest.param("/api/alerts?limit=0", "viewer", 422, id="invalid"),
        pytest.param("/api/nothing", None, 404, id="not-found"),
        pytest.param("/", None, 307, id="redirect"),
        pytest.param("/docs/", None, 200, id="docs"),
        pytest.param("/docs/swagger-ui/swagger-ui-bundle.js", None, 200, id="docs-script"),
        pytest.param("/openapi.json", None, 200, id="openapi"),
        pytest.param("/metrics", None, 200, id="metrics"),
        pytest.param("/healthz", None, 200, id="health"),
        pytest.param("/console/", None, 200, id="console"),
        pytest.param("/console/app.js", None, 200, id="console-file"),
        pytest.param("/api/devices", "viewer", 500, id="server-error"),
    ],
)
def test_every_response_carries_the_security_headers(
    ctx: ApiContext, monkeypatch: pytest.MonkeyPatch, path: str, user: str | None, status: int
) -> None:
    async def broken(**_: object) -> list[object]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ctx.store, "last_values", broken)
    client = Client(ctx).as_(user) if user else Client(ctx)
    reply = raw(client, path)
    assert reply.status_code == status
    csp = reply.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src" in csp
    assert "http:" not in csp and "https:" not in csp and "*" not in csp
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["referrer-policy"] == "no-referrer"


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def test_docs_come_from_the_package_and_name_no_other_host(anon: Client) -> None:
    """/docs and every file it loads are served by the app; neither the pages nor the style
    sheet refer to any other host (the script bundle names specs and namespaces in its
    text, and is checked loading nothing in tests/browser/test_docs.py)."""
    page = anon.get("/docs", follow_redirects=True)
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "'self'" in page.headers["content-security-policy"]
    parser = _Refs()
    parser.feed(page.text)
    assert len(parser.refs) >= 3, parser.refs
    base = str(page.url)
    texts = {"/docs/": page.text}
    for ref in parser.refs:
        if ref.startswith("data:"):
            continue
        url = urlsplit(urljoin(base, ref))
        assert url.netloc == "api", ref
        reply = anon.get(url.path)
        assert reply.status_code == 200, ref
        texts[url.path] = reply.text
    assert any(p.endswith(".js") and "SwaggerUIBundle" in t for p, t in texts.items())
    for path, text in texts.items():
        if path.endswith(".css"):
            loads = re.findall(r"url\(\s*['\"]?([^'\")]+)", text)
            assert loads and all(u.startswith("data:") for u in loads), path
        elif not path.endswith("-bundle.js"):
            assert re.search(r"https?://", text) is None, path
    assert "validatorUrl: null" in texts["/docs/start.js"]


def test_the_cdn_pages_fastapi_would_serve_are_gone(anon: Client) -> None:
    assert anon.get("/redoc").status_code == 404
    assert "cdn" not in anon.get("/docs/").text.lower()
