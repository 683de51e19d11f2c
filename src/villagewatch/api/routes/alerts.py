"""Alerts: the list with filters, one alert in full, people's actions, the live feed."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from villagewatch.alerts.lifecycle import Alert, AlertState
from villagewatch.alerts.resolution import ResolutionIncomplete
from villagewatch.api.alertchart import chart_metric, families_of
from villagewatch.api.auth import Operator, Viewer, context, now_ms, sees_place
from villagewatch.api.context import ApiContext
from villagewatch.api.live import FeedChange
from villagewatch.api.schemas import (
    AlertAuditOut,
    AlertDetail,
    AlertOut,
    AssignIn,
    ChartHint,
    CommentIn,
    NoteIn,
    NoteOut,
    ResolveIn,
    epoch_ns,
)
from villagewatch.api.users import User
from villagewatch.transitions import Severity

__all__ = ["router"]

router = APIRouter(tags=["alerts"])


_KEEPALIVE_S = 15
_MAX_ID = 2**53  # what JavaScript counts exactly, far below SQLite's limit

AlertId = Annotated[int, Path(ge=1, le=_MAX_ID, description="The alert's number.")]


def _ms(value: datetime | None, name: str) -> int | None:
    return None if value is None else epoch_ns(value, name) // 1_000_000


def _out(ctx: ApiContext, a: Alert) -> AlertOut:
    node = ctx.places.nodes.get(a.place)
    return AlertOut.of(a, node.name if node else a.place)


def place_scope(ctx: ApiContext, user: User, place: str | None) -> frozenset[str] | None:
    """The places a user asks about: theirs, or those of them in or under ``place`` (None: all
    places); 422 for a place the deployment does not know."""
    scope = ctx.places.under(user.places)
    if place is None:
        return scope
    if not ctx.places.known(place):
        raise HTTPException(422, f"no place {place!r}; places look like village:<id>")
    wanted = ctx.places.under([place])
    return wanted if scope is None else (scope & wanted if wanted is not None else scope)


def visible_alert(ctx: ApiContext, user: User, alert_id: AlertId) -> Alert:
    """The alert if the user sees its place; 404 otherwise (one not seen is one not there)."""
    alert = ctx.alerts.get(alert_id)
    if alert is None or not sees_place(ctx, user, alert.place):
        raise HTTPException(404, f"no alert {alert_id}")
    return alert


@router.get("/api/alerts")
async def list_alerts(
    request: Request,
    user: Viewer,
    state: Annotated[list[AlertState], Query(description="Any of these states.")] = [],  # noqa: B006 - FastAPI copies defaults
    severity: Annotated[list[Severity], Query(description="Any of these severities.")] = [],  # noqa: B006
    place: Annotated[
        str | None,
        Query(max_length=200, description="In or under this place, e.g. village:dongcun."),
    ] = None,
    kind: Annotated[list[str], Query(description="Any of these kinds, e.g. level.")] = [],  # noqa: B006
    since: Annotated[datetime | None, Query(description="Opened at or after (RFC 3339).")] = None,
    until: Annotated[datetime | None, Query(description="Opened before (RFC 3339).")] = None,
    before_id: Annotated[
        int | None, Query(ge=1, le=_MAX_ID, description="Page back: ids below this.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many.")] = 100,
) -> list[AlertOut]:
    """Alerts of the user's places, newest first, filtered by every parameter given."""
    ctx = context(request)
    scope = place_scope(ctx, user, place)
    found = await asyncio.to_thread(
        lambda: ctx.alerts.search(
            states=[s.value for s in state], severities=[s.value for s in severity],
            places=None if scope is None else sorted(scope), kinds=kind,
            since_ms=_ms(since, "since"), until_ms=_ms(until, "until"), before_id=before_id,
            limit=limit,
        ),
    )  # fmt: skip
    return [_out(ctx, a) for a in found]


