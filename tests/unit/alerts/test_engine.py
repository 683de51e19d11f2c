"""Detect's recorded transitions become alerts: each once, in order, across restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from villagewatch.alerts import AlertDatabase, AlertState
from villagewatch.alerts.engine import AlertEngine
from villagewatch.alerts.lifecycle import AlertPolicy
from villagewatch.config import AlertKindSettings, AlertsSettings
from villagewatch.detect.store import DetectStore
from villagewatch.transitions import AlertKey, Severity, Transition

NOW = 1_795_000_000_000
LEVEL = AlertKey("water_level", "v", "wl-1", "level")
DOOR = AlertKey("lock", "v", "lock-1", "forced_open")


def record(db: Path, transitions: list[Transition]) -> None:
    """What detect does: commit transitions to its state file."""

    async def go() -> None:
        store = DetectStore(db)
        try:
            await store.commit({}, transitions)
        finally:
            await store.close()

    asyncio.run(go())


def t(key: AlertKey, action: str, severity: str, at: int, **kw: bool) -> Transition:
    return Transition(key, action, Severity(severity), NOW + at, f"{action} {severity}", **kw)  # type: ignore[arg-type]


def test_transitions_become_alerts_once_even_after_a_restart(tmp_path: Path) -> None:
    detect_db = tmp_path / "detect.db"
    settings = AlertsSettings(state_path=tmp_path / "alerts.db", detect_state_paths=[detect_db])
    record(detect_db, [t(LEVEL, "fire", "blue", 0), t(LEVEL, "update", "yellow", 1)])
    record(detect_db, [t(DOOR, "fire", "red", 2, needs_close=True)])

    store = AlertDatabase(settings.state_path)
    engine = AlertEngine(settings=settings, store=store, sources=settings.detect_state_paths)
    assert engine.pump(NOW) == 3
    assert engine.pump(NOW) == 0
    store.close()

    record(detect_db, [t(LEVEL, "update", "orange", 3), t(LEVEL, "clear", "orange", 4)])
    record(detect_db, [t(DOOR, "clear", "red", 5)])
    store = AlertDatabase(settings.state_path)  # a restarted engine
    assert (
        AlertEngine(settings=settings, store=store, sources=settings.detect_state_paths).pump(
            NOW + 10
        )
        == 3
    )
    level, door = store.recent(10)[::-1]
    assert (level.state, level.severity) == (AlertState.RESOLVED, Severity.ORANGE)
    assert [e.action for e in store.audit(level.id)] == [
        "fired", "severity_changed", "severity_changed", "resolved",
    ]  # fmt: skip
    assert (door.state, door.condition_cleared) == (AlertState.FIRING, True)
    store.close()


def test_a_kinds_pending_time_holds_it_back_until_the_engine_sees_it_last(tmp_path: Path) -> None:
    detect_db = tmp_path / "detect.db"
    settings = AlertsSettings(
        state_path=tmp_path / "alerts.db",
        detect_state_paths=[detect_db],
        kinds={"level": AlertKindSettings(pending_s=30)},
    )
    record(detect_db, [t(LEVEL, "fire", "yellow", 0)])
    store = AlertDatabase(settings.state_path)
    engine = AlertEngine(settings=settings, store=store, sources=settings.detect_state_paths)
    engine.pump(NOW)
    assert [a.state for a in store.open_alerts()] == [AlertState.PENDING]
    engine.pump(NOW + 30_000)
    assert [a.state for a in store.open_alerts()] == [AlertState.FIRING]
    store.close()


def test_a_detect_file_not_there_yet_is_waited_for(tmp_path: Path) -> None:
    settings = AlertsSettings(
        state_path=tmp_path / "alerts.db", detect_state_paths=[tmp_path / "later.db"]
    )
    store = AlertDatabase(settings.state_path)
    assert (
        AlertEngine(settings=settings, store=store, sources=settings.detect_state_paths).pump(NOW)
        == 0
    )
    store.close()


def test_a_right_code_after_wrong_ones_keeps_the_alert_open_and_makes_it_red(
    tmp_path: Path,
) -> None:
    """Five wrong codes, then the right one, then quiet: a guess that worked is not the end."""
    from tests.unit.detectors.helpers import event
    from villagewatch.detectors import LockConfig, SmartLock

    lock = SmartLock(
        LockConfig(),
        village="v",
        device="lock-1",
        label="House A1",
        credentials=[("c1", None, None)],
    )
    found = [t for i in range(5) for t in lock.event(event(0.1 * i, "wrong_code"))]
    found += lock.event(event(0.6, "unlock", credential="c1"))
    found += lock.tick(event(5, "x").time_ns // 1_000_000)
    detect_db = tmp_path / "detect.db"
    record(detect_db, found)
    settings = AlertsSettings(state_path=tmp_path / "alerts.db", detect_state_paths=[detect_db])
    store = AlertDatabase(settings.state_path)
    AlertEngine(settings=settings, store=store, sources=settings.detect_state_paths).pump(NOW)
    (alert,) = store.recent(10)
    assert alert.kind == "wrong_codes" and alert.state is AlertState.FIRING
    assert alert.severity is Severity.RED and alert.needs_close
    store.close()


def test_a_transition_that_cannot_be_read_is_set_aside_and_the_rest_applied(
    tmp_path: Path,
) -> None:
    """A damaged row in detect's file must not stop every alert behind it."""
    import sqlite3

    detect_db = tmp_path / "detect.db"
    record(detect_db, [t(LEVEL, "fire", "blue", 0)])
    with sqlite3.connect(detect_db) as conn:
        conn.execute("UPDATE transitions SET severity = 'purple', details = '{oops'")
    record(detect_db, [t(DOOR, "fire", "red", 1, needs_close=True)])
    settings = AlertsSettings(state_path=tmp_path / "alerts.db", detect_state_paths=[detect_db])
    store = AlertDatabase(settings.state_path)
    engine = AlertEngine(settings=settings, store=store, sources=settings.detect_state_paths)
    engine.pump(NOW)
    assert [a.kind for a in store.recent(10)] == ["forced_open"]
    assert engine.pump(NOW) == 0, "the damaged one is not tried again and again"
    (dead,) = store.dead_transitions()
    assert (
        dead["transition_id"].startswith("water_level/v/wl-1/level#fire")
        and "purple" in dead["detail"]
    )
    store.close()


