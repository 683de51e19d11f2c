"""What the console shows beside an alert: its chart (the series over the alert's own span,
the detector's levels, the reading that fired, the value now) and a camera alert's picture
with the detection's box and zone. Built in :mod:`villagewatch.api.alertchart`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request

from villagewatch.alerts.lifecycle import Alert
from villagewatch.api.alertchart import (
    ChartOut,
    PictureOut,
    PointOut,
    chart_metric,
    chart_span,
    detector_levels,
    ended_ms,
    families_of,
    picture_box,
    picture_zone,
)
from villagewatch.api.auth import Viewer, context, now_ms
from villagewatch.api.context import ApiContext
from villagewatch.api.routes.alerts import AlertId, visible_alert
from villagewatch.api.schemas import at
from villagewatch.contract import DeviceKind
from villagewatch.store import Store
from villagewatch.versions.cameras import ZonesUnreadable, current_zones

__all__ = ["router"]

router = APIRouter(tags=["alerts"])

_SLICES = 240
"""Slices of the span: fine enough to zoom into an hour of a day."""
_NEAR_MS = 1000
"""The reading that fired is looked for this close to the alert's start."""


def _device(alert: Alert) -> str:
    return alert.subject.split(":", 1)[0]


async def _reading_near(store: Store, alert: Alert, metric: str, when_ms: int) -> PointOut | None:
    found = await store.history(
        since_ns=(when_ms - _NEAR_MS) * 1_000_000, until_ns=(when_ms + _NEAR_MS + 1) * 1_000_000,
        village=alert.village, device=_device(alert),
    )  # fmt: skip
    near = [r for r in found.readings if metric in r.values]
    if not near:
        return None
    r = min(near, key=lambda r: abs(r.time_ns // 1_000_000 - when_ms))
    return PointOut(at=at(r.time_ns // 1_000_000), value=r.values[metric])


@router.get("/api/alerts/{alert_id}/chart")
async def alert_chart(request: Request, user: Viewer, alert_id: AlertId) -> ChartOut:
    """The series to draw around the alert over its own span (as long before it as it lasted,
    30 min to 24 h, to its clear or now), the detector's levels for the device as configured
    now, the reading that fired it and the newest value. 404 for an alert with no series (a
    camera's, an SOS button's, a lock's: see its picture and place)."""
    ctx = context(request)
    alert = await asyncio.to_thread(visible_alert, ctx, user, alert_id)
    device = _device(alert)
    spec = ctx.devices.get((alert.village, device))
    village = next((v for v in ctx.deployment.villages if v.id == alert.village), None)
    families = families_of(village, spec) if spec is not None else {}
    charted = chart_metric(alert, spec, families)
    if charted is None:
        raise HTTPException(
            404, f"alert {alert_id} ({alert.detector} {alert.kind}) has no series to chart"
        )
    metric, own = charted
    audit = await asyncio.to_thread(ctx.alerts.audit, alert_id)
    ended = ended_ms(alert, audit)
    since, until = chart_span(alert.started_ms, ended, now_ms())
    buckets = await ctx.store.downsample(
        village=alert.village, device=device, metric=metric,
        since_ns=since * 1_000_000, until_ns=until * 1_000_000, buckets=_SLICES,
    )  # fmt: skip
    fired = await _reading_near(ctx.store, alert, metric, alert.started_ms) if own else None
    if (
        own
        and fired is None
        and not any(e.action in ("updated", "severity_changed") for e in audit)
    ):
        value = alert.details.get("value")  # the alert still holds the firing reading's details
        if isinstance(value, int | float) and not isinstance(value, bool):
            fired = PointOut(at=at(alert.started_ms), value=float(value))
    last = await ctx.store.last_values(village=alert.village, device=device)
    newest = next((lv for lv in last if lv.metric == metric and not lv.lot), None)
    current = PointOut(at=at(newest.time_ns // 1_000_000), value=newest.value) if newest else None
    return ChartOut(
        village=alert.village, device=device, metric=metric, own=own,
        since=at(since), until=at(until),
        started=at(alert.started_ms), ended=at(ended) if ended is not None else None,
        levels=detector_levels(alert, metric, families), fired=fired,
        current=current, slices=_SLICES,
        buckets=[
            {"start": at(b.start_ns // 1_000_000), "mean": b.mean, "min": b.min, "max": b.max,
             "count": b.count}
            for b in buckets
        ],
    )  # fmt: skip


def _zones(ctx: ApiContext, alert: Alert) -> PictureOut:
    device = _device(alert)
    spec = ctx.devices.get((alert.village, device))
    zone = None
    if spec is not None and spec.kind is DeviceKind.CAMERA:
        try:
            zones, _ = current_zones(ctx.versions, alert.village, device)
        except ZonesUnreadable:
            zones = None  # the picture is still worth showing without its zone
        zone = picture_zone(alert.details, zones) if zones is not None else None
    detection = alert.kind if alert.detector == "camera" else None
    return PictureOut(
        url=f"/api/alerts/{alert.id}/evidence", taken=at(alert.started_ms),
        box=picture_box(alert.details), zone=zone, detection=detection,
    )  # fmt: skip


@router.get("/api/alerts/{alert_id}/picture")
async def alert_picture(request: Request, user: Viewer, alert_id: AlertId) -> PictureOut:
    """A camera alert's picture: where to fetch it, when it was taken, the detection's box
    (from the event) and its zone (from the camera's zones as configured now). 404 for an
    alert without a picture."""
    ctx = context(request)
    alert = await asyncio.to_thread(visible_alert, ctx, user, alert_id)
    if not isinstance(alert.details.get("evidence"), str):
        raise HTTPException(404, f"alert {alert_id} has no evidence picture")
    return await asyncio.to_thread(_zones, ctx, alert)
