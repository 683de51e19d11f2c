"""No single accepted message mutes a device: wrong clocks, extreme sequence numbers, poison.

Messages go through the contract's real decoder (the same verdicts as the
ingester), then the detect engine; what matters is that the flood or the lock
sequence that follows the hostile message still raises its alert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from villagewatch.config.village import Village
from villagewatch.contract import Decoded, Decoder, DeviceInfo, DeviceKind
from villagewatch.detect.engine import DetectEngine
from villagewatch.transitions import Transition

NOW = 1_795_000_000_000
MIN = 60_000
HOUR = 60 * MIN

VILLAGE = Village.model_validate(
    {
        "id": "v",
        "name": "V",
        "town": "t",
        "grids": [{"id": "g", "name": "G"}],
        "devices": [
            {"id": "wl-1", "kind": "water_level", "grid": "g", "interval_s": 60},
            {"id": "lock-1", "kind": "smart_lock", "grid": "g", "interval_s": 3600},
            {"id": "sos-1", "kind": "call_button", "grid": "g", "interval_s": 3600},
        ],
        "houses": [
            {
                "id": "a1",
                "lock": "lock-1",
                "tenants": [{"id": "t1", "name": "T", "credentials": [{"id": "card-1"}]}],
            }
        ],
        "detect": {
            "devices": {"wl-1": {"level": {"warning_cm": 250, "hold_s": 0, "blue_margin_cm": 0}}},
        },
    }
)
DECODER = Decoder(
    devices={
        ("v", "wl-1"): DeviceInfo("g", DeviceKind.WATER_LEVEL),
        ("v", "lock-1"): DeviceInfo("g", DeviceKind.SMART_LOCK),
        ("v", "sos-1"): DeviceInfo("g", DeviceKind.CALL_BUTTON),
    }
)


def decode(device: str, channel: str, item: dict[str, Any], received_ms: int) -> Decoded:
    field = "reading" if channel == "telemetry" else "event"
    body = {"v": 1, "device": device, "boot": "b1", field: {"clock": "synced", **item}}
    out = DECODER.decode(f"vw/v1/v/{device}/{channel}", orjson.dumps(body), received_ms * 10**6)
    assert isinstance(out, Decoded), out
    return out


def kinds(ts: list[Transition]) -> list[tuple[str, str]]:
    return [(t.key.kind, t.action) for t in ts]


def flood(engine: DetectEngine, *, first_seq: int = 1) -> list[Transition]:
    """Ten minutes of a gauge rising through its warning level, one reading a minute."""
    out: list[Transition] = []
    for i in range(10):
        at = NOW + i * MIN
        item = {"seq": first_seq + i, "ts": at, "level_cm": 200.0 + 10 * i}
        out += engine.handle(decode("wl-1", "telemetry", item, at), at)
    return out


def test_one_reading_an_hour_ahead_does_not_mute_the_gauge() -> None:
    """The store keeps it at its receive time; so must the detectors."""
    e = DetectEngine([VILLAGE], now_ms=NOW)
    ahead = decode("wl-1", "telemetry", {"seq": 0, "ts": NOW + HOUR, "level_cm": 120.0}, NOW)
    assert ahead.readings[0].rescued
    e.handle(ahead, NOW)
    assert ("level", "fire") in kinds(flood(e, first_seq=1))


def test_a_gauge_muted_by_an_earlier_version_is_heard_again_after_a_restart() -> None:
    """State saved while a reading stamped far ahead was trusted must not mute after restore."""
    e = DetectEngine([VILLAGE], now_ms=NOW)
    e.handle(decode("wl-1", "telemetry", {"seq": 0, "ts": NOW, "level_cm": 120.0}, NOW), NOW)
    states = e.dirty_states()
    poisoned = states["v/wl-1"]["detectors"]
    poisoned["water_level"]["last_ms"] = NOW + 365 * 24 * HOUR
    poisoned["health"]["level_cm"]["last_ms"] = NOW + 365 * 24 * HOUR
    restarted = DetectEngine([VILLAGE], now_ms=NOW)
    restarted.restore(states.items(), now_ms=NOW)
    assert ("level", "fire") in kinds(flood(restarted, first_seq=1))


def test_a_sequence_number_of_2_63_minus_1_does_not_mute_the_gauge() -> None:
    e = DetectEngine([VILLAGE], now_ms=NOW)
    huge = decode("wl-1", "telemetry", {"seq": 2**63 - 1, "ts": NOW - MIN, "level_cm": 120.0}, NOW)
    e.handle(huge, NOW)
    assert ("level", "fire") in kinds(flood(e, first_seq=1))


def test_a_redelivered_copy_of_the_huge_sequence_number_is_still_a_duplicate() -> None:
    e = DetectEngine([VILLAGE], now_ms=NOW)
    huge = decode("wl-1", "telemetry", {"seq": 2**63 - 1, "ts": NOW, "level_cm": 260.0}, NOW)
    assert kinds(e.handle(huge, NOW)) == [("level", "fire")]
    flood(e, first_seq=1)
    e.handle(huge, NOW + 11 * MIN)
    assert e.counts.duplicates == 1


def test_the_sequence_memory_stays_bounded() -> None:
    e = DetectEngine([VILLAGE], now_ms=NOW)
    for seq in range(0, 20_000, 7):
        e.handle(decode("wl-1", "telemetry", {"seq": seq, "ts": NOW, "level_cm": 1.0}, NOW), NOW)
    seen = e.dirty_states()["v/wl-1"]["seen"]
    assert sum(len(seqs) for seqs in seen["readings"].values()) <= 128


def test_events_overtaking_a_long_telemetry_backlog_do_not_make_it_look_old() -> None:
    """The edge sends alarms before backlog: a lock's readings are not duplicates of its events."""
    e = DetectEngine([VILLAGE], now_ms=NOW)
    e.handle(decode("lock-1", "event", {"seq": 50_000, "ts": NOW, "type": "lock"}, NOW), NOW)
    backlog = decode("lock-1", "telemetry", {"seq": 10, "ts": NOW - HOUR, "battery": 5.0}, NOW)
    assert kinds(e.handle(backlog, NOW)) == [("low_battery", "fire")]
    assert e.counts.duplicates == 0


