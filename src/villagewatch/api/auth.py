"""Who is asking: bearer tokens to users, roles to routes, places to what a user may see.

Every route but health, metrics, login and the console's static files takes a
:class:`Require` dependency naming the least role it needs; the route-table
test walks the app and fails for a route without one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from villagewatch.api.context import ApiContext
from villagewatch.api.users import User, UserRole

__all__ = [
    "Admin",
    "Maintainer",
    "Operator",
    "Require",
    "Viewer",
    "bearer_user",
    "context",
    "now_ms",
    "personal",
    "sees_place",
    "shown_phone",
    "shown_tenant_name",
]

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/auth/login.")


def now_ms() -> int:
    """Wall-clock time of an action, epoch ms."""
    return time.time_ns() // 1_000_000


def context(request: Request) -> ApiContext:
    """The app's shared state."""
    ctx = request.app.state.ctx
    assert isinstance(ctx, ApiContext)
    return ctx


def bearer_user(ctx: ApiContext, authorization: str | None) -> User:
    """The user of a current session from an ``Authorization: Bearer <token>`` header; 401
    (HTTPException) without one or for an unknown, expired or disabled session."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401, "log in first: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    user = ctx.users.authenticate(token.strip(), now_ms())
    if user is None:
        raise HTTPException(
            401, "the token is unknown or has expired; log in again",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    return user


class Require:
    """A route's dependency: a current session whose user has at least ``role``.

    The session is checked before the body is read, by
    :class:`~villagewatch.api.middleware.RequestGate` (which finds the routes that need
    one by this dependency); here the role.
    """

    def __init__(self, role: UserRole) -> None:
        self.role = role

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> User:
        """The user; 401 without a valid session, 403 when the role is not enough."""
        gated = getattr(request.state, "user", None)
        if isinstance(gated, User):
            user = gated
        else:  # the app was built without the gate: check the session here
            header = f"Bearer {credentials.credentials}" if credentials else None
            user = await asyncio.to_thread(bearer_user, context(request), header)
            request.state.user = user
        if not user.may(self.role):
            raise HTTPException(403, f"this needs the {self.role.value} role; you are {user.role}")
        return user


Viewer = Annotated[User, Depends(Require(UserRole.VIEWER))]
Operator = Annotated[User, Depends(Require(UserRole.OPERATOR))]
Maintainer = Annotated[User, Depends(Require(UserRole.MAINTAINER))]
Admin = Annotated[User, Depends(Require(UserRole.ADMIN))]


def sees_place(ctx: ApiContext, user: User, place: str) -> bool:
    """Whether ``place`` lies in or under one of the user's places."""
    scope = ctx.places.under(user.places)
    return scope is None or place in scope


def personal(user: User) -> bool:
    """Whether the user's work needs personal data (tenants' names, phones)."""
    return user.role in (UserRole.OPERATOR, UserRole.ADMIN)


def shown_phone(user: User, phone: str) -> str | None:
    """A phone number (a team member's, a tenant's) as ``user`` may see it: None unless
    their work needs personal data. Every route that shows a phone uses this."""
    return phone if personal(user) else None


def shown_tenant_name(user: User, name: str) -> str:
    """A tenant's name as ``user`` may see it: all but its first character masked unless
    their work needs personal data. Every route that shows a tenant uses this."""
    return name if personal(user) else name[:1] + "*" * max(len(name) - 1, 1)
