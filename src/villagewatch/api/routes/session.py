"""Logging in and out, who am I, and (for admins) users and the audit log of actions."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import Field

from villagewatch.api import throttle_shared
from villagewatch.api.auth import Admin, Viewer, context, now_ms
from villagewatch.api.schemas import LoginIn, LoginOut, MeOut, Reply, at
from villagewatch.api.throttle import LoginRefused, PoolFull
from villagewatch.api.users import UserRefused, UserRole
from villagewatch.contract import Identifier, StrictModel

__all__ = ["router"]

router = APIRouter(tags=["session"])


class UserIn(StrictModel):
    """A new user."""

    name: Identifier
    password: str = Field(min_length=8, max_length=256)
    role: UserRole
    places: list[str] = Field(
        min_length=1, max_length=100, description="Places they see: village:<id>, … or *."
    )


class UserOut(Reply):
    """A user (never the password)."""

    name: str
    role: UserRole
    places: list[str]
    disabled: bool


class ApiActionOut(Reply):
    """One action taken through the API."""

    id: int
    at: datetime
    user: str
    action: str
    target: str
    detail: dict[str, Any]


@router.post(
    "/api/auth/login",
    responses={
        401: {"description": "Wrong name or password."},
        429: {"description": "Too many failed logins from this address, or at once; wait."},
        503: {"description": "The server is busy checking passwords; try again shortly."},
    },
)
async def login(request: Request, body: LoginIn) -> LoginOut:
    """A token for the right name and password (valid ``api.token_ttl_s``). Failed logins
    slow the next ones down (docs/console.md)."""
    ctx = context(request)
    ttl = ctx.deployment.settings.api.token_ttl_s
    source = request.client.host if request.client else ""
    try:
        attempt = await throttle_shared.admit(ctx.logins, source, body.user)
    except LoginRefused as exc:
        raise HTTPException(429, str(exc), headers=_retry_after(exc.retry_after_s)) from None
    checked: bool | None = None
    try:
        await asyncio.sleep(attempt.wait_s)  # the name's turn
        session = await ctx.passwords.run(ctx.users.login, body.user, body.password, now_ms(), ttl)
        checked = session is not None
    except PoolFull as exc:
        raise HTTPException(503, str(exc), headers=_retry_after(1)) from None
    finally:
        await throttle_shared.finish(ctx.logins, attempt, succeeded=checked)
    # the name as given (at most LoginIn's 64 characters): who was tried is worth keeping
    if session is None:
        await asyncio.to_thread(ctx.users.audit, body.user, "login_failed", "", {}, now_ms())
        raise HTTPException(401, "wrong user name or password")
    await asyncio.to_thread(ctx.users.audit, body.user, "login", "", {}, now_ms())
    return LoginOut(
        token=session.token, expires=at(session.expires_ms), user=session.user.name,
        role=session.user.role, places=list(session.user.places),
    )  # fmt: skip


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


@router.post("/api/auth/logout", status_code=204)
async def logout(request: Request, user: Viewer) -> Response:
    """End this session."""
    ctx = context(request)
    token = request.headers.get("authorization", "").partition(" ")[2]
    await asyncio.to_thread(ctx.users.logout, token)
    await asyncio.to_thread(ctx.users.audit, user.name, "logout", "", {}, now_ms())
    return Response(status_code=204)


@router.get("/api/me")
async def me(user: Viewer) -> MeOut:
    """The logged-in user: name, role and places."""
    return MeOut(user=user.name, role=user.role, places=list(user.places))


@router.get("/api/users")
async def list_users(request: Request, _user: Admin) -> list[UserOut]:
    """Every user."""
    users = await asyncio.to_thread(context(request).users.users)
    return [UserOut(name=u.name, role=u.role, places=list(u.places), disabled=u.disabled)
            for u in users]  # fmt: skip


@router.post("/api/users", status_code=201)
async def add_user(request: Request, user: Admin, body: UserIn) -> UserOut:
    """Add a user with a role and places."""
    ctx = context(request)
    unknown = [p for p in body.places if not ctx.places.known(p)]
    if unknown:
        raise HTTPException(422, f"no such places: {', '.join(unknown)}")
    try:
        added = await ctx.passwords.run(
            ctx.users.add, body.name, body.password, body.role, body.places, now_ms()
        )
    except UserRefused as exc:
        raise HTTPException(409, str(exc)) from exc
    await asyncio.to_thread(
        ctx.users.audit, user.name, "add_user", f"user:{body.name}",
        {"role": body.role.value, "places": body.places}, now_ms(),
    )  # fmt: skip
    return UserOut(name=added.name, role=added.role, places=list(added.places), disabled=False)


@router.post("/api/users/{name}/disabled", status_code=204)
async def set_disabled(
    request: Request,
    user: Admin,
    name: str,
    disabled: Annotated[bool, Query(description="True: lock out (sessions end).")] = True,
) -> Response:
    """Lock a user out, or let them back in."""
    ctx = context(request)
    try:
        await asyncio.to_thread(ctx.users.set_disabled, name, disabled)
    except UserRefused as exc:
        raise HTTPException(404, str(exc)) from exc
    await asyncio.to_thread(
        ctx.users.audit, user.name, "disable_user" if disabled else "enable_user",
        f"user:{name}", {}, now_ms(),
    )  # fmt: skip
    return Response(status_code=204)


@router.get("/api/audit")
async def audit_log(
    request: Request,
    _user: Admin,
    by: Annotated[str | None, Query(max_length=64, description="Only this user's.")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**53, description="Page back.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ApiActionOut]:
    """Actions taken through the API, newest first."""
    ctx = context(request)
    rows = await asyncio.to_thread(
        lambda: ctx.users.audit_log(user=by, limit=limit, before_id=before_id)
    )
    return [
        ApiActionOut(id=r.id, at=at(r.at_ms), user=r.user, action=r.action, target=r.target,
                 detail=r.detail)
        for r in rows
    ]  # fmt: skip
