"""The monthly assessment: per place and kind, how many alerts, how fast acknowledged and
resolved, how many escalated, why closed; per day — in the deployment's time zone
(``alerts.time_zone``), as JSON for the console's charts and as CSV for a spreadsheet. Only
the alerts of the places the user sees are counted."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import Field

from villagewatch.alerts.report import MonthReport, month_bounds, month_report, to_csv
from villagewatch.api.auth import Viewer, context, sees_place
from villagewatch.api.schemas import Reply
from villagewatch.api.users import User

__all__ = ["router"]

router = APIRouter(tags=["alerts"])

Month = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{4}-[0-9]{2}$",
        description="YYYY-MM in the deployment's time zone; default: this month.",
    ),
]


class ReportRow(Reply):
    """One place, one kind, one month."""

    place: str
    kind: str
    alerts: int = Field(description="Alerts that fired in the month.")
    acknowledged: int
    resolved: int
    escalated: int = Field(description="Alerts escalated at least one level.")
    ack_median_s: float | None = Field(description="From firing to acknowledged, median.")
    ack_p90_s: float | None
    resolve_median_s: float | None = Field(description="From firing to resolved, median.")
    resolve_p90_s: float | None
    reasons: dict[str, int] = Field(
        default_factory=dict, description="Resolved alerts by resolution reason."
    )


class ReportOut(Reply):
    """The month's figures."""

    month: str
    zone: str = Field(description="The IANA time zone of the month's and days' boundaries.")
    rows: list[ReportRow]
    per_day: dict[str, dict[str, int]] = Field(
        description="Local date → place → alerts fired that day."
    )


async def _report(request: Request, user: User, month: str | None) -> MonthReport:
    ctx = context(request)
    zone = ctx.deployment.settings.alerts.time_zone
    chosen = month or datetime.now(tz=ZoneInfo(zone)).strftime("%Y-%m")
    try:
        start, end = month_bounds(chosen, zone)
    except ValueError as exc:
        raise HTTPException(422, f"month: {exc}") from None
    fired = await asyncio.to_thread(ctx.alerts.fired_between, start, end)
    seen = [a for a in fired if sees_place(ctx, user, a.place)]
    return month_report(seen, chosen, zone)


@router.get("/api/reports/month")
async def month(request: Request, user: Viewer, month: Month = None) -> ReportOut:
    """The month's figures per place and kind and per day, of the user's places."""
    report = await _report(request, user, month)
    return ReportOut(
        month=report.month,
        zone=report.zone,
        rows=[ReportRow.model_validate(dataclasses.asdict(r)) for r in report.rows],
        per_day=report.per_day,
    )


@router.get(
    "/api/reports/month.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The month as CSV."}},
)
async def month_csv(request: Request, user: Viewer, month: Month = None) -> Response:
    """The month's figures as CSV (a header row, one row per place and kind, durations in
    minutes), to download."""
    report = await _report(request, user, month)
    return Response(
        to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="villagewatch-{report.month}.csv"',
            "Cache-Control": "no-store",
        },
    )
