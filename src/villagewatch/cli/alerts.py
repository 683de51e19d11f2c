"""``villagewatch alerts``: the alert engine, and alerts from a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from villagewatch.alerts.resolution import ResolutionReason
from villagewatch.catalogue import Locale, alert_text, kind_name
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
    from villagewatch.alerts import Alert, AlertDatabase
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


def _alert_store(config: Path) -> AlertDatabase:
    from villagewatch.alerts import AlertDatabase
    from villagewatch.alerts.engine import notifier_for
    from villagewatch.db import configured
    from villagewatch.db.database import describe_location, peek_version
    from villagewatch.errors import VillagewatchError

    deployment = deployment_of(config, uses=())
    settings = deployment.settings
    location = configured.alerts_location(settings)
    with exit_on(VillagewatchError):
        found = peek_version(location)
    if found == 0 and not (isinstance(location, Path) and location.exists()):
        # opening would create an empty store, and "no open alerts" would then be a lie
        fail(
            f"no alert store at {describe_location(location)} (alerts.state_path or "
            f"relational of {config}): the alert engine has not run with these settings. The "
            "demo keeps its store in the folder it prints as 'database' (villagewatch demo "
            "--data DIR, then -c DIR/villagewatch.yaml)"
        )
    # with the routing: an acknowledgement from a terminal is announced like any other
    with exit_on(VillagewatchError):
        return AlertDatabase(
            location,
            notifier=notifier_for(deployment),
            busy_timeout_s=configured.busy_timeout_s(settings),
        )


class Lang(StrEnum):
    """The languages alert texts are shown in."""

    ZH = "zh"
    EN = "en"


LangOption = Annotated[
    Lang | None,
    typer.Option("--lang", help="Language of alert texts and kinds; default: alerts.locale."),
]


@dataclass(frozen=True, slots=True)
class _Reader:
    """Who reads the terminal: their language, the villages' names and the local time zone
    (alerts.time_zone) the times are printed in."""

    locale: Locale
    places: dict[str, str]
    zone: str

    def zone_line(self) -> str:
        """The line that names the zone of the times below it."""
        return f"times in {self.zone}"


def _reader(config: Path, lang: Lang | None) -> _Reader:
    deployment = deployment_of(config, uses=())
    alerts = deployment.settings.alerts
    locale: Locale = "en" if (lang or alerts.locale) == "en" else "zh"
    return _Reader(locale, {v.id: v.name for v in deployment.villages}, alerts.time_zone)


def _alert_line(a: Alert, reader: _Reader) -> str:
    when = _local(a.started_ms, reader.zone)
    flags = " (backlog)" if a.historical else ""
    text = alert_text(a.message_key, a.params, a.message, reader.locale, places=reader.places)
    return f"#{a.id:<5} {a.state.value:12} {a.severity.value:6} {when}  {text}{flags}"


@alerts_app.command("list")
def alerts_list(
    config: ConfigOption,
    resolved: Annotated[bool, typer.Option(help="Resolved ones too (the last 50).")] = False,
    lang: LangOption = None,
) -> None:
    """Open alerts, oldest first."""
    reader = _reader(config, lang)
    store = _alert_store(config)
    try:
        alerts = store.open_alerts() if not resolved else store.recent(50)
        if alerts:
            typer.echo(reader.zone_line())
        for a in alerts:
            typer.echo(_alert_line(a, reader))
        if not alerts:
            typer.echo("no open alerts", err=True)
    finally:
        store.close()


@alerts_app.command("show")
def alerts_show(config: ConfigOption, alert_id: AlertId, lang: LangOption = None) -> None:
    """One alert with its history and notes."""
    reader = _reader(config, lang)
    store = _alert_store(config)
    try:
        a = store.get(alert_id)
        if a is None:
            fail(f"no alert {alert_id}")
        typer.echo(reader.zone_line())
        typer.echo(_alert_line(a, reader))
        kind = kind_name(a.kind, reader.locale)
        typer.echo(f"        {kind} · {a.key}; assignee {a.assignee or '-'}")
        for e in store.audit(alert_id):
            when = _local(e.at_ms, reader.zone, seconds=True)
            why = f" ({e.detail['reason']})" if "reason" in e.detail else ""
            typer.echo(
                f"  {when}  {e.actor:10} {e.action:18} → {e.state.value} {e.severity.value}{why}"
            )
        for n in store.notes(alert_id):
            typer.echo(f"  note by {n.author}: {n.text}")
    finally:
        store.close()


def _act(config: Path, fn: Callable[[AlertDatabase, int], Alert]) -> None:
    from villagewatch.alerts import ActionRefused

    reader = _reader(config, None)
    store = _alert_store(config)
    try:
        with exit_on(ActionRefused):
            done = fn(store, time.time_ns() // 1_000_000)
        typer.echo(reader.zone_line())
        typer.echo(_alert_line(done, reader))
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
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table.")] = False,
    lang: LangOption = None,
) -> None:
    """The month's figures per place and kind: alerts, time to acknowledge and resolve; months
    and days in alerts.time_zone."""
    import dataclasses
    import json

    from villagewatch.alerts.report import month_bounds, month_report, render, to_csv

    if as_json and as_csv:
        fail("give --json or --csv, not both", code=2)
    zone = deployment_of(config, uses=()).settings.alerts.time_zone
    with exit_on(ValueError):
        start, end = month_bounds(month, zone)
    store = _alert_store(config)
    try:
        report = month_report(store.fired_between(start, end), month, zone)
    finally:
        store.close()
    if as_json:
        figures = {**dataclasses.asdict(report), "reasons": report.reasons}
        typer.echo(json.dumps(figures, ensure_ascii=False, indent=2))
    elif as_csv:
        typer.echo(to_csv(report), nl=False)
    else:
        typer.echo(render(report, _reader(config, lang).locale))


def _local(ms: int, zone: str, *, seconds: bool = False) -> str:
    """``ms`` as wall-clock time in ``zone`` (the caller names the zone once)."""
    from zoneinfo import ZoneInfo

    shape = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(zone)).strftime(shape)


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
