"""Several alert engines on one alert database (two store objects in threads, on SQLite and
on PostgreSQL): every transition applied once, an escalation once, each notification sent
once — the sender claims what it takes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from villagewatch.alerts import AlertDatabase, AlertPolicy
from villagewatch.alerts.channels import ChannelError
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.outbox import CLAIM_MS
from villagewatch.alerts.routing import Router
from villagewatch.alerts.sender import NotificationSender
from villagewatch.config import AlertsSettings
from villagewatch.config.village import Village
from villagewatch.db.database import Location
from villagewatch.transitions import AlertKey, Severity, Transition

NOW = 1_795_000_000_000
ESCALATE_MS = 600_000
POLICY = AlertPolicy()


def _notifier(tmp_path: Path) -> Notifier:
    team = {"members": [{"id": "a", "name": "A"}], "channels": ["hook"]}
    village = Village.model_validate(
        {"id": "v", "name": "V", "town": "t", "team": team,
         "grids": [{"id": "g", "name": "G", "team": team}],
         "devices": [{"id": f"wl-{i}", "kind": "water_level", "grid": "g"} for i in range(20)]}
    )  # fmt: skip
    settings = AlertsSettings(
        state_path=tmp_path / "unused.db", group_wait_s=0, escalate_after_s=ESCALATE_MS / 1000,
        channels={"hook": {"kind": "webhook", "url": "http://127.0.0.1:9/"}},  # type: ignore[dict-item]
    )  # fmt: skip
    return Notifier(Router([village], {}), settings)


@pytest.fixture
def two(
    relational: Callable[[str], Location], tmp_path: Path
) -> Iterator[tuple[AlertDatabase, AlertDatabase]]:
    where = relational("alerts")
    a = AlertDatabase(where, notifier=_notifier(tmp_path))
    b = AlertDatabase(where, notifier=_notifier(tmp_path))
    yield a, b
    a.close()
    b.close()


def _fires(n: int) -> list[tuple[Transition, str]]:
    out = []
    for i in range(n):
        t = Transition(AlertKey("water_level", "v", f"wl-{i}", "level"), "fire", Severity.RED,
                       NOW + i, f"high {i}", {})  # fmt: skip
        out.append((t, f"wl-{i}#fire@{NOW + i}"))
    return out


class _Counting:
    """A channel that counts the alerts it was given (a webhook's receiving end)."""

    def __init__(self) -> None:
        self.id, self.rate_per_minute = "hook", 10_000
        self.alerts: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    async def send(self, title: str, text: str, alerts: list[dict[str, Any]]) -> None:
        await asyncio.sleep(0.01)  # a send takes a moment: the other sender runs meanwhile
        with self._lock:
            self.alerts += [(int(a["alert"]), text) for a in alerts]


def test_a_due_notification_is_claimed_by_one_sender(
    two: tuple[AlertDatabase, AlertDatabase],
) -> None:
    a, b = two
    [(t, tid), (t2, tid2)] = _fires(2)
    a.apply(t, tid, POLICY, NOW)
    taken = [q.id for g in a.due_notifications(NOW + 1) for q in g]
    assert len(taken) == 1
    a.apply(t2, tid2, POLICY, NOW + 2)  # the same group: not added to the claimed one's digest
    more = [q.id for g in b.due_notifications(NOW + 3) for q in g]
    assert len(more) == 1 and more != taken, "claimed: the other sender does not get it"
    assert a.due_notifications(NOW + 3) == b.due_notifications(NOW + 3) == []
    a.release(taken)
    assert [q.id for g in b.due_notifications(NOW + 4) for q in g] == taken, "released"
    later = NOW + 3 + CLAIM_MS
    assert [q.id for g in a.due_notifications(later) for q in g] == more, (
        "a claim whose sender never came back runs out"
    )


def test_two_engines_apply_escalate_and_send_each_once(
    two: tuple[AlertDatabase, AlertDatabase],
) -> None:
    a, b = two
    fires = _fires(20)

    def engine(store: AlertDatabase) -> None:
        for t, tid in fires:  # both engines read the same transitions
            store.apply(t, tid, POLICY, NOW)
        store.tick(NOW + ESCALATE_MS)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(engine, (a, b)))
    alerts = a.open_alerts()
    assert len(alerts) == 20
    for alert in alerts:
        actions = [e.action for e in b.audit(alert.id)]
        assert actions == ["fired", "escalated"], (alert.subject, actions)
        assert alert.escalation_level == 1

    channels = [_Counting(), _Counting()]

    def sender(store: AlertDatabase, channel: _Counting) -> None:
        s = NotificationSender(store=store, channels={"hook": channel},
                               now_ms=lambda: NOW + ESCALATE_MS)  # fmt: skip
        for _ in range(20):
            asyncio.run(s.send_due())

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(sender, (a, b), channels))
    rows = a.notifications()
    assert rows and all(r["state"] == "sent" for r in rows)
    received = sorted(x for c in channels for x in c.alerts)
    assert len(received) == len(rows), "each notification reached the webhook once"


