"""The rental registry: houses, tenants and credentials, kept by operators.

Tenants' names and phones are personal data: operators and admins see them,
viewers and maintainers see a masked name and no phone. Nothing here ever
goes into a notification (the lock detector names the credential only).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import Field

from villagewatch.api.auth import (
    Operator,
    Viewer,
    context,
    now_ms,
    sees_place,
    shown_phone,
    shown_tenant_name,
)
from villagewatch.api.context import ApiContext
from villagewatch.api.schemas import Reply, StoredTime, at, dt
from villagewatch.api.users import User
from villagewatch.config.places import village_place
from villagewatch.contract import DeviceKind, Identifier, StrictModel
from villagewatch.registry import HouseRecord

__all__ = ["router"]

router = APIRouter(tags=["registry"])


class CredentialOut(Reply):
    """A credential of a tenant."""

    id: str
    tenant: str
    valid_from: datetime | None
    valid_to: datetime | None
    added: datetime
    ended: datetime | None


class TenantOut(Reply):
    """A tenant; ``name`` is masked and ``phone`` null for roles that do not need them."""

    id: str
    name: str
    phone: str | None
    verified: bool
    added: datetime
    ended: datetime | None


class HouseOut(Reply):
    """A rental house, its lock, tenants and credentials (ended ones too)."""

    village: str
    id: str
    name: str
    lock: str
    tenants: list[TenantOut]
    credentials: list[CredentialOut]


class HouseIn(StrictModel):
    """A new rental house."""

    village: Identifier
    id: Identifier
    name: str = Field("", max_length=200, description="Name or address.")
    lock: Identifier = Field(description="Device id of its smart lock.")


class TenantIn(StrictModel):
    """A new tenant of a house."""

    id: Identifier
    name: str = Field(min_length=1, max_length=100, description="Name (personal data).")
    phone: str = Field("", max_length=40, description="Phone (personal data).")
    verified: bool = Field(False, description="Identity checked by the village office.")


class VerifiedIn(StrictModel):
    """Whether the tenant's identity has been checked."""

    verified: bool


class CredentialIn(StrictModel):
    """A credential for a tenant; open-ended without times."""

    id: Identifier = Field(description="As the lock reports it.")
    tenant: Identifier
    valid_from: StoredTime | None = None
    valid_to: StoredTime | None = None


def _house_out(h: HouseRecord, user: User) -> HouseOut:
    return HouseOut(
        village=h.village, id=h.id, name=h.name, lock=h.lock,
        tenants=[
            TenantOut(
                id=t.id, name=shown_tenant_name(user, t.name),
                phone=shown_phone(user, t.phone), verified=t.verified,
                added=at(t.added_ms), ended=dt(t.ended_ms),
            )
            for t in h.tenants
        ],
        credentials=[
            CredentialOut(
                id=c.id, tenant=c.tenant, valid_from=dt(c.valid_from_ms),
                valid_to=dt(c.valid_to_ms), added=at(c.added_ms), ended=dt(c.ended_ms),
            )
            for c in h.credentials
        ],
    )  # fmt: skip


def _lock_place(ctx: ApiContext, village: str, lock: str) -> str:
    return ctx.places.device_place(village, lock)


def _house(ctx: ApiContext, user: User, village: str, house: str) -> HouseRecord:
    known = village_place(village) in ctx.places.nodes
    for h in ctx.registry.houses(village) if known else []:
        if h.id == house and sees_place(ctx, user, _lock_place(ctx, village, h.lock)):
            return h
    raise HTTPException(404, f"no house {house!r} in village {village!r}")


async def _change(
    request: Request, user: User, village: str, house: str, action: str,
    detail: dict[str, Any], fn: Callable[[ApiContext], None], *, new: bool = False,
) -> HouseOut:  # fmt: skip
    """Check that the user sees the house (unless it is ``new``), change it, audit the change;
    the house as it is now. In a worker thread: the registry is a SQLite file."""
    ctx = context(request)

    def run() -> HouseRecord:
        if not new:
            _house(ctx, user, village, house)
        fn(ctx)
        ctx.users.audit(user.name, action, f"house:{village}/{house}", detail, now_ms())
        return _house(ctx, user, village, house)

    return _house_out(await asyncio.to_thread(run), user)


