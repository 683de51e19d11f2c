"""What every request meets before a route reads it, and every response carries.

:class:`RequestGate` stands before the routes: a route that needs a token
refuses a missing or unknown one (401) before a byte of the body is read, and a
body larger than the route takes is refused (413) by its Content-Length or,
sent without one, cut off as it streams. A route takes :data:`DEFAULT_MAX_BODY`
unless it says otherwise with ``openapi_extra=max_body(n)`` (so its OpenAPI
shows the limit too). Without it FastAPI reads the whole body first: three
200 MB uploads without a token took the API from 0.5 to 1.4 GB.

:class:`SecurityHeaders` wraps the whole app, its error pages included: every
response says what the browser may load and run (one Content-Security-Policy
per kind of page), that it must not sniff types, frame the page or send the
address on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from villagewatch.api.auth import Require, bearer_user
from villagewatch.errors import StoreError

__all__ = ["DEFAULT_MAX_BODY", "RequestGate", "SecurityHeaders", "max_body"]

DEFAULT_MAX_BODY = 64 * 1024
"""What a route takes unless it says otherwise: every JSON body of the API is far smaller."""

_MAX_BODY_KEY = "x-max-body-bytes"


def max_body(n: int) -> dict[str, Any]:
    """A route's ``openapi_extra`` for a body of up to ``n`` bytes (shown in its OpenAPI)."""
    return {_MAX_BODY_KEY: n}


@dataclass(frozen=True, slots=True)
class _Rule:
    matches: Callable[[Scope], tuple[Match, Scope]]
    needs_token: bool
    max_body: int


class _TooLarge(HTTPException):
    """Raised to the route reading a streamed body when it passes the limit (an
    HTTPException, so that FastAPI answers it as such instead of "error parsing the body")."""


def _too_large(limit: int, size: int | None) -> str:
    got = f"{size} bytes" if size is not None else "larger"
    return f"the request body is {got}; at most {limit} bytes"


class RequestGate:
    """Tokens and body sizes checked before a route reads the body (see the module)."""

    def __init__(self, app: ASGIApp, *, api: FastAPI) -> None:
        self._app = app
        self._api = api
        self._rules: Sequence[_Rule] | None = None

    def _rule(self, scope: Scope) -> _Rule | None:
        if self._rules is None:  # the routes are complete once requests arrive
            rules = []
            for found in iter_route_contexts(self._api.routes):
                route = found.original_route
                if isinstance(route, APIRoute):
                    needs = any(isinstance(d.call, Require) for d in route.dependant.dependencies)
                    limit = (route.openapi_extra or {}).get(_MAX_BODY_KEY, DEFAULT_MAX_BODY)
                    rules.append(_Rule(found.matches, needs, limit))
            self._rules = rules
        for rule in self._rules:
            if rule.matches(scope)[0] is Match.FULL:
                return rule
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, or pass the request on with its body counted."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        rule = self._rule(scope)
        limit = rule.max_body if rule is not None else DEFAULT_MAX_BODY
        if rule is not None and rule.needs_token:
            try:
                user = await asyncio.to_thread(
                    bearer_user, self._api.state.ctx, _header(scope, b"authorization")
                )
            except HTTPException as exc:
                await _answer(exc, scope, receive, send)
                return
            except StoreError as exc:  # as the app answers it, which is not around us
                await _answer(HTTPException(503, f"store unavailable: {exc}"), scope, receive, send)
                return
            scope.setdefault("state", {})["user"] = user  # Require takes it from here
        length = _header(scope, b"content-length") or ""
        if length.isascii() and length.isdigit() and (len(length) > 18 or int(length) > limit):
            too_large = _too_large(limit, int(length) if len(length) <= 18 else None)
            await _answer(HTTPException(413, too_large), scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(413, _too_large(limit, None))
            return message

        await self._app(scope, counted, send)


async def _answer(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
    await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


_API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
"""JSON, text and pictures: the browser runs nothing and frames nothing."""

_CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""The console: its own files only (it is offline by design)."""

_DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""/docs: Swagger UI from the package's own files, calling this API only."""


def _policy(path: str) -> str:
    if path in ("/", "/public/spaces") or path.startswith("/console"):
        return _CONSOLE_CSP
    if path.startswith("/docs"):
        return _DOCS_CSP
    return _API_CSP


class SecurityHeaders:
    """Every response's security headers, set in this one place (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response's start."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        policy = _policy(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
            await send(message)

        await self._app(scope, receive, with_headers)
