"""Closing an alert by hand: a reason from the list always, a note for red alerts, for kinds
only a person closes and for the reason "other"; both kept with who and when, and counted in
the monthly report."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from villagewatch.alerts import AlertDatabase, AlertPolicy
from villagewatch.alerts.database.schema import MIGRATIONS
from villagewatch.alerts.report import month_report, render
from villagewatch.alerts.resolution import ResolutionIncomplete, ResolutionReason
from villagewatch.db.database import Location
from villagewatch.transitions import AlertKey, Severity, Transition

NOW = 1_795_000_000_000  # 2026-11-18 in China
R = ResolutionReason


@pytest.fixture
def store(relational: Callable[[str], Location]) -> Iterator[AlertDatabase]:
    s = AlertDatabase(relational("alerts"))
    yield s
    s.close()


def _fire(
    store: AlertDatabase,
    severity: str,
    *,
    needs_close: bool = False,
    policy: AlertPolicy | None = None,
    subject: str = "sos-1",
) -> int:
    t = Transition(
        AlertKey("call_button", "v", subject, "sos"), "fire", Severity(severity), NOW, "sos",
        needs_close=needs_close,
    )  # fmt: skip
    alert = store.apply(t, f"fire-{subject}", policy or AlertPolicy(), NOW)
    assert alert is not None
    return alert.id


@pytest.mark.parametrize(
    ("severity", "needs_close", "policy", "note", "reason", "says"),
    [
        pytest.param("red", False, None, "", R.FALSE_ALARM, "a note saying what was done (it is red)", id="red-without-note"),
        pytest.param("red", False, None, "  ", R.HANDLED_ON_SITE, "a note", id="red-blank-note"),
        pytest.param("orange", True, None, "", R.HANDLED_ON_SITE, "only a person closes it", id="hand-closed-without-note"),
        pytest.param("yellow", False, AlertPolicy(close_by_hand=True), "", R.DUPLICATE, "only a person closes it", id="configured-close-by-hand-without-note"),
        pytest.param("yellow", False, None, "", R.OTHER, "the reason is 'other'", id="other-without-note"),
        pytest.param("yellow", False, None, "fixed", None, "a reason (one of handled_on_site, false_alarm", id="no-reason"),
        pytest.param("red", False, None, "", None, "needs a reason (one of handled_on_site, false_alarm, duplicate, device_fault, test, other) and a note", id="red-neither"),
    ],
)  # fmt: skip
def test_an_incomplete_close_is_refused_naming_what_is_missing_and_leaves_no_trace(
    store: AlertDatabase,
    severity: str,
    needs_close: bool,
    policy: AlertPolicy | None,
    note: str,
    reason: ResolutionReason | None,
    says: str,
) -> None:
    aid = _fire(store, severity, needs_close=needs_close, policy=policy)
    before = (store.audit(aid), store.notes(aid), store.get(aid))
    with pytest.raises(ResolutionIncomplete, match=f"alert {aid} needs .*") as refused:
        store.resolve(aid, "wang", NOW + 1000, note, reason)
    assert says in str(refused.value)
    assert (store.audit(aid), store.notes(aid), store.get(aid)) == before


@pytest.mark.parametrize(
    ("severity", "needs_close", "note", "reason"),
    [
        pytest.param("yellow", False, "", R.DUPLICATE, id="yellow-reason-only"),
        pytest.param("orange", False, "", R.DEVICE_FAULT, id="orange-reason-only"),
        pytest.param("red", False, "family on site, pressed by mistake", R.FALSE_ALARM, id="red-with-note"),
        pytest.param("orange", True, "door shut", R.HANDLED_ON_SITE, id="hand-closed-with-note"),
    ],
)  # fmt: skip
def test_a_complete_close_keeps_reason_note_who_and_when(
    store: AlertDatabase,
    severity: str,
    needs_close: bool,
    note: str,
    reason: ResolutionReason,
) -> None:
    aid = _fire(store, severity, needs_close=needs_close)
    done = store.resolve(aid, "wang", NOW + 1000, note, reason)
    assert (done.state.value, done.resolved_by, done.resolved_ms, done.resolution) == (
        "resolved", "wang", NOW + 1000, reason.value,
    )  # fmt: skip
    assert store.get(aid) == done
    last = store.audit(aid)[-1]
    assert (last.action, last.actor, last.at_ms) == ("resolved", "wang", NOW + 1000)
    assert last.detail == (
        {"reason": reason.value, "note": note} if note else {"reason": reason.value}
    )
    assert [n.text for n in store.notes(aid)] == ([note] if note else [])


def test_a_clear_resolves_without_a_reason_and_the_report_counts_it_as_auto(
    store: AlertDatabase,
) -> None:
    """The system's close needs nothing; the month's figures count each reason."""
    auto = _fire(store, "yellow", subject="wl-1")
    clear = Transition(
        AlertKey("call_button", "v", "wl-1", "sos"), "clear", Severity.YELLOW, NOW, "ok"
    )
    assert store.apply(clear, "clear-wl-1", AlertPolicy(), NOW + 500) is not None
    assert store.get(auto).resolution is None  # type: ignore[union-attr]
    for i, reason in enumerate([R.FALSE_ALARM, R.FALSE_ALARM, R.HANDLED_ON_SITE]):
        aid = _fire(store, "red", subject=f"sos-{i}")
        store.resolve(aid, "wang", NOW + 2000, "checked", reason)
    _fire(store, "red", subject="sos-open")  # open: not counted
    report = month_report(
        store.fired_between(NOW - 86_400_000, NOW + 86_400_000), "2026-11", "Asia/Shanghai"
    )
    assert report.reasons == {"false_alarm": 2, "handled_on_site": 1, "auto": 1}
    assert sum(sum(r.reasons.values()) for r in report.rows) == 4
    assert "resolved, by reason: false_alarm 2, auto 1, handled_on_site 1" in render(report)


def test_migration_3_adds_the_reason_to_a_file_of_migration_2(tmp_path: Path) -> None:
    """An alert store written before reasons were kept opens; its closed alerts count as
    ``unrecorded`` (by a person) in the report."""
    path = tmp_path / "old.db"
    c = sqlite3.connect(path)
    for m in MIGRATIONS[:2]:
        c.executescript(m.sql)
    c.execute(
        "INSERT INTO alerts (key, detector, village, subject, kind, severity, state, message,"
        " details, historical, needs_close, condition_cleared, started_ms, opened_ms, fired_ms,"
        " resolved_ms, resolved_by, updated_ms, place) VALUES ('k','d','v','s','sos','red',"
        " 'resolved','m','{}',0,1,0,?,?,?,?,'li',?,'grid:v/g1')",
        (NOW, NOW, NOW, NOW + 1, NOW + 1),
    )
    c.execute("PRAGMA user_version = 2")
    c.commit()
    c.close()
    store = AlertDatabase(path)
    try:
        (old,) = store.recent(10)
        assert old.resolution is None
        report = month_report([old], "2026-11", "Asia/Shanghai")
        assert report.reasons == {"unrecorded": 1}
    finally:
        store.close()


def test_the_cli_asks_for_the_reason_and_the_note_and_reports_reasons(tmp_path: Path) -> None:
    """``alerts resolve`` of a forced door: no --reason is a usage error, no --note is refused
    with what is missing; resolved, the report's JSON counts the reason."""
    import json

    from typer.testing import CliRunner

    from tests.unit.alerts.test_cli import NOW as FIRED
    from tests.unit.alerts.test_cli import deployment
    from villagewatch.alerts.report import month_bounds
    from villagewatch.cli import app

    settings = str(deployment(tmp_path))
    runner = CliRunner()
    base = ["alerts", "resolve", "-c", settings, "1", "--by", "wang"]
    no_reason = runner.invoke(app, base)
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    no_note = runner.invoke(app, [*base, "--reason", "false_alarm"])
    assert no_note.exit_code == 1
    assert "alert 1 needs a note saying what was done (it is red)" in no_note.output
    bad = runner.invoke(app, [*base, "--reason", "bored", "--note", "x"])
    assert bad.exit_code == 2 and "handled_on_site" in bad.output
    done = runner.invoke(app, [*base, "--reason", "false_alarm", "--note", "tenant's key"])
    assert done.exit_code == 0, done.output
    assert "(false_alarm)" in runner.invoke(app, ["alerts", "show", "-c", settings, "1"]).output
    month = "2026-11"
    assert (
        month_bounds(month, "Asia/Shanghai")[0] <= FIRED < month_bounds(month, "Asia/Shanghai")[1]
    )
    report = runner.invoke(app, ["alerts", "report", "-c", settings, "--month", month, "--json"])
    assert json.loads(report.output)["reasons"] == {"false_alarm": 1}
