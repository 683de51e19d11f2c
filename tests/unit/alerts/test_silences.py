"""Silences in the store: a recurring window holds notifications back inside it and not
outside, per device or camera zone; ending one; the list; an older file keeps its silences."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from villagewatch.alerts import ActionRefused, AlertDatabase, AlertPolicy
from villagewatch.alerts.database.schema import MIGRATIONS
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.recurrence import Recurrence
from villagewatch.alerts.routing import Router
from villagewatch.config import AlertsSettings
from villagewatch.config.village import Village
from villagewatch.db.database import Location, open_database
from villagewatch.transitions import AlertKey, Severity, Transition

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3_600_000
TUESDAYS_9_TO_11 = Recurrence((1,), time(9, 0), 2 * HOUR, "Europe/Berlin")


def berlin(month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, month, day, hour, minute, tzinfo=BERLIN).timestamp() * 1000)


@pytest.fixture
def store(tmp_path: Path, relational: Callable[[str], Location]) -> Iterator[AlertDatabase]:
    team = {"members": [{"id": "a", "name": "A"}], "channels": ["hook"]}
    village = Village.model_validate(
        {"id": "v", "name": "V", "town": "t", "team": team,
         "grids": [{"id": "g", "name": "G", "team": team}],
         "devices": [{"id": "wl-1", "kind": "water_level", "grid": "g"},
                     {"id": "wl-2", "kind": "water_level", "grid": "g"},
                     {"id": "cam-1", "kind": "camera", "grid": "g"}]}
    )  # fmt: skip
    settings = AlertsSettings(
        state_path=tmp_path / "alerts.db", group_wait_s=0,
        channels={"hook": {"kind": "webhook", "url": "http://127.0.0.1:9/"}},  # type: ignore[dict-item]
    )  # fmt: skip
    s = AlertDatabase(relational("alerts"), notifier=Notifier(Router([village], {}), settings))
    yield s
    s.close()


def fire(store: AlertDatabase, subject: str, at_ms: int, kind: str = "level") -> list[str]:
    """Fire an alert for ``subject`` at ``at_ms``; the states of its notifications."""
    key = AlertKey("water_level", "v", subject, kind)
    t = Transition(key, "fire", Severity.RED, at_ms, f"{subject} red")
    alert = store.apply(t, f"{subject}@{at_ms}", AlertPolicy(), at_ms)
    assert alert is not None
    return sorted({n["state"] for n in store.notifications(alert.id)})


def clear(store: AlertDatabase, subject: str, at_ms: int) -> None:
    key = AlertKey("water_level", "v", subject, "level")
    t = Transition(key, "clear", Severity.RED, at_ms, "clear")
    store.apply(t, f"{subject}@{at_ms}-clear", AlertPolicy(), at_ms)


def test_a_weekly_window_holds_a_gauges_notifications_inside_it_and_not_outside(
    store: AlertDatabase,
) -> None:
    store.add_recurring_silence(
        {"village": "v", "subject": "wl-1"}, TUESDAYS_9_TO_11, created_by="li",
        reason="sluice maintenance", now_ms=berlin(12, 1, 12),
    )  # fmt: skip
    assert fire(store, "wl-1", berlin(12, 8, 9, 30)) == ["silenced"]  # Tuesday, inside
    assert fire(store, "wl-2", berlin(12, 8, 9, 31)) == ["queued"]  # another gauge
    clear(store, "wl-1", berlin(12, 8, 10))
    assert fire(store, "wl-1", berlin(12, 8, 11, 0)) == ["queued"]  # its end is outside
    clear(store, "wl-1", berlin(12, 8, 12))
    assert fire(store, "wl-1", berlin(12, 9, 9, 30)) == ["queued"]  # Wednesday
    clear(store, "wl-1", berlin(12, 9, 12))
    assert fire(store, "wl-1", berlin(12, 15, 10, 59)) == ["silenced"]  # next Tuesday


def test_a_window_for_a_camera_zone_holds_that_zone_only(store: AlertDatabase) -> None:
    bins = Recurrence(tuple(range(7)), time(6, 0), HOUR, "Europe/Berlin")
    store.add_recurring_silence(
        {"subject": "cam-1:bins"}, bins, created_by="li", reason="bin collection round",
        now_ms=berlin(12, 1, 0),
    )  # fmt: skip
    assert fire(store, "cam-1:bins", berlin(12, 2, 6, 30), kind="loitering") == ["silenced"]
    assert fire(store, "cam-1:road", berlin(12, 2, 6, 30), kind="loitering") == ["queued"]


def test_a_window_in_progress_when_made_holds_at_once(store: AlertDatabase) -> None:
    s = store.add_recurring_silence(
        {"subject": "wl-1"}, TUESDAYS_9_TO_11, created_by="li", reason="works",
        now_ms=berlin(12, 8, 10),
    )  # fmt: skip
    assert s.next_window(berlin(12, 8, 10)) == (berlin(12, 8, 10), berlin(12, 8, 11))
    assert fire(store, "wl-1", berlin(12, 8, 10, 5)) == ["silenced"]


def test_ending_a_recurring_silence_stops_its_windows(store: AlertDatabase) -> None:
    s = store.add_recurring_silence(
        {"subject": "wl-1"}, TUESDAYS_9_TO_11, created_by="li", reason="works",
        now_ms=berlin(12, 1, 0),
    )  # fmt: skip
    ended = store.end_silence(s.id, "wang", berlin(12, 8, 9, 30))
    assert (ended.ended_by, ended.ends_ms) == ("wang", berlin(12, 8, 9, 30))
    assert fire(store, "wl-1", berlin(12, 8, 9, 45)) == ["queued"]
    assert store.silences(berlin(12, 8, 9, 45)) == []
    with pytest.raises(ActionRefused, match=f"silence {s.id} is already over"):
        store.end_silence(s.id, "wang", berlin(12, 8, 10))
    with pytest.raises(ActionRefused, match="no silence 99"):
        store.end_silence(99, "wang", berlin(12, 8, 10))


def test_the_list_has_what_is_not_over_with_its_next_window(store: AlertDatabase) -> None:
    now = berlin(12, 6, 12)
    once = store.add_silence({"subject": "wl-2"}, now, now + HOUR, created_by="li",
                             reason="cleaning", now_ms=now)  # fmt: skip
    weekly = store.add_recurring_silence(
        {"subject": "wl-1"}, TUESDAYS_9_TO_11, created_by="li", reason="works", now_ms=now
    )
    bounded = Recurrence((1,), time(9, 0), HOUR, "Europe/Berlin", until=date(2026, 12, 8))
    store.add_recurring_silence({"subject": "wl-2"}, bounded, created_by="li", reason="x",
                                now_ms=now)  # fmt: skip
    assert [s.id for s in store.silences(now)] == [once.id, weekly.id, 3]
    later = berlin(12, 8, 12)  # the one-off and the bounded one are over
    (left,) = store.silences(later)
    assert left.id == weekly.id
    assert left.next_window(later) == (berlin(12, 15, 9), berlin(12, 15, 11))


def test_a_repeat_that_would_never_be_in_force_is_refused(store: AlertDatabase) -> None:
    gone = Recurrence((1,), time(9, 0), HOUR, "Europe/Berlin", until=date(2026, 1, 31))
    with pytest.raises(ActionRefused, match="would never be in force: it ends on 2026-01-31"):
        store.add_recurring_silence({"subject": "wl-1"}, gone, created_by="li", reason="x",
                                    now_ms=berlin(12, 1, 0))  # fmt: skip


def test_an_alert_store_of_the_previous_version_keeps_its_silences(
    relational: Callable[[str], Location],
) -> None:
    path = relational("alerts")
    old = open_database(path, name="alerts", migrations=MIGRATIONS[:1], busy_timeout_s=5)
    old.write(
        lambda c: c.execute(
            "INSERT INTO silences (matchers, starts_ms, ends_ms, created_by, reason, created_ms)"
            " VALUES ('{\"subject\":\"wl-1\"}', 1000, 5000, 'li', 'cleaning', 1000)"
        )
    )
    old.close()
    store = AlertDatabase(path)
    try:
        s = store.silence(1)
        assert s is not None
        assert (s.matchers, s.starts_ms, s.ends_ms, s.recurrence) == ({"subject": "wl-1"},
                                                                      1000, 5000, None)  # fmt: skip
        assert [x.id for x in store.silences(2000)] == [1]
        assert s.in_force(4999) and not s.in_force(5000)
    finally:
        store.close()


def test_a_silence_whose_zone_is_gone_holds_nothing_and_stops_nothing(
    store: AlertDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """A zone removed from the machine's zone database (or a row damaged by hand): the
    silence is left out with a warning; alerts still apply and are notified."""
    s = store.add_recurring_silence(
        {"subject": "wl-1"}, TUESDAYS_9_TO_11, created_by="li", reason="works",
        now_ms=berlin(12, 1, 0),
    )  # fmt: skip
    store._db.write(
        lambda c: c.execute(
            "UPDATE silences SET recurrence = replace(recurrence, 'Europe/Berlin', 'Mars/Olympus')"
        )
    )
    assert fire(store, "wl-1", berlin(12, 8, 9, 30)) == ["queued"]
    assert "cannot be read, so it holds nothing back" in caplog.text
    assert store.silences(berlin(12, 8, 9, 30)) == [] and store.silence(s.id) is None
    with pytest.raises(ActionRefused, match="cannot be read: unknown time zone 'Mars/Olympus'"):
        store.end_silence(s.id, "wang", berlin(12, 8, 10))
