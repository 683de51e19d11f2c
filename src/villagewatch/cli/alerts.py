"""``villagewatch alerts``: the alert engine, and alerts from a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from villagewatch.alerts.resolution import ResolutionReason
from villagewatch.cli.app import alerts_app
from villagewatch.cli.common import (
    ConfigOption,
    LogLevel,
    deployment_of,
    exit_on,
    fail,
    run_until_signal,
    setup_logging,
)

if TYPE_CHECKING:
    from villagewatch.alerts import Alert, SQLiteAlertStore
    from villagewatch.alerts.recurrence import Recurrence
    from villagewatch.alerts.silences import Silence


@alerts_app.command("run")
def alerts_run(config: ConfigOption, log_level: LogLevel = "info") -> None:
    """Turn detect's transitions into alerts, escalate, and send notifications until stopped."""
    from villagewatch.roles import run_alerts

    setup_logging(log_level)
    deployment = deployment_of(config, uses=("alerts",))
    run_until_signal(partial(run_alerts, deployment))


AlertId = Annotated[int, typer.Argument(help="The alert's number.")]
ByOption = Annotated[str, typer.Option("--by", help="Who does it (recorded in the audit log).")]
NoteOption = Annotated[str, typer.Option("--note", help="A note to keep with it.")]


def _alert_store(config: Path) -> SQLiteAlertStore:
    from villagewatch.alerts import SQLiteAlertStore
    from villagewatch.alerts.engine import notifier_for

    deployment = deployment_of(config, uses=())
    # with the routing: an acknowledgement from a terminal is announced like any other
    return SQLiteAlertStore(
        deployment.settings.alerts.state_path, notifier=notifier_for(deployment)
    )


