"""The alert lifecycle in the alert database (SQLite and PostgreSQL): fire, severity in place, clear, people's actions,
idempotence, one open alert per identity however many writers race, append-only audit."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.unit.db.sqlite_writer import BOUND_S, SlowNotifier, within_bound, write_lock_held
from villagewatch.alerts import ActionRefused, AlertDatabase, AlertPolicy, AlertState
from villagewatch.alerts.resolution import ResolutionReason
from villagewatch.alerts.sender import NotificationSender
from villagewatch.db.database import Location
from villagewatch.db.sqlite import SQLITE_METRICS
from villagewatch.errors import StoreUnavailable
from villagewatch.transitions import AlertKey, Severity, Transition

KEY = AlertKey("water_level", "v", "wl-1", "level")
NOW = 1_795_000_000_000
NOW_POLICY = AlertPolicy()


def tr(
    action: Literal["fire", "update", "clear"],
    severity: str = "yellow",
    at: int = 0,
    *,
    key: AlertKey = KEY,
    needs_close: bool = False,
) -> Transition:
    return Transition(
        key, action, Severity(severity), NOW + at, f"{action} {severity}", {"v": at},
        needs_close=needs_close,
    )  # fmt: skip


def tid(t: Transition) -> str:
    return f"{t.key}#{t.action}@{t.at_ms}"


@pytest.fixture
def store(relational: Callable[[str], Location]) -> Iterator[AlertDatabase]:
    s = AlertDatabase(relational("alerts"))
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[AlertDatabase]:
    s = AlertDatabase(tmp_path / "alerts.db")
    yield s
    s.close()


def apply_all(
    store: AlertDatabase, transitions: list[Transition], policy: AlertPolicy = NOW_POLICY
) -> None:
    for i, t in enumerate(transitions):
        store.apply(t, tid(t), policy, NOW + i)


def lives(store: AlertDatabase) -> list[tuple[str, str, list[str]]]:
    """Per alert ever opened: final state, severity, and the actions in its audit log."""
    out = []
    for alert_id in sorted(a.id for a in store.recent(1000)):
        a = store.get(alert_id)
        assert a is not None
        out.append((a.state.value, a.severity.value, [e.action for e in store.audit(alert_id)]))
    return out


@pytest.mark.parametrize(
    ("transitions", "policy", "expected"),
    [
        pytest.param(
            [
                tr("fire", "blue"),
                tr("update", "yellow", 1),
                tr("update", "orange", 2),
                tr("clear", "orange", 3),
            ],
            NOW_POLICY,
            [("resolved", "orange", ["fired", "severity_changed", "severity_changed", "resolved"])],
            id="flood-one-alert-severity-in-place-then-resolved",
        ),
        pytest.param(
            [tr("fire"), tr("clear", at=1), tr("fire", at=2)],
            NOW_POLICY,
            [("resolved", "yellow", ["fired", "resolved"]), ("firing", "yellow", ["fired"])],
            id="fire-again-after-resolve-is-a-new-alert",
        ),
        pytest.param(
            [tr("fire", "red", needs_close=True), tr("clear", "red", 1)],
            NOW_POLICY,
            [("firing", "red", ["fired", "condition_cleared"])],
            id="forced-door-stays-open-after-clear",
        ),
        pytest.param(
            [tr("fire"), tr("clear", at=1)],
            AlertPolicy(close_by_hand=True),
            [("firing", "yellow", ["fired", "condition_cleared"])],
            id="kind-configured-to-need-a-human-close",
        ),
        pytest.param(
            [tr("fire"), tr("clear", at=1), tr("fire", at=2)],
            AlertPolicy(close_by_hand=True),
            [("firing", "yellow", ["fired", "condition_cleared", "refired"])],
            id="hand-closed-alert-refires-in-place",
        ),
        pytest.param(
            [tr("fire"), tr("clear", at=1)],
            AlertPolicy(pending_s=60),
            [("resolved", "yellow", ["pending", "resolved"])],
            id="cleared-while-pending-never-fires",
        ),
        pytest.param(
            [tr("clear"), tr("update", "orange", 1)],
            NOW_POLICY,
            [("firing", "orange", ["fired"])],
            id="clear-of-nothing-is-nothing-update-of-nothing-opens",
        ),
        pytest.param(
            [tr("fire"), tr("fire", at=1)],
            NOW_POLICY,
            [("firing", "yellow", ["fired"])],
            id="same-condition-reported-again-changes-nothing",
        ),
    ],
)
def test_transitions_make_alert_lives(
    store: AlertDatabase,
    transitions: list[Transition],
    policy: AlertPolicy,
    expected: list[tuple[str, str, list[str]]],
) -> None:
    apply_all(store, transitions, policy)
    assert lives(store) == expected


def test_a_redelivered_transition_changes_nothing(store: AlertDatabase) -> None:
    t = tr("fire")
    first = store.apply(t, tid(t), NOW_POLICY, NOW)
    assert first is not None and first.state is AlertState.FIRING
    clear = tr("clear", at=5)
    store.apply(clear, tid(clear), NOW_POLICY, NOW + 5)
    assert store.apply(t, tid(t), NOW_POLICY, NOW + 6) is None  # not a new alert
    assert lives(store) == [("resolved", "yellow", ["fired", "resolved"])]


def test_pending_fires_when_its_time_is_over(store: AlertDatabase) -> None:
    t = tr("fire")
    a = store.apply(t, tid(t), AlertPolicy(pending_s=60), NOW)
    assert a is not None and a.state is AlertState.PENDING and a.fired_ms is None
    assert store.tick(NOW + 59_999) == []
    (fired,) = store.tick(NOW + 60_000)
    assert fired.state is AlertState.FIRING and fired.fired_ms == NOW + 60_000
    assert store.tick(NOW + 120_000) == []


def test_people_acknowledge_assign_note_and_resolve_with_who_and_when(
    store: AlertDatabase,
) -> None:
    t = tr("fire", "orange")
    a = store.apply(t, tid(t), NOW_POLICY, NOW)
    assert a is not None
    acked = store.acknowledge(a.id, "wang", NOW + 1000, note="on my way")
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_ms) == (
        AlertState.ACKNOWLEDGED, "wang", NOW + 1000,
    )  # fmt: skip
    assert store.acknowledge(a.id, "li", NOW + 2000).acknowledged_by == "wang"  # once
    assert store.assign(a.id, "wang", "zhao", NOW + 3000).assignee == "zhao"
    store.comment(a.id, "zhao", "  pump started  ", NOW + 4000)
    update = tr("update", "red", 5)
    after = store.apply(update, tid(update), NOW_POLICY, NOW + 5000)
    assert after is not None and after.state is AlertState.ACKNOWLEDGED  # still being handled
    assert after.severity is Severity.RED
    done = store.resolve(
        a.id, "zhao", NOW + 6000, note="water down", reason=ResolutionReason.HANDLED_ON_SITE
    )
    assert (done.state, done.resolved_by, done.resolved_ms) == (
        AlertState.RESOLVED, "zhao", NOW + 6000,
    )  # fmt: skip
    assert [(e.actor, e.action) for e in store.audit(a.id)] == [
        ("system", "fired"),
        ("wang", "acknowledged"),
        ("wang", "assigned"),
        ("zhao", "noted"),
        ("system", "severity_changed"),
        ("zhao", "resolved"),
    ]
    assert [(n.author, n.text) for n in store.notes(a.id)] == [
        ("wang", "on my way"),
        ("zhao", "pump started"),
        ("zhao", "water down"),
    ]
    assert store.open_alerts() == []


@pytest.mark.parametrize(
    ("action", "message"),
    [
        pytest.param("ack", "alert 1 is resolved; it cannot be acknowledged", id="ack-resolved"),
        pytest.param("resolve", "alert 1 is resolved; it cannot be resolved", id="resolve-twice"),
        pytest.param("assign", "alert 1 is resolved; it cannot be assigned", id="assign-resolved"),
        pytest.param("ack-unknown", "no alert 99", id="ack-unknown"),
        pytest.param("empty-note", "a note needs some text", id="empty-note"),
        pytest.param(
            "long-note", "a note is at most 2000 characters, this one 2001", id="long-note"
        ),
    ],
)
def test_actions_that_do_not_fit_are_refused_with_the_reason(
    store: AlertDatabase, action: str, message: str
) -> None:
    apply_all(store, [tr("fire"), tr("clear", at=1)])
    calls = {
        "ack": lambda: store.acknowledge(1, "wang", NOW),
        "resolve": lambda: store.resolve(1, "wang", NOW),
        "assign": lambda: store.assign(1, "wang", "li", NOW),
        "ack-unknown": lambda: store.acknowledge(99, "wang", NOW),
        "empty-note": lambda: store.comment(1, "wang", "   ", NOW),
        "long-note": lambda: store.comment(1, "wang", "x" * 2001, NOW),
    }
    before = store.audit(1)
    with pytest.raises(ActionRefused, match=message):
        calls[action]()
    assert store.audit(1) == before  # a refused action leaves no trace


def test_the_audit_log_is_append_only(sqlite_store: AlertDatabase, tmp_path: Path) -> None:
    apply_all(sqlite_store, [tr("fire")])
    conn = sqlite3.connect(tmp_path / "alerts.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE alert_audit SET actor = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM alert_audit")
    conn.close()


def _writer(path: str, writer: int, start: Any, n: int) -> None:
    store = AlertDatabase(Path(path))
    start.wait()
    for i in range(n):
        key = AlertKey("lock", "v", f"lock-{i % 10}", "forced_open")
        # every writer applies the same transition (a redelivery) and one of its own
        shared = Transition(key, "fire", Severity.RED, NOW + i, "forced", needs_close=True)
        mine = Transition(key, "fire", Severity.RED, NOW + i, f"forced, says {writer}")
        store.apply(shared, tid(shared), NOW_POLICY, NOW)
        store.apply(mine, f"{tid(mine)}#{writer}", NOW_POLICY, NOW)
    store.close()


def test_racing_writers_never_make_a_second_open_alert(tmp_path: Path) -> None:
    """Four processes apply overlapping fires for ten locks: ten open alerts, one audit
    'fired' each, and each shared transition applied exactly once."""
    path = tmp_path / "alerts.db"
    AlertDatabase(path).close()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(path), w, start, 50)) for w in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = AlertDatabase(path)
    try:
        open_alerts = store.open_alerts()
        assert sorted(a.subject for a in open_alerts) == sorted(f"lock-{i}" for i in range(10))
        for a in open_alerts:
            assert [e.action for e in store.audit(a.id)] == ["fired"]
        with sqlite3.connect(path) as conn:
            applied = conn.execute("SELECT COUNT(*) FROM applied_transitions").fetchone()[0]
        conn.close()
        assert applied == 50 + 4 * 50  # each shared id once, and every writer's own
    finally:
        store.close()


def test_reads_answer_from_the_last_commit_while_a_write_is_under_way(
    relational: Callable[[str], Location],
) -> None:
    """A write that takes long (here: held inside its transaction) does not hold up any
    read: each answers at once, with what was committed before the write began."""
    path = relational("alerts")
    with contextlib.closing(AlertDatabase(path)) as plain:
        first = plain.apply(tr("fire"), "first", NOW_POLICY, NOW)
        assert first is not None
    notifier = SlowNotifier()
    store = AlertDatabase(path, notifier=notifier)
    other = tr("fire", key=AlertKey("water_level", "v", "wl-2", "level"))
    pool = ThreadPoolExecutor(1)
    try:
        writing = pool.submit(store.apply, other, "second", NOW_POLICY, NOW)
        assert notifier.entered.wait(BOUND_S)
        reads = within_bound(
            lambda: (
                store.get(first.id),
                [a.id for a in store.open_alerts()],
                [a.id for a in store.search()],
                [a.id for a in store.recent(10)],
                store.changes_since(0),
                store.last_change(),
                store.audit(first.id),
                store.notes(first.id),
                store.notifications(),
                store.outbox_backlog(),
                store.cursor("detect"),
                [a.id for a in store.fired_between(0, 2 * NOW)],
            )
        )
        assert not writing.done()
    finally:
        notifier.release.set()
        pool.shutdown(wait=True)
    got, *ids, changes, last, audit, notes, notifications, backlog, cursor, fired = reads
    assert got == first
    assert ids == [[first.id]] * 3
    assert changes == [(1, first.id)] and last == 1
    assert [e.action for e in audit] == ["fired"] and notes == [] and notifications == []
    assert backlog == (0, None) and cursor == 0 and fired == [first.id]
    second = writing.result()
    assert second is not None and [a.id for a in store.open_alerts()] == [first.id, second.id]
    store.close()


def test_a_write_past_the_busy_timeout_is_refused_and_counted(tmp_path: Path) -> None:
    """Another process holds the write lock: reads still answer with the last commit; a write
    gives up after the busy timeout with StoreUnavailable, and the wait is counted."""
    path = tmp_path / "alerts.db"
    store = AlertDatabase(path, busy_timeout_s=0.2)
    first = store.apply(tr("fire"), "first", NOW_POLICY, NOW)
    assert first is not None
    labels = {"database": "alerts", "access": "write"}
    before = SQLITE_METRICS.get_sample_value("villagewatch_sqlite_busy_total", labels) or 0
    with write_lock_held(path, "UPDATE alerts SET message = 'not committed'"):
        assert within_bound(lambda: store.get(first.id)) == first
        with pytest.raises(StoreUnavailable, match="busy"):
            within_bound(lambda: store.acknowledge(first.id, "op", NOW + 1))
    assert SQLITE_METRICS.get_sample_value("villagewatch_sqlite_busy_total", labels) == before + 1
    assert store.acknowledge(first.id, "op", NOW + 2).state is AlertState.ACKNOWLEDGED
    store.close()


def test_the_sender_outlives_a_store_held_by_another_process(tmp_path: Path) -> None:
    """With the short busy timeout a held store is a StoreUnavailable every pass: the sender
    (like the engine) waits it out instead of ending ``alerts run``."""
    path = tmp_path / "alerts.db"
    store = AlertDatabase(path, busy_timeout_s=0.05)
    sender = NotificationSender(store=store, channels={})
    passes = 0

    async def main() -> None:
        nonlocal passes
        stop = asyncio.Event()
        real = sender.send_due

        async def counted() -> int:
            nonlocal passes
            passes += 1
            if passes >= 3:
                stop.set()
            return await real()

        sender.send_due = counted  # type: ignore[method-assign]
        await asyncio.wait_for(sender.run(stop, every_s=0.01), BOUND_S)

    with write_lock_held(path):
        asyncio.run(main())
    assert passes >= 3
    store.close()


@pytest.mark.parametrize("acks", [[60_000, 180_000], [60_000, 120_000, 600_000]])
def test_the_walls_figures_are_counted_alike_on_both_engines(
    store: AlertDatabase, acks: list[int]
) -> None:
    """The median of an even and of an odd count, today's counts, a trend: the same SQL on
    both engines (LIMIT by a subquery, a VALUES table of bound edges)."""
    keys = [AlertKey("water_level", "v", f"wl-{i}", "level") for i in range(len(acks) + 1)]
    fired = [store.apply(tr("fire", "red", i, key=k), f"f{i}", NOW_POLICY, NOW + i)
             for i, k in enumerate(keys)]  # fmt: skip
    for alert, after in zip(fired, acks, strict=False):
        assert alert is not None and alert.fired_ms is not None
        store.acknowledge(alert.id, "op", alert.fired_ms + after)
    edges = [NOW - 3_600_000, NOW, NOW + 3_600_000]
    got = store.overview(places=None, day=(NOW - 1, NOW + 10_000), hour_edges=edges,
                         day_edges=edges[::2])  # fmt: skip
    ordered = sorted(acks)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    assert got.today.ack_median_s == median / 1000
    assert (got.today.fired, got.today.acknowledged, got.today.resolved) == (
        len(keys),
        len(acks),
        0,
    )
    assert got.today.fired_by_village == {"v": len(keys)}
    assert [b.by_severity for b in got.hourly] == [{}, {"red": len(keys)}]
    assert [b.by_severity for b in got.daily] == [{"red": len(keys)}]
    assert len(got.open) == len(keys)
