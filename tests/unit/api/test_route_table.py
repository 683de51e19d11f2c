"""Every route but health, metrics, login and the console's files needs a token and a role.

The table is the app's own: a route added without a :class:`Require` dependency,
or one that answers without a valid token, fails here.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.unit.api.conftest import PASSWORD, Client
from villagewatch.api.app import PUBLIC_PATHS, create_app
from villagewatch.api.auth import Require
from villagewatch.api.context import ApiContext
from villagewatch.api.users import UserRole

_BELOW = {UserRole.OPERATOR: "viewer", UserRole.MAINTAINER: "op", UserRole.ADMIN: "maint"}


def _routes(ctx: ApiContext) -> list[tuple[str, str, UserRole | None]]:
    """(method, path, least role or None) of every API route."""
    out = []
    # routers are included as one entry each; this FastAPI walks them (public since 0.13x)
    for found in iter_route_contexts(create_app(ctx).routes):
        route = found.original_route
        if not isinstance(route, APIRoute):
            continue
        deps = [d.call for d in route.dependant.dependencies]
        roles = [d.role for d in deps if isinstance(d, Require)]
        out += [(m, route.path, roles[0] if roles else None) for m in sorted(route.methods or ())]
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_the_table_is_not_empty_and_names_every_kind_of_route(ctx: ApiContext) -> None:
    table = _routes(ctx)
    paths = {p for _, p, _ in table}
    assert {"/api/alerts", "/api/alerts/stream", "/api/registry/houses", "/api/config"} <= paths
    assert {r for _, _, r in table} >= {
        UserRole.VIEWER,
        UserRole.OPERATOR,
        UserRole.MAINTAINER,
        UserRole.ADMIN,
    }


def test_the_silence_routes_are_in_the_table_with_their_roles(ctx: ApiContext) -> None:
    """Make and end: an operator (of the whole village, checked in the route); list: anyone."""
    table = {(m, p): r for m, p, r in _routes(ctx)}
    assert table[("POST", "/api/silences")] is UserRole.OPERATOR
    assert table[("GET", "/api/silences")] is UserRole.VIEWER
    assert table[("POST", "/api/silences/{silence_id}/end")] is UserRole.OPERATOR


def test_every_route_but_the_public_ones_requires_a_role(ctx: ApiContext) -> None:
    unguarded = [(m, p) for m, p, role in _routes(ctx) if role is None and p not in PUBLIC_PATHS]
    assert unguarded == []


def test_every_guarded_route_refuses_a_missing_bad_or_expired_token(ctx: ApiContext) -> None:
    expired = ctx.users.login("admin", PASSWORD, now_ms=0, ttl_s=60)  # ended in 1970
    assert expired is not None
    clients = {
        "missing": Client(ctx),
        "garbage": Client(ctx, "not-a-token"),
        "expired": Client(ctx, expired.token),
    }
    checked = 0
    for method, path, role in _routes(ctx):
        if role is None:
            continue
        for why, client in clients.items():
            reply = client.request(method, _concrete(path), json={})
            assert reply.status_code == 401, f"{method} {path} with a {why} token: {reply.text}"
            assert reply.headers.get("www-authenticate") == "Bearer"
            checked += 1
    assert checked >= 3 * 20


def test_every_route_refuses_the_role_just_below_its_own(ctx: ApiContext) -> None:
    checked = 0
    for method, path, role in _routes(ctx):
        if role is None or role is UserRole.VIEWER:
            continue
        reply = Client(ctx).as_(_BELOW[role]).request(method, _concrete(path), json={})
        assert reply.status_code == 403, f"{method} {path} as {_BELOW[role]}: {reply.text}"
        assert role.value in reply.json()["detail"]
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS - {"/api/auth/login"}))
def test_public_routes_answer_without_a_token(anon: Client, path: str) -> None:
    assert anon.get(path, follow_redirects=True).status_code == 200


def test_a_disabled_user_is_locked_out_at_once(ctx: ApiContext) -> None:
    op = Client(ctx).as_("op")
    assert op.get("/api/me").status_code == 200
    ctx.users.set_disabled("op", True)
    assert op.get("/api/me").status_code == 401
    assert ctx.users.login("op", PASSWORD, now_ms=0, ttl_s=60) is None


def test_password_guessing_is_slowed_not_locked_out(anon: Client) -> None:
    """Five wrong passwords for one name slow its next check; the right one still gets in
    (a lockout would let anyone keep the duty operator out). The throttle itself:
    tests/unit/api/test_login_throttle.py."""
    for _ in range(5):
        wrong = anon.post("/api/auth/login", json={"user": "op", "password": "guess-guess"})
        assert wrong.status_code == 401
    assert anon.post("/api/auth/login", json={"user": "op", "password": PASSWORD}).is_success
    assert anon.post("/api/auth/login", json={"user": "viewer", "password": PASSWORD}).is_success
    assert [r.action for r in anon.ctx.users.audit_log(user="op")][:6] == (
        ["login"] + ["login_failed"] * 5
    )


def test_the_config_page_routes_are_in_the_table_for_maintainers(ctx: ApiContext) -> None:
    table = {(m, p): role for m, p, role in _routes(ctx)}
    for route in [
        ("GET", "/api/config/village/schema"),
        ("GET", "/api/config/villages/{village}/file"),
        ("POST", "/api/config/villages/{village}/preview"),
    ]:
        assert table.get(route) is UserRole.MAINTAINER, route