@router.get("/api/registry/houses")
async def list_houses(
    request: Request,
    user: Viewer,
    village: Annotated[str | None, Query(max_length=64, description="Only this village.")] = None,
) -> list[HouseOut]:
    """The rental houses whose lock is in the user's places."""
    ctx = context(request)
    houses = await asyncio.to_thread(ctx.registry.houses, village)
    return [
        _house_out(h, user)
        for h in houses
        if sees_place(ctx, user, _lock_place(ctx, h.village, h.lock))
    ]


@router.post("/api/registry/houses", status_code=201)
async def add_house(request: Request, user: Operator, body: HouseIn) -> HouseOut:
    """Register a rental house with its smart lock."""
    ctx = context(request)
    spec = ctx.devices.get((body.village, body.lock))
    if spec is None or spec.kind is not DeviceKind.SMART_LOCK:
        raise HTTPException(422, f"village {body.village!r} has no smart lock {body.lock!r}")
    if not sees_place(ctx, user, _lock_place(ctx, body.village, body.lock)):
        raise HTTPException(403, f"lock {body.lock!r} is not in your places")
    return await _change(
        request, user, body.village, body.id, "add_house", {"lock": body.lock},
        lambda c: c.registry.add_house(body.village, body.id, body.name, body.lock, now_ms()),
        new=True,
    )  # fmt: skip


@router.post("/api/registry/houses/{village}/{house}/tenants", status_code=201)
async def add_tenant(
    request: Request, user: Operator, village: str, house: str, body: TenantIn
) -> HouseOut:
    """Register a tenant (their name and phone are kept, shown only to those who need them)."""
    return await _change(
        request, user, village, house, "add_tenant",
        {"tenant": body.id, "verified": body.verified},  # no name or phone in the audit
        lambda c: c.registry.add_tenant(
            village, house, body.id, name=body.name, phone=body.phone, verified=body.verified,
            now_ms=now_ms(),
        ),
    )  # fmt: skip


@router.post("/api/registry/houses/{village}/{house}/tenants/{tenant}/verified")
async def set_verified(
    request: Request, user: Operator, village: str, house: str, tenant: str, body: VerifiedIn
) -> HouseOut:
    """Mark the tenant's identity as checked (or not)."""
    return await _change(
        request, user, village, house, "verify_tenant",
        {"tenant": tenant, "verified": body.verified},
        lambda c: c.registry.set_verified(village, house, tenant, verified=body.verified),
    )  # fmt: skip


@router.post("/api/registry/houses/{village}/{house}/tenants/{tenant}/end")
async def end_tenant(
    request: Request, user: Operator, village: str, house: str, tenant: str
) -> HouseOut:
    """The tenant moved out: they and their credentials end now."""
    return await _change(
        request, user, village, house, "end_tenant", {"tenant": tenant},
        lambda c: c.registry.end_tenant(village, house, tenant, now_ms()),
    )  # fmt: skip


@router.post("/api/registry/houses/{village}/{house}/credentials", status_code=201)
async def add_credential(
    request: Request, user: Operator, village: str, house: str, body: CredentialIn
) -> HouseOut:
    """Give a current tenant a credential for the house's lock, valid for a period."""

    def ms(value: datetime | None) -> int | None:
        return None if value is None else int(value.timestamp() * 1000)

    return await _change(
        request, user, village, house, "add_credential",
        {"credential": body.id, "tenant": body.tenant},
        lambda c: c.registry.add_credential(
            village, house, body.tenant, body.id, valid_from_ms=ms(body.valid_from),
            valid_to_ms=ms(body.valid_to), now_ms=now_ms(),
        ),
    )  # fmt: skip


@router.post("/api/registry/houses/{village}/{house}/credentials/{credential}/end")
async def end_credential(
    request: Request, user: Operator, village: str, house: str, credential: str
) -> HouseOut:
    """A card handed back or a code withdrawn: opening with it raises an alert from now on."""
    return await _change(
        request, user, village, house, "end_credential", {"credential": credential},
        lambda c: c.registry.end_credential(village, house, credential, now_ms()),
    )  # fmt: skip
