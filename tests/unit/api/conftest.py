"""An API over a copy of the demo village in a temp dir, with a user of each role."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from villagewatch.api.app import create_app
from villagewatch.api.context import ApiContext, open_context
from villagewatch.api.users import UserRole
from villagewatch.config import load_deployment
from villagewatch_dev.testing import MemoryStore

REPO = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse"

USERS: dict[str, tuple[UserRole, list[str]]] = {
    "admin": (UserRole.ADMIN, ["*"]),
    "maint": (UserRole.MAINTAINER, ["*"]),
    "op": (UserRole.OPERATOR, ["*"]),
    "viewer": (UserRole.VIEWER, ["*"]),
    "g1-leader": (UserRole.OPERATOR, ["grid:dongcun/g1"]),
    "g3-viewer": (UserRole.VIEWER, ["grid:dongcun/g3"]),
}


class Client:
    """Requests to the app in-process (httpx's ASGI transport), as one user or anonymous."""

    def __init__(
        self, ctx: ApiContext, token: str | None = None, app: FastAPI | None = None
    ) -> None:
        self.ctx = ctx
        self.app = app or create_app(ctx)
        self.token = token

    def as_(self, user: str) -> Client:
        """The same app, logged in as ``user``."""
        session = self.ctx.users.login(user, PASSWORD, now_ms(), 3600)
        assert session is not None
        return Client(self.ctx, session.token, self.app)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; the token, if any, as a bearer header."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")

        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                return await c.request(method, path, headers=headers, **kwargs)

        return asyncio.run(call())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST."""
        return self.request("POST", path, **kwargs)


def now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


def write_deployment(folder: Path) -> Path:
    """A settings file over a copy of the demo village, every state file inside ``folder``."""
    shutil.copy(REPO / "config/demo/dongcun.yaml", folder / "dongcun.yaml")
    settings = folder / "villagewatch.yaml"
    settings.write_text(
        "store: {kind: sqlite, path: readings.db}\n"
        "api: {live_poll_s: 0.05, login_delay_max_s: 0.1}\n"
        "villages: [dongcun.yaml]\n",
        encoding="utf-8",
    )
    return settings


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ApiContext]:
    """The context of an API with a user of each role (password PASSWORD)."""
    settings = write_deployment(tmp_path)
    context = open_context(load_deployment(settings), MemoryStore())
    for name, (role, places) in USERS.items():
        context.users.add(name, PASSWORD, role, places, now_ms())
    yield context
    context.close()


@pytest.fixture
def anon(ctx: ApiContext) -> Client:
    """The API, not logged in."""
    return Client(ctx)
