"""Silences: hold back a village's notifications once or in a recurring maintenance window,
list them with their next window, end one early. An operator or maintainer acts only on the
villages that are wholly theirs; a viewer lists those they see a part of."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from villagewatch.alerts.recurrence import Recurrence, RecurrenceInvalid, parse_clock, parse_days
from villagewatch.alerts.silences import Silence
from villagewatch.api.auth import Operator, Viewer, context, now_ms, sees_place
from villagewatch.api.context import ApiContext
from villagewatch.api.schemas import RepeatIn, SilenceIn, SilenceOut
from villagewatch.api.users import User
from villagewatch.config.places import village_place

__all__ = ["router"]

router = APIRouter(tags=["alerts"])

SilenceId = Annotated[int, Path(ge=1, le=2**53, description="The silence's number.")]


def _recurrence(ctx: ApiContext, repeat: RepeatIn, duration_s: float) -> Recurrence:
    try:
        return Recurrence(
            days=parse_days(repeat.days), start=parse_clock(repeat.at),
            duration_ms=int(duration_s * 1000), zone=ctx.deployment.settings.alerts.time_zone,
            until=repeat.until,
        )  # fmt: skip
    except RecurrenceInvalid as exc:
        raise HTTPException(422, f"repeat: {exc}") from None


def _acts_on(ctx: ApiContext, user: User, village: str) -> bool:
    """Whether ``user`` may silence (or end a silence of) all of ``village``."""
    place = village_place(village)
    return sees_place(ctx, user, place) and place in ctx.places.nodes


def _lists(ctx: ApiContext, user: User, s: Silence) -> bool:
    """Whether ``user`` sees ``s``: one of a village they see a part of; one without a
    village only with no limit of place."""
    scope = ctx.places.under(user.places)
    if scope is None:
        return True
    village = s.matchers.get("village")
    return village is not None and village in ctx.places.villages_of(scope)


@router.post("/api/silences")
async def silence(request: Request, user: Operator, body: SilenceIn) -> SilenceOut:
    """Hold back notifications of a village's matching alerts: for a while from now, or in a
    window that repeats in local time (``repeat``: maintenance every Tuesday 09:00 for 2 h)."""
    ctx = context(request)
    if not _acts_on(ctx, user, body.village):
        raise HTTPException(403, f"you cannot silence village {body.village!r}: not all yours")
    matchers = {
        k: v
        for k, v in (
            ("village", body.village),
            ("detector", body.detector),
            ("subject", body.subject),
            ("kind", body.kind),
        )
        if v is not None
    }
    start = now_ms()
    if body.repeat is None:
        end = start + int(body.duration_s * 1000)
        s = await asyncio.to_thread(
            lambda: ctx.alerts.add_silence(
                matchers, start, end, created_by=user.name, reason=body.reason, now_ms=start
            ),
        )
    else:
        recurrence = _recurrence(ctx, body.repeat, body.duration_s)
        s = await asyncio.to_thread(
            lambda: ctx.alerts.add_recurring_silence(
                matchers, recurrence, created_by=user.name, reason=body.reason, now_ms=start
            ),
        )
    audited = {"matchers": matchers, "duration_s": body.duration_s, "reason": body.reason}
    if s.recurrence is not None:
        audited["repeat"] = s.recurrence.describe()
    await asyncio.to_thread(
        ctx.users.audit, user.name, "silence", village_place(body.village), audited, start
    )
    return SilenceOut.of(s, start)


@router.get("/api/silences")
async def list_silences(request: Request, user: Viewer) -> list[SilenceOut]:
    """Silences not over (in force or to come) of the villages the user sees, with each one's
    window in force or next."""
    ctx = context(request)
    now = now_ms()
    found = await asyncio.to_thread(ctx.alerts.silences, now)
    return [SilenceOut.of(s, now) for s in found if _lists(ctx, user, s)]


@router.post("/api/silences/{silence_id}/end")
async def end_silence(request: Request, user: Operator, silence_id: SilenceId) -> SilenceOut:
    """End a silence now (a recurring one: no more windows); it stays on record."""
    ctx = context(request)
    s = await asyncio.to_thread(ctx.alerts.silence, silence_id)
    if s is None or not _lists(ctx, user, s):
        raise HTTPException(404, f"no silence {silence_id}")
    village = s.matchers.get("village")
    everywhere = ctx.places.under(user.places) is None
    if not everywhere and (village is None or not _acts_on(ctx, user, village)):
        raise HTTPException(403, f"you cannot end silence {silence_id}: not all yours")
    now = now_ms()
    ended = await asyncio.to_thread(ctx.alerts.end_silence, silence_id, user.name, now)
    await asyncio.to_thread(
        ctx.users.audit, user.name, "silence_end",
        village_place(village) if village else "*", {"silence": silence_id}, now,
    )  # fmt: skip
    return SilenceOut.of(ended, now)