def _alert_line(a: Alert) -> str:
    when = datetime.fromtimestamp(a.started_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
    flags = " (backlog)" if a.historical else ""
    return f"#{a.id:<5} {a.state.value:12} {a.severity.value:6} {when}  {a.message}{flags}"


@alerts_app.command("list")
def alerts_list(
    config: ConfigOption,
    resolved: Annotated[bool, typer.Option(help="Resolved ones too (the last 50).")] = False,
) -> None:
    """Open alerts, oldest first."""
    store = _alert_store(config)
    try:
        alerts = store.open_alerts() if not resolved else store.recent(50)
        for a in alerts:
            typer.echo(_alert_line(a))
        if not alerts:
            typer.echo("no open alerts", err=True)
    finally:
        store.close()


@alerts_app.command("show")
def alerts_show(config: ConfigOption, alert_id: AlertId) -> None:
    """One alert with its history and notes."""
    store = _alert_store(config)
    try:
        a = store.get(alert_id)
        if a is None:
            fail(f"no alert {alert_id}")
        typer.echo(_alert_line(a))
        typer.echo(f"        {a.key}; assignee {a.assignee or '-'}")
        for e in store.audit(alert_id):
            when = datetime.fromtimestamp(e.at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
            why = f" ({e.detail['reason']})" if "reason" in e.detail else ""
            typer.echo(
                f"  {when}  {e.actor:10} {e.action:18} → {e.state.value} {e.severity.value}{why}"
            )
        for n in store.notes(alert_id):
            typer.echo(f"  note by {n.author}: {n.text}")
    finally:
        store.close()


def _act(config: Path, fn: Callable[[SQLiteAlertStore, int], Alert]) -> None:
    from villagewatch.alerts import ActionRefused

    store = _alert_store(config)
    try:
        with exit_on(ActionRefused):
            typer.echo(_alert_line(fn(store, time.time_ns() // 1_000_000)))
    finally:
        store.close()


@alerts_app.command("ack")
def alerts_ack(
    config: ConfigOption, alert_id: AlertId, by: ByOption, note: NoteOption = ""
) -> None:
    """Acknowledge an alert: someone is on it."""
    _act(config, lambda s, now: s.acknowledge(alert_id, by, now, note))


@alerts_app.command("resolve")
def alerts_resolve(
    config: ConfigOption,
    alert_id: AlertId,
    by: ByOption,
    reason: Annotated[
        ResolutionReason,
        typer.Option("--reason", help="Why it is closed (counted in the monthly report)."),
    ],
    note: NoteOption = "",
) -> None:
    """Close an alert, saying why; red alerts and kinds only a person closes need --note."""
    _act(config, lambda s, now: s.resolve(alert_id, by, now, note, reason))


@alerts_app.command("report")
def alerts_report(
    config: ConfigOption,
    month: Annotated[str, typer.Option(help="YYYY-MM, in the reports' local time.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """The month's figures per place and kind: alerts, time to acknowledge and resolve."""
    import dataclasses
    import json

    from villagewatch.alerts.report import month_bounds, month_report, render

    offset = deployment_of(config, uses=()).settings.alerts.report_utc_offset_h
    with exit_on(ValueError):
        start, end = month_bounds(month, offset)
    store = _alert_store(config)
    try:
        report = month_report(store.fired_between(start, end), month, offset)
    finally:
        store.close()
    if as_json:
        figures = {**dataclasses.asdict(report), "reasons": report.reasons}
        typer.echo(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        typer.echo(render(report))


def _local(ms: int, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _silence_line(s: Silence, now_ms: int, zone: str) -> str:
    """``#3  Tuesday 09:00 for 2 h (Europe/Berlin)  next 2026-12-08 09:00 → 11:00 …``."""
    if s.recurrence is not None:
        zone = s.recurrence.zone
    what = s.recurrence.describe() if s.recurrence else "once"
    window = s.next_window(now_ms)
    if window is None:
        when = "over"
    else:
        label = "in force until" if window[0] <= now_ms else "next"
        if window[0] <= now_ms:
            when = f"{label} {_local(window[1], zone)}"
        else:
            when = f"{label} {_local(window[0], zone)} → {_local(window[1], zone)[11:]}"
    matchers = " ".join(f"{k}={v}" for k, v in s.matchers.items())
    return f"#{s.id:<4} {what}  {when}  {matchers}  by {s.created_by}: {s.reason}"


@alerts_app.command("silence")
def alerts_silence(
    config: ConfigOption,
    by: ByOption,
    reason: Annotated[str, typer.Option(help="Why (maintenance, a known fault …).")],
    hours: Annotated[
        float, typer.Option(help="How long, from now; with --every, each window.", min=0.01)
    ] = 2,
    village: Annotated[str | None, typer.Option(help="Only this village.")] = None,
    device: Annotated[
        str | None, typer.Option(help="Only this device, camera or zone (cam-1:road).")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind of alert.")] = None,
    every: Annotated[
        str | None,
        typer.Option(help="Repeat on these days (tue,thu · Tuesday · 周二) or daily; needs --at."),
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="With --every: local start time HH:MM (alerts.time_zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="With --every: the last day (YYYY-MM-DD) it repeats.")
    ] = None,
) -> None:
    """Hold back notifications (not the alerts) matching all the given filters: for a while
    from now, or in a window that repeats in local time (--every tue --at 09:00 --hours 2)."""
    from villagewatch.alerts import ActionRefused
    from villagewatch.alerts.recurrence import RecurrenceInvalid

    matchers = {k: v for k, v in {"village": village, "subject": device, "kind": kind}.items() if v}
    zone = deployment_of(config, uses=()).settings.alerts.time_zone
    with exit_on(RecurrenceInvalid):
        recurrence = _recurrence(every, at, until, hours, zone)
    now = time.time_ns() // 1_000_000
    store = _alert_store(config)
    try:
        with exit_on(ActionRefused):
            if recurrence is None:
                s = store.add_silence(
                    matchers, now, now + int(hours * 3_600_000), created_by=by, reason=reason,
                    now_ms=now,
                )  # fmt: skip
            else:
                s = store.add_recurring_silence(
                    matchers, recurrence, created_by=by, reason=reason, now_ms=now
                )
    finally:
        store.close()
    window = s.next_window(now)
    assert window is not None  # refused otherwise
    if s.recurrence is None:
        typer.echo(f"silence #{s.id} until {_local(window[1], zone)} {zone}: {s.matchers}")
    else:
        zone = s.recurrence.zone
        typer.echo(
            f"silence #{s.id} {s.recurrence.describe()}; next {_local(window[0], zone)} → "
            f"{_local(window[1], zone)}: {s.matchers}"
        )


def _recurrence(
    every: str | None, at: str | None, until: str | None, hours: float, zone: str
) -> Recurrence | None:
    from datetime import date

    from villagewatch.alerts.recurrence import (
        Recurrence,
        RecurrenceInvalid,
        parse_clock,
        parse_days,
    )

    if every is None:
        if at is not None or until is not None:
            raise RecurrenceInvalid("--at and --until go with --every (the days it repeats on)")
        return None
    if at is None:
        raise RecurrenceInvalid("--every needs --at, the local time each window starts (HH:MM)")
    try:
        last = date.fromisoformat(until) if until is not None else None
    except ValueError:
        raise RecurrenceInvalid(f"--until {until!r} is not a day YYYY-MM-DD") from None
    return Recurrence(
        days=parse_days(every), start=parse_clock(at), duration_ms=int(hours * 3_600_000),
        zone=zone, until=last,
    )  # fmt: skip


@alerts_app.command("silences")
def alerts_silences(config: ConfigOption) -> None:
    """Silences not over, with the window in force or the next one (local time)."""
    zone = deployment_of(config, uses=()).settings.alerts.time_zone
    now = time.time_ns() // 1_000_000
    store = _alert_store(config)
    try:
        found = store.silences(now)
    finally:
        store.close()
    for s in found:
        typer.echo(_silence_line(s, now, zone))
    if not found:
        typer.echo("no silences", err=True)


@alerts_app.command("end-silence")
def alerts_end_silence(
    config: ConfigOption,
    silence_id: Annotated[int, typer.Argument(help="The silence's number.")],
    by: ByOption,
) -> None:
    """End a silence now (a recurring one: no more windows); it stays on record."""
    from villagewatch.alerts import ActionRefused

    zone = deployment_of(config, uses=()).settings.alerts.time_zone
    now = time.time_ns() // 1_000_000
    store = _alert_store(config)
    try:
        with exit_on(ActionRefused):
            s = store.end_silence(silence_id, by, now)
    finally:
        store.close()
    typer.echo(_silence_line(s, now, zone))