def test_a_poison_transition_and_a_poison_timer_step_fail_alone(
    relational: Callable[[str], Location], tmp_path: Path
) -> None:
    """A transition the database refuses (a time past any integer column) changes nothing and
    leaves the store usable; a timer step that fails for one alert is rolled back to its
    savepoint while the others' go on — on both engines."""

    class Failing(Notifier):
        def drafts(self, alert, event, now_ms, **kw):  # type: ignore[no-untyped-def]
            if event == "escalated" and alert.subject == "wl-1":
                raise RuntimeError("a bug")
            return super().drafts(alert, event, now_ms, **kw)

    plain = _notifier(tmp_path)
    store = AlertDatabase(relational("alerts"), notifier=Failing(plain.router, plain.settings))
    try:
        [(one, one_id), (two, two_id)] = _fires(2)
        poison = Transition(one.key, "fire", Severity.RED, 2**70, "from far ahead", {})
        with pytest.raises(Exception):  # noqa: B017, PT011 - each engine's own refusal
            store.apply(poison, "poison", POLICY, NOW)
        assert store.open_alerts() == [] and store.last_change() == 0
        store.apply_many([(one, one_id, POLICY), (two, two_id, POLICY)], NOW)
        store.tick(NOW + ESCALATE_MS)
        levels = {a.subject: a.escalation_level for a in store.open_alerts()}
        assert levels == {"wl-0": 1, "wl-1": 0}
    finally:
        store.close()


class _FailingOnce(_Counting):
    """A channel whose first send fails after the receiver took it (a lost reply)."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[dict[str, Any]] = []

    async def send(self, title: str, text: str, alerts: list[dict[str, Any]]) -> None:
        self.entries += alerts
        if len(self.entries) == len(alerts):
            raise ChannelError("the reply was lost")


def test_a_resent_notification_carries_the_same_number_so_a_receiver_can_drop_it(
    two: tuple[AlertDatabase, AlertDatabase],
) -> None:
    a, _ = two
    [(t, tid)] = _fires(1)
    a.apply(t, tid, POLICY, NOW)
    channel = _FailingOnce()
    clock = {"now": NOW + 1}
    sender = NotificationSender(
        store=a,
        channels={"hook": channel},
        now_ms=lambda: clock["now"],
    )
    asyncio.run(sender.send_due())
    clock["now"] += 3_600_000  # past any retry delay
    asyncio.run(sender.send_due())
    (row,) = a.notifications()
    assert [e["notification"] for e in channel.entries] == [row["id"], row["id"]]
    assert row["state"] == "sent"


class _Slow(_Counting):
    """A channel whose every send takes 16 s of the sender's clock."""

    def __init__(self, clock: dict[str, float]) -> None:
        super().__init__()
        self._clock = clock

    async def send(self, title: str, text: str, alerts: list[dict[str, Any]]) -> None:
        self._clock["mono"] += 16
        self.alerts += [(int(a["alert"]), text) for a in alerts]


def test_no_send_begins_late_in_a_claim_the_rest_is_handed_back(
    two: tuple[AlertDatabase, AlertDatabase],
) -> None:
    a, b = two
    for i, kind in enumerate(("level", "rain")):  # two groups (kinds), one channel
        key = AlertKey("water_level", "v", f"wl-{i}", kind)
        t = Transition(key, "fire", Severity.RED, NOW + i, f"high {i}", {})
        a.apply(t, f"{kind}#fire", POLICY, NOW + i)
    clock = {"mono": 0.0}
    channel = _Slow(clock)
    sender = NotificationSender(
        store=a, channels={"hook": channel}, now_ms=lambda: NOW + 10,
        monotonic=lambda: clock["mono"],
    )  # fmt: skip
    assert asyncio.run(sender.send_due()) == 1, "the second would begin 16 s into the claim"
    left = [q.alert_id for g in b.due_notifications(NOW + 11) for q in g]
    assert len(left) == 1, "handed back at once: another sender takes it now"
    assert len(channel.alerts) == 1