def test_a_lock_event_at_the_largest_timestamp_raises_nothing_and_mutes_nothing() -> None:
    """ts = 2**53 is a valid contract value; a date conversion of it overflowed inside detect."""
    e = DetectEngine([VILLAGE], now_ms=NOW)
    poison = {"seq": 1, "ts": 2**53, "type": "unlock", "credential": "card-9"}
    out = e.handle(decode("lock-1", "event", poison, NOW), NOW)
    assert kinds(out) == [("unregistered_credential", "fire")]
    codes = [
        decode("lock-1", "event", {"seq": 2 + i, "ts": NOW + i * 1000, "type": "wrong_code"}, NOW)
        for i in range(5)
    ]
    out = [t for d in codes for t in e.handle(d, NOW + 5000)]
    assert kinds(out) == [("wrong_codes", "fire")]


def test_an_sos_after_one_stamped_a_year_ahead_still_fires() -> None:
    e = DetectEngine([VILLAGE], now_ms=NOW)
    year = 365 * 24 * HOUR
    first = decode("sos-1", "event", {"seq": 1, "ts": NOW + year, "type": "sos"}, NOW)
    assert kinds(e.handle(first, NOW)) == [("sos", "fire")]
    later = NOW + 11 * MIN
    again = decode("sos-1", "event", {"seq": 2, "ts": later, "type": "sos"}, later)
    assert kinds(e.handle(again, later)) == [("sos", "fire")]


def test_a_message_the_detectors_fail_on_is_kept_acknowledged_and_skipped(tmp_path: Path) -> None:
    """A bug of ours on one message: counted, dead-lettered with its payload, acknowledged."""
    import asyncio

    from villagewatch.config import load_deployment
    from villagewatch.detect.service import DetectService
    from villagewatch.detect.store import DetectStore

    (tmp_path / "village.yaml").write_text(VILLAGE.model_dump_json(), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text('{"villages": ["village.yaml"]}', encoding="utf-8")
    deployment = load_deployment(tmp_path / "settings.yaml")

    class Broken(DetectEngine):
        def handle(self, decoded: Decoded, received_ms: int) -> list[Transition]:
            raise ZeroDivisionError("a bug")

    async def main() -> None:
        store = DetectStore(tmp_path / "detect.db")
        service = DetectService(deployment=deployment, store=store)
        await service.open()  # builds the MQTT client (not connected)
        service.engine = Broken([VILLAGE], now_ms=NOW)
        acked: list[list[int]] = []
        service._link.acknowledge = lambda acks: acked.append([mid for mid, _ in acks])  # type: ignore[method-assign]
        body = {"v": 1, "device": "sos-1", "boot": "b", "event": {"seq": 1, "ts": NOW,
                "clock": "synced", "type": "sos"}}  # fmt: skip
        service._on_message(7, 1, b"vw/v1/v/sos-1/event", orjson.dumps(body))
        await service._commit()
        assert acked == [[7]]
        (letter,) = await store.dead_letters()
        assert letter.reason.value == "internal_error" and "ZeroDivisionError" in letter.detail
        assert letter.payload == orjson.dumps(body)
        assert service.metrics.failed.labels("message")._value.get() == 1
        await store.close()

    asyncio.run(main())


def test_a_detector_that_fails_as_time_passes_does_not_stop_the_others() -> None:
    e = DetectEngine([VILLAGE], now_ms=NOW)
    broken = e._devices[("v", "lock-1")].detectors

    def boom(now_ms: int) -> list[Transition]:
        raise OverflowError("a bug")

    broken.tick = boom  # type: ignore[method-assign]
    e.handle(decode("wl-1", "telemetry", {"seq": 1, "ts": NOW, "level_cm": 1.0}, NOW), NOW)
    out = e.tick(NOW + 60 * MIN) + e.tick(NOW + 70 * MIN)
    assert ("device_offline", "fire") in kinds(out), "the village's offline watch went on"
    assert {owner for owner, _ in e.failures} == {"v/lock-1"}


def test_a_damaged_saved_state_starts_that_device_afresh_and_the_rest_restores() -> None:
    e = DetectEngine([VILLAGE], now_ms=NOW)
    e.handle(decode("wl-1", "telemetry", {"seq": 1, "ts": NOW, "level_cm": 260.0}, NOW), NOW)
    e.handle(decode("sos-1", "event", {"seq": 1, "ts": NOW, "type": "sos"}, NOW), NOW)
    states = e.dirty_states()
    states["v/sos-1"] = {"seen": {"readings": {}}, "detectors": {"sos": None}}
    restarted = DetectEngine([VILLAGE], now_ms=NOW)
    assert restarted.restore(states.items(), now_ms=NOW) == len(states) - 1
    assert restarted.counts.unrestorable == 1
    later = NOW + MIN
    item = {"seq": 2, "ts": later, "level_cm": 262.0}
    assert restarted.handle(decode("wl-1", "telemetry", item, later), later) == [], "still firing"
    sos = decode("sos-1", "event", {"seq": 2, "ts": later, "type": "sos"}, later)
    assert kinds(restarted.handle(sos, later)) == [("sos", "fire")]
