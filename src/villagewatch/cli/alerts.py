"""``villagewatch alerts``: the alert engine, and alerts from a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

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
            typer.echo(f"  {when}  {e.actor:10} {e.action:18} → {e.state.value} {e.severity.value}")
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
    config: ConfigOption, alert_id: AlertId, by: ByOption, note: NoteOption = ""
) -> None:
    """Close an alert."""
    _act(config, lambda s, now: s.resolve(alert_id, by, now, note))


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
        typer.echo(json.dumps(dataclasses.asdict(report), ensure_ascii=False, indent=2))
    else:
        typer.echo(render(report))


@alerts_app.command("silence")
def alerts_silence(
    config: ConfigOption,
    by: ByOption,
    reason: Annotated[str, typer.Option(help="Why (maintenance, a known fault …).")],
    hours: Annotated[float, typer.Option(help="How long, from now.", min=0.01)] = 2,
    village: Annotated[str | None, typer.Option(help="Only this village.")] = None,
    device: Annotated[str | None, typer.Option(help="Only this device (or camera).")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind of alert.")] = None,
) -> None:
    """Hold back notifications (not the alerts) matching all the given filters for a while."""
    from villagewatch.alerts import ActionRefused

    matchers = {k: v for k, v in {"village": village, "subject": device, "kind": kind}.items() if v}
    now = time.time_ns() // 1_000_000
    store = _alert_store(config)
    try:
        with exit_on(ActionRefused):
            s = store.add_silence(
                matchers,
                now,
                now + int(hours * 3_600_000),
                created_by=by,
                reason=reason,
                now_ms=now,
            )
    finally:
        store.close()
    until = datetime.fromtimestamp(s.ends_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    typer.echo(f"silence #{s.id} until {until}: {s.matchers}")
