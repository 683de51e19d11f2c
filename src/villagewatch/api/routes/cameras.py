"""Camera zones for maintainers: the camera's latest picture, its zones and privacy masks, an
apply that keeps a version and sends them to the camera's edge agent, and what the agent
reported back.

Applying (:func:`~villagewatch.versions.cameras.apply_zones`) records the zones as a version
of ``camera:<village>/<device>`` and publishes the agent's retained desired config
(``vw/v1/<village>/<agent>/config``), recorded as a version of ``agent:<village>/<agent>``
whose number the agent reports back on ``…/config/reported``. A maintainer changes only the
cameras of their places; another camera is not told apart from one that does not exist.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import Field

from villagewatch.api.auth import Maintainer, context, now_ms, sees_place
from villagewatch.api.context import ApiContext
from villagewatch.api.edgeconfig import BrokerUnreachable
from villagewatch.api.routes.config import (
    Note,
    NoteIn,
    VersionNumber,
    VersionOut,
    VersionsOut,
    VersionTextOut,
)
from villagewatch.api.schemas import Reply
from villagewatch.api.users import User
from villagewatch.config import DeviceSpec
from villagewatch.config.places import grid_place
from villagewatch.contract import DeviceKind, Identifier
from villagewatch.edge.vision.config import ZoneKind
from villagewatch.versions import UnknownVersion
from villagewatch.versions.cameras import (
    AppliedZones,
    CameraZones,
    ZonesUnreadable,
    agent_file,
    apply_zones,
    camera_file,
    current_zones,
    zones_of_text,
)

__all__ = ["router"]

router = APIRouter(tags=["cameras"])

_BASE = "/api/cameras/{village}/{device}"
Village = Annotated[Identifier, "the village id"]
Device = Annotated[Identifier, "the camera's device id"]


class ZonesOut(Reply):
    """A camera's zones as the centre last applied them, and where they go."""

    village: str
    device: str
    name: str
    agent: str | None = Field(description="The edge agent that runs the camera (None: unset).")
    kinds: list[ZoneKind] = Field(description="The zone kinds the camera's vision knows.")
    zones: CameraZones = Field(description="Zones and masks, normalised (0-1 of the picture).")
    version: VersionOut | None = Field(description="The zones' newest version (None: none yet).")
    picture: bool = Field(description="Whether a picture of the camera is stored.")


class ZonesIn(CameraZones):
    """A camera's new zones and privacy masks, and why they change."""

    note: Note = ""


class AppliedOut(Reply):
    """The zones were kept and sent: their version, and the desired config version the agent
    will report."""

    version: int
    desired_version: int
    agent: str


ReportState = Literal["not_sent", "waiting", "applied", "refused", "unreadable", "other"]


class ReportedOut(Reply):
    """What the camera's agent reported about the desired config the centre sent it."""

    agent: str
    desired_version: int | None = Field(description="The newest desired config sent (None: none).")
    reported_version: int | None = Field(description="The version of the agent's report.")
    state: ReportState = Field(
        description="not_sent: the centre sent nothing yet; waiting: no report of the newest "
        "version yet; applied / refused: the agent's word on it; unreadable: a report that "
        "cannot be read; other: the agent reports a version the centre did not send."
    )
    error: str | None = Field(description="Why the agent refused it, or why unreadable.")


def _camera(ctx: ApiContext, user: User, village: str, device: str) -> DeviceSpec:
    """A camera of the user's places; 404 otherwise."""
    spec = ctx.devices.get((village, device))
    if (
        spec is None
        or spec.kind is not DeviceKind.CAMERA
        or not sees_place(ctx, user, grid_place(village, spec.grid))
    ):
        raise HTTPException(404, f"no camera {device!r} in village {village!r} among yours")
    return spec


def _agent(spec: DeviceSpec, village: str) -> str:
    if spec.agent is None:
        raise HTTPException(
            409,
            f"camera {spec.id} has no `agent` in village {village}'s file: set the edge agent "
            "that runs it there before its zones can be sent",
        )
    return spec.agent


async def _zones(ctx: ApiContext, village: str, device: str) -> ZonesOut:
    spec = ctx.devices[(village, device)]
    try:
        zones, newest = await asyncio.to_thread(current_zones, ctx.versions, village, device)
    except ZonesUnreadable as exc:
        raise HTTPException(409, str(exc)) from None
    latest = await asyncio.to_thread(ctx.evidence.newest, village, device)
    return ZonesOut(
        village=village, device=device, name=spec.name, agent=spec.agent, kinds=list(ZoneKind),
        zones=zones, version=VersionOut.of(newest) if newest else None, picture=latest is not None,
    )  # fmt: skip


@router.get(_BASE + "/zones")
async def read_zones(
    request: Request, user: Maintainer, village: Village, device: Device
) -> ZonesOut:
    """The camera's zones and privacy masks as last applied, the zone kinds, its agent."""
    ctx = context(request)
    _camera(ctx, user, village, device)
    return await _zones(ctx, village, device)


