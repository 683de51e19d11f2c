"""The detect engine: per-device order, duplicates, backlog, registry, offline, state round trips."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from villagewatch.config.village import Village
from villagewatch.contract import Clock, Decoded, Event, Reading, point_time_ns
from villagewatch.contract.control import StatusMessage
from villagewatch.db.database import Location
from villagewatch.detect.engine import DetectEngine
from villagewatch.detect.store import DetectStore, dump_states
from villagewatch.transitions import Transition

T0 = 1_795_000_000_000
MIN = 60_000

VILLAGE = Village.model_validate(
    {
        "id": "v",
        "name": "V",
        "town": "t",
        "grids": [{"id": "g", "name": "G"}],
        "devices": [
            {
                "id": "wl-1",
                "kind": "water_level",
                "grid": "g",
                "name": "Bridge gauge",
                "interval_s": 60,
                "agent": "edge-1",
            },
            {
                "id": "lock-1",
                "kind": "smart_lock",
                "grid": "g",
                "interval_s": 3600,
                "agent": "edge-1",
            },
            {
                "id": "sos-1",
                "kind": "call_button",
                "grid": "g",
                "interval_s": 3600,
                "agent": "edge-2",
            },
        ],
        "houses": [
            {
                "id": "a1",
                "lock": "lock-1",
                "tenants": [{"id": "t1", "name": "Zhang San", "credentials": [{"id": "card-1"}]}],
            }
        ],
        "detect": {
            "devices": {"wl-1": {"level": {"warning_cm": 250, "hold_s": 0, "blue_margin_cm": 0}}},
        },
    }
)


def level(
    minute: float, value: float, seq: int, *, boot: str = "b", historical: bool = False
) -> Reading:
    ms = T0 + int(minute * MIN)
    return Reading("v", "g", "wl-1", "water_level", point_time_ns(ms, boot, seq), seq, boot,
                   {"level_cm": value}, Clock.SYNCED, historical, False, ms)  # fmt: skip


def lock_event(minute: float, type_: str, seq: int, **attrs: Any) -> Event:
    ms = T0 + int(minute * MIN)
    return Event("v", "g", "lock-1", "smart_lock", point_time_ns(ms, "b", seq), seq, "b", type_,
                 attrs, Clock.SYNCED, False, False, ms)  # fmt: skip


def engine() -> DetectEngine:
    return DetectEngine([VILLAGE], now_ms=T0)


def kinds(ts: list[Transition]) -> list[tuple[str, str]]:
    return [(t.key.kind, t.action) for t in ts]


def test_a_redelivered_message_is_processed_once() -> None:
    e = engine()
    message = Decoded([level(0, 260, 1)], [], 0)
    assert kinds(e.handle(message, T0)) == [("level", "fire")]
    assert e.handle(message, T0) == []
    assert e.counts.duplicates == 1


def test_a_new_boot_starts_the_sequence_again() -> None:
    e = engine()
    e.handle(Decoded([level(0, 100, 5)], [], 0), T0)
    assert kinds(e.handle(Decoded([level(1, 260, 1, boot="b2")], [], 0), T0)) == [("level", "fire")]


def test_events_may_overtake_readings_by_a_little() -> None:
    """Readings and events travel on different topics; a late event is not taken for a duplicate."""
    e = engine()
    e.handle(Decoded([], [lock_event(0, "wrong_code", 10)], 0), T0)
    assert e.handle(Decoded([], [lock_event(0, "unlock", 8, credential="card-9")], 0), T0) != []


def test_a_backlog_batch_is_processed_in_device_time_and_says_it_is_historical() -> None:
    e = engine()
    batch = [
        level(3, 100, 4, historical=True),
        level(1, 260, 2, historical=True),
        level(2, 270, 3, historical=True),
    ]
    out = e.handle(Decoded(batch, [], 0), T0 + 10 * MIN)
    assert kinds(out) == [("level", "fire"), ("level", "clear")]
    assert all(t.historical for t in out)
    assert out[0].at_ms == T0 + 1 * MIN


def test_the_rental_registry_decides_whose_card_it_is() -> None:
    e = engine()
    assert e.handle(Decoded([], [lock_event(0, "unlock", 1, credential="card-1")], 0), T0) == []
    out = e.handle(Decoded([], [lock_event(1, "unlock", 2, credential="card-7")], 0), T0)
    assert kinds(out) == [("unregistered_credential", "fire")]
    assert "Zhang" not in out[0].message, "tenants' names stay out of alerts"


def test_silence_and_an_edge_agents_last_will() -> None:
    e = engine()
    e.handle(Decoded([level(0, 100, 1)], [], 0), T0)
    assert e.tick(T0 + 2 * MIN) == []
    out = e.status(
        "v", StatusMessage(v=1, device="edge-1", state="offline", devices=["wl-1"]), T0 + 3 * MIN
    )
    assert kinds(out) == [("link_down", "fire")]
    out = e.handle(Decoded([level(5, 100, 2)], [], 0), T0 + 5 * MIN)
    assert kinds(out) == [("link_down", "clear")]


def test_an_offline_devices_alerts_wait_for_its_data() -> None:
    e = engine()
    codes = [lock_event(0.1 * i, "wrong_code", i) for i in range(5)]
    assert kinds(e.handle(Decoded([], codes, 0), T0)) == [("wrong_codes", "fire")]
    e.status(
        "v", StatusMessage(v=1, device="edge-1", state="offline", devices=["lock-1"]), T0 + MIN
    )
    assert e.tick(T0 + 10 * MIN) == [], "silence is no proof the wrong codes stopped"
    e.handle(Decoded([], [lock_event(11, "lock", 5)], 0), T0 + 11 * MIN)
    assert ("wrong_codes", "clear") in kinds(e.tick(T0 + 12 * MIN))


def test_state_saved_and_restored_neither_refires_nor_forgets(
    relational: Callable[[str], Location],
) -> None:
    async def main() -> None:
        first = engine()
        fired = first.handle(Decoded([level(0, 260, 1)], [], 0), T0)
        store = DetectStore(relational("detect"))
        await store.commit(dump_states(first.dirty_states()), fired)
        await store.close()

        store = DetectStore(relational("detect"))
        second = engine()
        assert second.restore(store.load_states(), now_ms=T0) >= 1
        assert second.handle(Decoded([level(0, 260, 1)], [], 0), T0) == [], "already processed"
        assert second.handle(Decoded([level(1, 262, 2)], [], 0), T0) == [], "still firing"
        cleared = second.handle(Decoded([level(2, 100, 3)], [], 0), T0)
        assert kinds(cleared) == [("level", "clear")]
        assert [a["kind"] for a in await store.firing()] == ["level"]
        await store.commit(dump_states(second.dirty_states()), cleared)
        assert await store.firing() == []
        await store.close()

    asyncio.run(main())


def test_the_store_records_each_transition_once(relational: Callable[[str], Location]) -> None:
    async def main() -> None:
        e = engine()
        fired = e.handle(Decoded([level(0, 260, 1)], [], 0), T0)
        store = DetectStore(relational("detect"))
        assert await store.commit({}, fired) == 1
        assert await store.commit({}, fired) == 0
        await store.close()

    asyncio.run(main())


def test_an_agent_speaks_only_for_its_own_devices() -> None:
    """edge-2 owns sos-1 only: its last will cannot take wl-1 (edge-1's) off the watch."""
    e = engine()
    will = StatusMessage(v=1, device="edge-2", state="offline", devices=["wl-1", "sos-1"])
    (down,) = e.status("v", will, T0)
    assert down.details["devices"] == ["sos-1"]
    assert e.counts.not_owned == 1
    e.tick(T0 + 4 * MIN)
    assert ("device_offline", "fire") in kinds(e.tick(T0 + 6 * MIN)), "wl-1 is still watched"


def test_a_status_from_no_agent_of_the_village_is_ignored() -> None:
    e = engine()
    will = StatusMessage(v=1, device="wl-1", state="offline", devices=["wl-1"])
    assert e.status("v", will, T0) == []
    assert e.counts.unknown == 1
