"""Devices with their state and newest values, and downsampled readings of one device."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import Field

from villagewatch.alerts.lifecycle import Alert
from villagewatch.api.auth import Viewer, context, sees_place
from villagewatch.api.context import ApiContext
from villagewatch.api.schemas import Reply, epoch_ns
from villagewatch.api.users import User
from villagewatch.config import DeviceSpec, Position
from villagewatch.config.places import grid_place
from villagewatch.contract import DeviceKind, metric_names
from villagewatch.transitions import Severity

__all__ = ["router"]

router = APIRouter(tags=["devices"])

_SEVERITY_ORDER = list(Severity)

Link = Literal["ok", "late", "offline", "never"]


class LastReading(Reply):
    """The newest value of one metric."""

    time: datetime
    value: float


class DeviceOut(Reply):
    """A device as configured, with its newest values and how it is doing."""

    village: str
    id: str
    kind: DeviceKind
    grid: str
    place: str = Field(description="The grid it sits in, as a place id.")
    name: str
    position: Position | None
    last: dict[str, LastReading] = Field(description="Newest value per metric.")
    last_seen: datetime | None = Field(description="Time of its newest reading.")
    link: Link = Field(
        description="ok: heard within 2 intervals; late: within 5; offline: longer; never."
    )
    battery: float | None = Field(description="Battery, percent, if it reports one.")
    open_alerts: int
    worst_severity: Severity | None = Field(description="Of its open alerts.")
    state: Literal["alarm", "offline", "ok", "unknown"] = Field(
        description="For colouring: an open alert, no recent reading, fine, never heard."
    )


class BucketOut(Reply):
    """One slice of a downsampled series."""

    start: datetime
    mean: float
    min: float
    max: float
    count: int


class ReadingsOut(Reply):
    """A downsampled series of one metric of one device."""

    village: str
    device: str
    metric: str
    since: datetime
    until: datetime
    buckets: list[BucketOut]


def _dt(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _link(spec: DeviceSpec, seen_ns: int | None, now_ns: int) -> Link:
    if seen_ns is None:
        return "never"
    age_s = (now_ns - seen_ns) / 1e9
    if age_s <= 2 * spec.interval_s:
        return "ok"
    return "late" if age_s <= 5 * spec.interval_s else "offline"


def _find(ctx: ApiContext, user: User, village: str | None, device: str) -> tuple[str, DeviceSpec]:
    matches = [
        (v, d)
        for (v, i), d in ctx.devices.items()
        if i == device and village in (None, v) and sees_place(ctx, user, grid_place(v, d.grid))
    ]
    if not matches:
        raise HTTPException(
            404, f"no device {device!r}" + (f" in village {village!r}" if village else "")
        )
    if len(matches) > 1:
        raise HTTPException(422, f"device {device!r} exists in several villages; give village=")
    return matches[0]


@router.get("/api/devices")
async def list_devices(
    request: Request,
    user: Viewer,
    village: Annotated[str | None, Query(max_length=64, description="Only this village.")] = None,
) -> list[DeviceOut]:
    """The user's devices (optionally of one village): newest values, link, battery, state."""
    ctx = context(request)
    last = await ctx.store.last_values(village=village)
    open_alerts: list[Alert] = await asyncio.to_thread(ctx.alerts.open_alerts)
    by_device: dict[tuple[str, str], dict[str, LastReading]] = {}
    seen: dict[tuple[str, str], int] = {}
    for lv in last:
        key = (lv.village, lv.device)
        values = by_device.setdefault(key, {})
        if not lv.lot:  # a camera's count per parking lot is the public page's, not the device's
            values[lv.metric] = LastReading(time=_dt(lv.time_ns), value=lv.value)
        seen[key] = max(seen.get(key, 0), lv.time_ns)
    alerts: dict[tuple[str, str], list[Severity]] = {}
    for a in open_alerts:
        alerts.setdefault((a.village, a.subject.split(":", 1)[0]), []).append(a.severity)
    now_ns = time.time_ns()
    out = []
    for (v, _), d in ctx.devices.items():
        place = grid_place(v, d.grid)
        if village not in (None, v) or not sees_place(ctx, user, place):
            continue
        values = by_device.get((v, d.id), {})
        link = _link(d, seen.get((v, d.id)), now_ns)
        severities = alerts.get((v, d.id), [])
        worst = max(severities, key=_SEVERITY_ORDER.index) if severities else None
        battery = values.get("battery")
        state: Literal["alarm", "offline", "ok", "unknown"] = (
            "alarm" if severities else
            "unknown" if link == "never" else "offline" if link == "offline" else "ok"
        )  # fmt: skip
        out.append(
            DeviceOut(
                village=v, id=d.id, kind=d.kind, grid=d.grid, place=place, name=d.name,
                position=d.position, last=values,
                last_seen=_dt(seen[(v, d.id)]) if (v, d.id) in seen else None, link=link,
                battery=battery.value if battery else None, open_alerts=len(severities),
                worst_severity=worst, state=state,
            )
        )  # fmt: skip
    return out


@router.get("/api/readings")
async def readings(
    request: Request,
    user: Viewer,
    device: Annotated[str, Query(max_length=64, description="Device id.")],
    village: Annotated[
        str | None, Query(max_length=64, description="Village id, if the device id is ambiguous.")
    ] = None,
    metric: Annotated[
        str | None, Query(max_length=64, description="Metric; default: the kind's first.")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Start (RFC 3339); default until - 24 h.")
    ] = None,
    until: Annotated[datetime | None, Query(description="End (RFC 3339); default now.")] = None,
    buckets: Annotated[int, Query(ge=1, le=2000, description="Number of slices.")] = 100,
) -> ReadingsOut:
    """One metric of one of the user's devices over a time range, as mean/min/max per slice."""
    ctx = context(request)
    village_id, spec = _find(ctx, user, village, device)
    allowed = metric_names(spec.kind)
    chosen = metric or allowed[0]
    if chosen not in allowed:
        raise HTTPException(
            422, f"{spec.kind} devices have no metric {chosen!r}; they have {', '.join(allowed)}"
        )
    end = until or datetime.now(tz=UTC)
    try:
        start = since or end - timedelta(hours=24)
    except OverflowError:
        raise HTTPException(422, "until is too early to go back 24 h from") from None
    since_ns, until_ns = epoch_ns(start, "since"), epoch_ns(end, "until")
    if until_ns <= since_ns:
        raise HTTPException(422, "until must be after since")
    found = await ctx.store.downsample(
        village=village_id, device=spec.id, metric=chosen,
        since_ns=since_ns, until_ns=until_ns, buckets=buckets,
    )  # fmt: skip
    return ReadingsOut(
        village=village_id,
        device=spec.id,
        metric=chosen,
        since=start,
        until=end,
        buckets=[
            BucketOut(start=_dt(b.start_ns), mean=b.mean, min=b.min, max=b.max, count=b.count)
            for b in found
        ],
    )