@router.get(
    _BASE + "/picture", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}}
)
async def picture(request: Request, user: Maintainer, village: Village, device: Device) -> Response:
    """The camera's latest picture (its newest evidence JPEG, privacy masks applied at the
    edge); 404 before the camera sent one."""
    ctx = context(request)
    _camera(ctx, user, village, device)
    found = await asyncio.to_thread(ctx.evidence.newest, village, device)
    if found is None:
        raise HTTPException(404, f"camera {device} has sent no picture yet")
    return Response(found, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


async def _apply(
    ctx: ApiContext, user: User, village: str, device: str, zones: CameraZones, note: str,
    rollback_of: int | None,
) -> AppliedOut:  # fmt: skip
    spec = _camera(ctx, user, village, device)
    agent = _agent(spec, village)
    try:
        done: AppliedZones = await asyncio.to_thread(
            apply_zones, ctx.versions, zones, village=village, agent=agent, device=device,
            who=user.name, note=note, at_ms=now_ms(), publish=ctx.edge_config.publish,
            rollback_of=rollback_of,
        )  # fmt: skip
    except BrokerUnreachable as exc:
        raise HTTPException(503, f"not sent, nothing changed: {exc}") from None
    details = {"device": device, "version": done.zones.n, "desired_version": done.desired.n}
    if rollback_of is not None:
        details["rollback_of"] = rollback_of
    await asyncio.to_thread(
        ctx.users.audit, user.name, "rollback_zones" if rollback_of else "apply_zones",
        grid_place(village, spec.grid), details, now_ms(),
    )  # fmt: skip
    return AppliedOut(version=done.zones.n, desired_version=done.desired.n, agent=agent)


@router.put(_BASE + "/zones")
async def apply_camera_zones(
    request: Request, user: Maintainer, village: Village, device: Device, body: ZonesIn
) -> AppliedOut:
    """Keep the zones as a new version (with the note saying why) and send them to the
    camera's edge agent in its retained desired config; 503 if the broker did not take it
    (then nothing is kept)."""
    zones = CameraZones(zones=body.zones, masks=body.masks)
    return await _apply(context(request), user, village, device, zones, body.note, None)


@router.get(_BASE + "/reported")
async def reported(
    request: Request, user: Maintainer, village: Village, device: Device
) -> ReportedOut:
    """What the camera's agent reported on ``…/config/reported``: the newest desired config
    applied, refused (with the agent's reason), or not yet answered."""
    ctx = context(request)
    agent = _agent(_camera(ctx, user, village, device), village)
    sent = await asyncio.to_thread(ctx.versions.versions, agent_file(village, agent))
    desired = sent[0].n if sent else None
    try:
        got = await asyncio.to_thread(ctx.edge_config.reported, village, agent)
    except BrokerUnreachable as exc:
        raise HTTPException(503, str(exc)) from None
    out = ReportedOut(agent=agent, desired_version=desired, reported_version=None,
                      state="not_sent" if desired is None else "waiting", error=None)  # fmt: skip
    if isinstance(got, str):
        return out.model_copy(update={"state": "unreadable", "error": got})
    if got is None:
        return out
    update: dict[str, object] = {"reported_version": got.version}
    if desired is not None and got.version == desired:
        update |= {"state": "applied" if got.applied else "refused", "error": got.error}
    elif desired is None or got.version > desired:
        update |= {"state": "other", "error": got.error}
    return out.model_copy(update=update)


@router.get(_BASE + "/versions")
async def zones_versions(
    request: Request, user: Maintainer, village: Village, device: Device
) -> VersionsOut:
    """The applied versions of the camera's zones, newest first (who, when, why)."""
    ctx = context(request)
    _camera(ctx, user, village, device)
    found = await asyncio.to_thread(ctx.versions.versions, camera_file(village, device))
    return VersionsOut(versions=[VersionOut.of(v) for v in found])


@router.get(_BASE + "/versions/{n}")
async def zones_version(
    request: Request, user: Maintainer, village: Village, device: Device, n: VersionNumber,
    against: Annotated[int | None, Query(ge=1, le=2**53, description="Diff from this version.")]
    = None,
) -> VersionTextOut:  # fmt: skip
    """One version of the camera's zones: its text (YAML) and the diff to the version before
    (or, with ``against``, from that version)."""
    ctx = context(request)
    _camera(ctx, user, village, device)
    file = camera_file(village, device)
    try:
        found = await asyncio.to_thread(ctx.versions.version, file, n)
        diff = found.diff
        if against is not None:
            diff = await asyncio.to_thread(ctx.versions.diff, file, against, n)
    except UnknownVersion as exc:
        raise HTTPException(404, str(exc)) from None
    return VersionTextOut(**VersionOut.of(found.summary).model_dump(), text=found.text,
                          diff=diff)  # fmt: skip


@router.post(_BASE + "/versions/{n}/rollback")
async def roll_back_zones(
    request: Request, user: Maintainer, village: Village, device: Device, n: VersionNumber,
    body: NoteIn,
) -> AppliedOut:  # fmt: skip
    """Apply version ``n``'s zones again, as a new version with the note, and send them."""
    ctx = context(request)
    _camera(ctx, user, village, device)
    try:
        old = await asyncio.to_thread(ctx.versions.version, camera_file(village, device), n)
        zones = zones_of_text(old.text)
    except UnknownVersion as exc:
        raise HTTPException(404, str(exc)) from None
    except ZonesUnreadable as exc:
        raise HTTPException(409, str(exc)) from None
    return await _apply(ctx, user, village, device, zones, body.note, n)
