"""The command-centre wall's figures: open alerts in brief, today's counts and median time
to acknowledge, alarms per hour (24 h) and per day (30 days), and the villages for the town
view. One call when the wall opens and after the live feed's changes settle; the tiles count
the open alerts themselves as the live feed changes them."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from pydantic import Field

from villagewatch.alerts.lifecycle import AlertState
from villagewatch.alerts.overview import Overview, TrendBucket
from villagewatch.api.auth import Viewer, context, now_ms
from villagewatch.api.context import ApiContext
from villagewatch.api.routes.alerts import place_scope
from villagewatch.api.schemas import Reply, at
from villagewatch.config.places import village_place
from villagewatch.transitions import Severity

__all__ = ["WallOut", "day_edges", "hour_edges", "router"]

router = APIRouter(tags=["wall"])

HOURS = 24
DAYS = 30


class OpenOut(Reply):
    """An open alert, as much as a tile needs to count it."""

    id: int
    village: str
    place: str
    kind: str
    severity: Severity
    state: AlertState
    updated: datetime


class TodayOut(Reply):
    """Alarms that fired today (the deployment's local day)."""

    fired: int
    acknowledged: int = Field(description="Of those, acknowledged by someone.")
    resolved: int = Field(description="Of those, resolved.")
    ack_median_s: float | None = Field(
        description="Median seconds from firing to acknowledgement (None: none acknowledged)."
    )


class VillageOut(Reply):
    """A village the user sees (for the town view)."""

    id: str
    name: str
    town: str = Field(description="Its town's place id.")
    town_name: str
    fired_today: int


class TrendOut(Reply):
    """Alarms that fired in [start, end), by severity."""

    start: datetime
    end: datetime
    counts: dict[Severity, int]


class WallOut(Reply):
    """What the wall shows besides the feed and the plan."""

    as_of: datetime
    time_zone: str = Field(description="The deployment's (alerts.time_zone): days and hours.")
    day_start: datetime = Field(description="Midnight today, local time.")
    open: list[OpenOut] = Field(description="Every open alert in the user's places, oldest first.")
    today: TodayOut
    villages: list[VillageOut]
    hourly: list[TrendOut] = Field(description=f"The last {HOURS} hours, oldest first.")
    daily: list[TrendOut] = Field(description=f"The last {DAYS} days, oldest first.")


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def day_edges(now: datetime, days: int = DAYS) -> list[int]:
    """Local midnights from ``days - 1`` days ago to now's next one (``days + 1`` edges, ms);
    walked in wall-clock days, so a summer-time change makes a 23 or 25 hour day."""
    tz = now.tzinfo
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for back in range(days - 1, -2, -1):
        d = (today - timedelta(days=back)).replace(tzinfo=None)
        out.append(_ms(datetime(d.year, d.month, d.day, tzinfo=tz)))
    return out


def hour_edges(now_ms: int, hours: int = HOURS) -> list[int]:
    """Whole hours (UTC, which is local except in zones off by a half hour) from ``hours - 1``
    hours ago to the next one (``hours + 1`` edges, ms)."""
    top = now_ms - now_ms % 3_600_000 + 3_600_000
    return [top - i * 3_600_000 for i in range(hours, -1, -1)]


def _trend(buckets: list[TrendBucket]) -> list[TrendOut]:
    return [
        TrendOut(
            start=at(b.start_ms),
            end=at(b.end_ms),
            counts={s: b.by_severity.get(s.value, 0) for s in Severity},
        )
        for b in buckets
    ]


def _villages(
    ctx: ApiContext, scope: frozenset[str] | None, fired: dict[str, int]
) -> list[VillageOut]:
    out = []
    for vid in sorted(ctx.places.villages_of(scope)):
        node = ctx.places.nodes.get(village_place(vid))
        if node is None:
            continue
        town = ctx.places.nodes.get(node.parent) if node.parent else None
        out.append(
            VillageOut(
                id=vid,
                name=node.name,
                town=node.parent or "",
                town_name=town.name if town else "",
                fired_today=fired.get(vid, 0),
            )
        )
    return out


@router.get("/api/wall")
async def wall(
    request: Request,
    user: Viewer,
    place: Annotated[
        str | None,
        Query(max_length=200, description="Only in or under this place, e.g. village:dongcun."),
    ] = None,
) -> WallOut:
    """The wall's figures for the user's places (or the part of them under ``place``)."""
    ctx = context(request)
    scope = place_scope(ctx, user, place)
    zone = ctx.deployment.settings.alerts.time_zone
    now = now_ms()
    local_now = at(now).astimezone(ZoneInfo(zone))
    days = day_edges(local_now)
    found: Overview = await asyncio.to_thread(
        lambda: ctx.alerts.overview(
            places=None if scope is None else sorted(scope), day=(days[-2], now + 1),
            hour_edges=hour_edges(now), day_edges=days,
        )
    )  # fmt: skip
    return WallOut(
        as_of=at(now), time_zone=zone, day_start=at(days[-2]),
        open=[
            OpenOut(
                id=a.id, village=a.village, place=a.place, kind=a.kind,
                severity=Severity(a.severity), state=AlertState(a.state), updated=at(a.updated_ms),
            )
            for a in found.open
        ],
        today=TodayOut(
            fired=found.today.fired, acknowledged=found.today.acknowledged,
            resolved=found.today.resolved, ack_median_s=found.today.ack_median_s,
        ),
        villages=_villages(ctx, scope, found.today.fired_by_village),
        hourly=_trend(found.hourly), daily=_trend(found.daily),
    )  # fmt: skip
