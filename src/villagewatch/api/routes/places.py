"""Places and their teams, and the village plans the console draws devices on."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Request, Response
from pydantic import Field

from villagewatch.api.auth import Maintainer, Viewer, context, now_ms, sees_place, shown_phone
from villagewatch.api.context import ApiContext
from villagewatch.api.middleware import max_body
from villagewatch.api.schemas import Reply
from villagewatch.api.users import User
from villagewatch.config.places import village_of_place, village_place
from villagewatch.contract import is_identifier

__all__ = ["router"]

router = APIRouter(tags=["places"])

_PLAN_MAX = 5 * 1024 * 1024
_IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": ("png", "image/png"), b"\xff\xd8\xff": ("jpg", "image/jpeg")}


class MemberOut(Reply):
    """A team member; the phone only for roles that call people."""

    id: str
    name: str
    role: str
    phone: str | None


class PlaceOut(Reply):
    """A place with its team."""

    id: str = Field(description="town:<id>, village:<id> or grid:<village>/<grid>.")
    kind: str
    name: str
    parent: str | None
    members: list[MemberOut]
    channels: list[str]
    yours: bool = Field(description="In the user's places (False: shown for context only).")
    plan: str | None = Field(description="URL of the village plan picture, for villages.")


def _plan_file(ctx: ApiContext, village: str) -> Path | None:
    for ext in ("png", "jpg"):
        path = ctx.plans_dir / f"{village}.{ext}"
        if path.exists():
            return path
    return None


@router.get("/api/places")
async def list_places(request: Request, user: Viewer) -> list[PlaceOut]:
    """The user's places and the places above them, with teams."""
    ctx = context(request)
    scope = ctx.places.under(user.places)
    shown: dict[str, bool] = {}
    for pid in ctx.places.nodes if scope is None else scope:
        for above in ctx.places.chain(pid):
            shown[above.id] = shown.get(above.id, False) or above.id == pid
    out = []
    for pid, yours in shown.items():
        node = ctx.places.nodes[pid]
        team = node.team if yours else None
        village = village_of_place(pid) if node.kind == "village" else None
        has_plan = village is not None and _plan_file(ctx, village) is not None
        out.append(
            PlaceOut(
                id=pid, kind=node.kind, name=node.name, parent=node.parent,
                members=[
                    MemberOut(
                        id=m.id, name=m.name, role=m.role.value,
                        phone=shown_phone(user, m.phone),
                    )
                    for m in (team.members if team else [])
                ],
                channels=list(team.channels) if team else [], yours=yours,
                plan=f"/api/villages/{village}/plan" if has_plan else None,
            )
        )  # fmt: skip
    return sorted(out, key=lambda p: p.id)


def _village_seen(ctx: ApiContext, user: User, village: str) -> None:
    if village_place(village) not in ctx.places.nodes or village not in ctx.places.villages_of(
        ctx.places.under(user.places)
    ):
        raise HTTPException(404, f"no village {village!r}")


@router.get(
    "/api/villages/{village}/plan",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}},
)
async def get_plan(request: Request, user: Viewer, village: str) -> Response:
    """The village plan picture devices are placed on (positions are fractions of it)."""
    ctx = context(request)
    _village_seen(ctx, user, village)
    path = _plan_file(ctx, village)
    if path is None:
        raise HTTPException(404, f"no plan uploaded for village {village!r}")
    body = await asyncio.to_thread(path.read_bytes)
    media = "image/png" if path.suffix == ".png" else "image/jpeg"
    return Response(body, media_type=media, headers={"Cache-Control": "private"})


@router.put("/api/villages/{village}/plan", status_code=204, openapi_extra=max_body(_PLAN_MAX))
async def put_plan(
    request: Request,
    user: Maintainer,
    village: str,
    image: Annotated[
        bytes,
        Body(media_type="application/octet-stream", description="A PNG or JPEG, at most 5 MB."),
    ],
) -> Response:
    """Upload the village plan (PNG or JPEG); it replaces the previous one."""
    ctx = context(request)
    _village_seen(ctx, user, village)
    if not sees_place(ctx, user, village_place(village)):
        raise HTTPException(403, f"village {village!r} is not all yours to change")
    kind = next((v for magic, v in _IMAGE_TYPES.items() if image.startswith(magic)), None)
    if kind is None:
        raise HTTPException(415, "the plan must be a PNG or JPEG picture")
    assert is_identifier(village)
    await asyncio.to_thread(_save_plan, ctx.plans_dir, village, kind[0], image)
    await asyncio.to_thread(
        ctx.users.audit, user.name, "upload_plan", village_place(village),
        {"bytes": len(image), "type": kind[1]}, now_ms(),
    )  # fmt: skip
    return Response(status_code=204)


def _save_plan(folder: Path, village: str, ext: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{village}.{ext}.tmp"
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(folder / f"{village}.{ext}")
    for other in ("png", "jpg"):
        if other != ext:
            (folder / f"{village}.{other}").unlink(missing_ok=True)