@router.get("/api/alerts/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    user: Viewer,
    last_event_id: Annotated[
        str | None, Header(description="Resume after this event (sent by EventSource).")
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: ``alert`` with an alert (JSON) each time one of the user's alerts
    changes, ``reload`` when the feed cannot say what was missed; a comment every 15 s."""
    ctx = context(request)
    # an audit id, as this API sent it; anything else (a header from elsewhere) is ignored
    digits = re.fullmatch(r"[0-9]{1,16}", last_event_id or "")
    after = int(digits[0]) if digits and int(digits[0]) <= _MAX_ID else None

    def frame(change: FeedChange) -> str | None:
        if change.alert is None:
            return f"id: {change.id}\nevent: reload\ndata: {{}}\n\n"
        if not sees_place(ctx, user, change.alert.place):
            return None
        try:
            data = _out(ctx, change.alert).model_dump_json()
        except Exception as exc:  # noqa: BLE001 - this alert only: the stream goes on
            ctx.feed.skipped(exc, change.alert.id)
            return None
        return f"id: {change.id}\nevent: alert\ndata: {data}\n\n"

    async def events() -> AsyncIterator[str]:
        async with ctx.feed.subscribe() as queue:
            start = ctx.feed.position
            yield f"id: {start}\nevent: hello\ndata: {json.dumps({'position': start})}\n\n"
            if after is not None:
                missed, complete = await asyncio.to_thread(ctx.feed.replay, after)
                for change in missed:
                    if change.id <= start and (text := frame(change)):
                        yield text
                if not complete:
                    yield f"id: {start}\nevent: reload\ndata: {{}}\n\n"
            while True:
                try:
                    got = await asyncio.wait_for(queue.get(), timeout=_KEEPALIVE_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keepalive\n\n"
                    continue
                if got is None:  # the API is stopping
                    return
                text = frame(got)
                if text:
                    yield text
                if got.alert is None:
                    return

    return StreamingResponse(
        events(), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )  # fmt: skip


@router.get("/api/alerts/{alert_id}")
async def alert_detail(request: Request, user: Viewer, alert_id: AlertId) -> AlertDetail:
    """One alert with its history, notes and notifications, and the series to chart."""
    ctx = context(request)
    alert = await asyncio.to_thread(visible_alert, ctx, user, alert_id)
    audit = await asyncio.to_thread(ctx.alerts.audit, alert_id)
    notes = await asyncio.to_thread(ctx.alerts.notes, alert_id)
    sent = await asyncio.to_thread(ctx.alerts.notifications, alert_id)
    device = alert.subject.split(":", 1)[0]
    spec = ctx.devices.get((alert.village, device))
    village = next((v for v in ctx.deployment.villages if v.id == alert.village), None)
    families = families_of(village, spec) if spec is not None else {}
    charted = chart_metric(alert, spec, families)
    chart = ChartHint(village=alert.village, device=device, metric=charted[0]) if charted else None
    return AlertDetail(
        alert=_out(ctx, alert),
        audit=[AlertAuditOut.of(e) for e in audit],
        notes=[NoteOut.of(n) for n in notes],
        notifications=[
            {
                "channel": n.get("channel"),
                "place": n.get("place"),
                "state": n.get("state"),
                "attempts": n.get("attempts"),
                "error": n.get("error"),
            }
            for n in sent
        ],
        chart=chart,
    )


@router.get(
    "/api/alerts/{alert_id}/evidence",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def evidence(request: Request, user: Viewer, alert_id: AlertId) -> Response:
    """The evidence picture a camera sent with the alert (JPEG, privacy masks applied)."""
    ctx = context(request)
    alert = await asyncio.to_thread(visible_alert, ctx, user, alert_id)
    evidence_id = alert.details.get("evidence")
    if not isinstance(evidence_id, str):
        raise HTTPException(404, f"alert {alert_id} has no evidence picture")
    device = alert.subject.split(":", 1)[0]
    body = await asyncio.to_thread(ctx.evidence.picture, alert.village, device, evidence_id)
    if body is None:
        raise HTTPException(
            404, f"the picture {evidence_id[:64]} has not arrived (yet) from {device}"
        )
    return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private"})


async def _act(
    request: Request, user: User, alert_id: int, action: str, fn: Callable[[ApiContext], Any]
) -> Any:
    """Check that the user sees the alert, act, audit the action; in one worker thread (the
    stores are SQLite files)."""
    ctx = context(request)

    def run() -> Any:
        visible_alert(ctx, user, alert_id)
        result = fn(ctx)
        ctx.users.audit(user.name, action, f"alert:{alert_id}", {}, now_ms())
        return result

    return await asyncio.to_thread(run)


@router.post("/api/alerts/{alert_id}/acknowledge")
async def acknowledge(
    request: Request, user: Operator, alert_id: AlertId, body: NoteIn
) -> AlertOut:
    """I have seen it and am on it; a second acknowledgement changes nothing."""
    a = await _act(
        request, user, alert_id, "acknowledge",
        lambda ctx: ctx.alerts.acknowledge(alert_id, user.name, now_ms(), body.note),
    )  # fmt: skip
    return _out(context(request), a)


@router.post("/api/alerts/{alert_id}/assign")
async def assign(request: Request, user: Operator, alert_id: AlertId, body: AssignIn) -> AlertOut:
    """Give it to someone (or to nobody)."""
    a = await _act(
        request, user, alert_id, "assign",
        lambda ctx: ctx.alerts.assign(alert_id, user.name, body.assignee, now_ms()),
    )  # fmt: skip
    return _out(context(request), a)


@router.post("/api/alerts/{alert_id}/comment")
async def comment(request: Request, user: Operator, alert_id: AlertId, body: CommentIn) -> NoteOut:
    """Add a note."""
    n = await _act(
        request, user, alert_id, "comment",
        lambda ctx: ctx.alerts.comment(alert_id, user.name, body.text, now_ms()),
    )  # fmt: skip
    return NoteOut.of(n)


@router.post(
    "/api/alerts/{alert_id}/resolve",
    responses={422: {"description": "The reason, or a note the alert needs, is missing."}},
)
async def resolve(request: Request, user: Operator, alert_id: AlertId, body: ResolveIn) -> AlertOut:
    """Close it: why (a reason from the list) and what was done (a note; needed for red
    alerts, for kinds only a person closes, and for the reason "other")."""
    try:
        a = await _act(
            request, user, alert_id, "resolve",
            lambda ctx: ctx.alerts.resolve(
                alert_id, user.name, now_ms(), body.note, body.reason
            ),
        )  # fmt: skip
    except ResolutionIncomplete as exc:
        raise HTTPException(422, str(exc)) from exc
    return _out(context(request), a)
