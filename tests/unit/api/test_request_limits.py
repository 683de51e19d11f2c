"""Request bodies are refused before they are read: a route that needs a token refuses a
missing or unknown one first (401), and a body over what the route takes is refused by its
Content-Length, or cut off while it streams (413)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.unit.api.conftest import PASSWORD, Client, now_ms
from villagewatch.api.app import create_app
from villagewatch.api.context import ApiContext
from villagewatch.errors import StoreUnavailable

_CHUNK = 64 * 1024
_PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Sent:
    """What the app answered, and how much of the body it pulled."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks_read: int = 0


def call(
    ctx: ApiContext,
    method: str,
    path: str,
    *,
    size: int,
    token: str | None = None,
    content_length: bool = True,
    first: bytes = b"",
) -> Sent:
    """The app called as a server would, with a body of ``size`` bytes (``first`` then zeros)
    handed over lazily in 64 KiB chunks, so that what the app reads can be counted."""
    headers = [(b"content-type", b"application/octet-stream")]
    if content_length:
        headers.append((b"content-length", str(size).encode()))
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": headers, "client": ("127.0.0.1", 1),
        "server": ("api", 80),
    }  # fmt: skip
    out = Sent()

    def chunks() -> Iterator[bytes]:
        body = first + bytes(_CHUNK - len(first))
        left = size
        while left > 0:
            yield body[: min(left, _CHUNK)]
            body = bytes(_CHUNK)
            left -= _CHUNK

    pending = chunks()

    async def receive() -> dict[str, Any]:
        chunk = next(pending, None)
        if chunk is None:
            return {"type": "http.disconnect"}
        out.chunks_read += 1
        return {"type": "http.request", "body": chunk, "more_body": out.chunks_read * _CHUNK < size}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out.status = message["status"]
            out.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out.body += message.get("body", b"")

    asyncio.run(create_app(ctx)(scope, receive, send))
    return out


def token(ctx: ApiContext, user: str) -> str:
    session = ctx.users.login(user, PASSWORD, now_ms(), 3600)
    assert session is not None
    return session.token


@pytest.mark.parametrize("bad", [None, "not-a-token"], ids=["missing", "unknown"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/config/villages/dongcun"),
        ("POST", "/api/config/village/check"),
        ("PUT", "/api/villages/dongcun/plan"),
        ("POST", "/api/alerts/1/comment"),
    ],
)
def test_a_body_without_a_valid_token_is_refused_unread(
    ctx: ApiContext, method: str, path: str, bad: str | None
) -> None:
    """The outside test's 200 MB PUTs without a token: 401 before a byte is read."""
    sent = call(ctx, method, path, size=20 * 1024 * 1024, token=bad)
    assert sent.status == 401 and sent.headers["www-authenticate"] == "Bearer"
    assert sent.chunks_read == 0


@pytest.mark.parametrize(
    ("method", "path", "user", "limit"),
    [
        ("PUT", "/api/villages/dongcun/plan", "maint", 5 * 1024 * 1024),
        ("PUT", "/api/config/villages/dongcun", "maint", 8 * 1024 * 1024),
        ("POST", "/api/alerts/1/comment", "op", 64 * 1024),
        ("POST", "/api/auth/login", None, 64 * 1024),
    ],
)
def test_a_body_over_the_routes_limit_is_refused_by_its_length_unread(
    ctx: ApiContext, method: str, path: str, user: str | None, limit: int
) -> None:
    sent = call(
        ctx, method, path, size=limit + 1, token=token(ctx, user) if user else None, first=_PNG
    )
    assert sent.status == 413, sent.body[:300]
    assert f"at most {limit} bytes" in sent.body.decode()
    assert sent.chunks_read == 0


def test_a_streamed_body_is_cut_off_at_the_limit(ctx: ApiContext) -> None:
    """No Content-Length (chunked): read up to the limit, then 413 — not the whole body."""
    limit = 5 * 1024 * 1024
    sent = call(
        ctx, "PUT", "/api/villages/dongcun/plan", size=50 * limit, token=token(ctx, "maint"),
        content_length=False, first=_PNG,
    )  # fmt: skip
    assert sent.status == 413, sent.body[:300]
    assert sent.chunks_read <= limit // _CHUNK + 1


def test_a_body_within_the_limit_is_taken_streamed_or_not(ctx: ApiContext) -> None:
    maint = token(ctx, "maint")
    for content_length in (True, False):
        sent = call(
            ctx, "PUT", "/api/villages/dongcun/plan", size=3 * 1024 * 1024, token=maint,
            content_length=content_length, first=_PNG,
        )  # fmt: skip
        assert sent.status == 204, sent.body[:300]
    assert Client(ctx).as_("maint").get("/api/villages/dongcun/plan").content.startswith(_PNG)


def test_a_body_that_is_not_what_the_route_takes_is_422_without_echoing_it(
    ctx: ApiContext,
) -> None:
    """Bytes that are no text (they made the default error page fail with a 500) and a text
    too long: each a 422 naming the problem, neither sent back."""
    sent = call(ctx, "POST", "/api/alerts/1/comment", size=1000, token=token(ctx, "op"),
                first=_PNG)  # fmt: skip
    assert sent.status == 422, sent.body[:300]
    assert len(sent.body) < 300
    long = Client(ctx).as_("op").post("/api/alerts/1/comment", json={"text": "秘" * 3000})
    assert long.status_code == 422 and "秘" not in long.text
    assert long.json()["detail"][0]["msg"] == "String should have at most 2000 characters"


def test_a_users_store_that_is_unavailable_is_503_at_the_gate_too(
    ctx: ApiContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(token: str, now_ms: int) -> None:
        raise StoreUnavailable("users busy: another process or thread is writing it")

    monkeypatch.setattr(ctx.users, "authenticate", unavailable)
    sent = call(ctx, "GET", "/api/alerts", size=0, token="any")
    assert sent.status == 503 and b"store unavailable: users busy" in sent.body