def test_a_transition_whose_handling_fails_is_set_aside_and_the_rest_applied(
    tmp_path: Path,
) -> None:
    """A bug of ours on one alert (here: routing it) costs that transition, not the stream."""
    from villagewatch.alerts.notify import Notifier
    from villagewatch.alerts.routing import Router

    class Failing(Notifier):
        def steps(self, alert):  # type: ignore[no-untyped-def]
            if alert.subject == "wl-1":
                raise RuntimeError("a bug")
            return super().steps(alert)

    detect_db = tmp_path / "detect.db"
    record(detect_db, [t(LEVEL, "fire", "blue", 0), t(DOOR, "fire", "red", 1, needs_close=True)])
    settings = AlertsSettings(state_path=tmp_path / "alerts.db", detect_state_paths=[detect_db])
    store = AlertDatabase(settings.state_path, notifier=Failing(Router([], {}), settings))
    engine = AlertEngine(settings=settings, store=store, sources=settings.detect_state_paths)
    engine.pump(NOW)
    assert [a.kind for a in store.recent(10)] == ["forced_open"]
    assert [d["transition_id"].split("#")[0] for d in store.dead_transitions()] == [
        "water_level/v/wl-1/level"
    ]
    assert engine.pump(NOW) == 0
    store.close()


def test_an_escalation_that_fails_for_one_alert_does_not_stop_the_others(tmp_path: Path) -> None:
    from villagewatch.alerts.notify import Notifier
    from villagewatch.alerts.routing import Router
    from villagewatch.config.village import Village

    class Failing(Notifier):
        def drafts(self, alert, event, now_ms, **kw):  # type: ignore[no-untyped-def]
            if event == "escalated" and alert.subject == "wl-1":
                raise RuntimeError("a bug")
            return super().drafts(alert, event, now_ms, **kw)

    team = {"members": [{"id": "a", "name": "A"}], "channels": ["hook"]}
    village = Village.model_validate(
        {"id": "v", "name": "V", "town": "t", "team": team,
         "grids": [{"id": "g", "name": "G", "team": team}],
         "devices": [{"id": "wl-1", "kind": "water_level", "grid": "g"},
                     {"id": "lock-1", "kind": "smart_lock", "grid": "g"}]}
    )  # fmt: skip
    settings = AlertsSettings(
        state_path=tmp_path / "alerts.db", escalate_after_s=60,
        channels={"hook": {"kind": "webhook", "url": "http://127.0.0.1:9/"}},  # type: ignore[dict-item]
    )  # fmt: skip
    store = AlertDatabase(settings.state_path, notifier=Failing(Router([village], {}), settings))
    policy = AlertPolicy()
    store.apply(t(LEVEL, "fire", "yellow", 0), "l", policy, NOW)
    store.apply(t(DOOR, "fire", "red", 0, needs_close=True), "d", policy, NOW)
    store.tick(NOW + 61_000)
    level, door = sorted(store.open_alerts(), key=lambda a: a.id)
    assert (level.escalation_level, door.escalation_level) == (0, 1)
    store.close()
