"""Decoding messages: what is accepted becomes records, everything else a dead letter with a reason."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from villagewatch.contract import (
    Clock,
    DeadLetter,
    Decoded,
    Decoder,
    DeviceInfo,
    DeviceKind,
    RejectReason,
    TimePolicy,
    point_time_ns,
)

NOW_MS = 1_795_000_000_000  # 2026-11-19
NOW_NS = NOW_MS * 1_000_000
DEVICES = {
    ("dongcun", "wl-1"): DeviceInfo("g1", DeviceKind.WATER_LEVEL),
    ("dongcun", "rain-1"): DeviceInfo("g1", DeviceKind.RAIN_GAUGE),
    ("dongcun", "lock-1"): DeviceInfo("g3", DeviceKind.SMART_LOCK),
    ("dongcun", "cam-1"): DeviceInfo("g2", DeviceKind.CAMERA),
    ("dongcun", "sos-1"): DeviceInfo("g2", DeviceKind.CALL_BUTTON),
}
DECODER = Decoder(devices=DEVICES, max_bytes=4096, time_policy=TimePolicy())


def msg(device: str = "wl-1", **item: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"seq": 7, "ts": NOW_MS, "clock": "synced"}
    base.update(item)
    return {"v": 1, "device": device, "boot": "b1", "reading": base}


def decode(topic: str, body: dict[str, Any] | bytes) -> Decoded | DeadLetter:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return DECODER.decode(topic, payload, NOW_NS)


T = "vw/v1/dongcun/wl-1/telemetry"


def test_single_reading_becomes_one_record_with_topic_place_and_registry_kind() -> None:
    out = decode(T, msg(level_cm=123.4, battery=87))
    assert isinstance(out, Decoded)
    (r,) = out.readings
    assert (r.village, r.grid, r.device, r.kind) == ("dongcun", "g1", "wl-1", "water_level")
    assert r.values == {"level_cm": 123.4, "battery": 87.0}
    assert (r.seq, r.boot, r.clock, r.historical, r.rescued) == (
        7,
        "b1",
        Clock.SYNCED,
        False,
        False,
    )
    assert r.time_ns == point_time_ns(NOW_MS, "b1", 7)
    assert r.device_ts_ms == NOW_MS


def test_batch_of_readings_keeps_each_seq_and_the_historical_flag() -> None:
    items = [
        {"seq": i, "ts": NOW_MS - 60_000 * (10 - i), "clock": "unsynced", "mm": 0.2}
        for i in range(10)
    ]
    body = {"v": 1, "device": "rain-1", "boot": "b2", "historical": True, "readings": items}
    out = decode("vw/v1/dongcun/rain-1/telemetry", body)
    assert isinstance(out, Decoded)
    assert [r.seq for r in out.readings] == list(range(10))
    assert all(r.historical and r.clock is Clock.UNSYNCED for r in out.readings)
    assert len({r.time_ns for r in out.readings}) == 10


def test_rfc3339_timestamps_are_read_to_the_millisecond() -> None:
    out = decode(T, msg(ts="2026-11-19T08:00:00.123456+08:00", level_cm=1))
    assert isinstance(out, Decoded)
    assert out.readings[0].device_ts_ms == 1_795_046_400_123  # 00:00:00.123Z


@pytest.mark.parametrize(
    "ts",
    [
        pytest.param(0, id="1970"),
        pytest.param(1_500_000_000_000, id="2017"),
        pytest.param(NOW_MS + 3_600_000, id="an-hour-ahead"),
        pytest.param(-5, id="before-1970"),
        pytest.param("2099-01-01T00:00:00Z", id="far-future-string"),
    ],
)
def test_implausible_device_time_is_stamped_on_receipt_and_marked(ts: int | str) -> None:
    out = decode(T, msg(ts=ts, level_cm=1))
    assert isinstance(out, Decoded)
    (r,) = out.readings
    assert r.rescued and out.rescued == 1
    assert r.time_ns == point_time_ns(NOW_MS, "b1", 7)


def test_clock_a_little_ahead_is_plausible() -> None:
    out = decode(T, msg(ts=NOW_MS + 60_000, level_cm=1))
    assert isinstance(out, Decoded) and not out.readings[0].rescued


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        pytest.param(
            "vw/v1/dongcun/lock-1/event",
            {
                "v": 1,
                "device": "lock-1",
                "boot": "b",
                "event": {
                    "seq": 1,
                    "ts": NOW_MS,
                    "clock": "synced",
                    "type": "unlock",
                    "credential": "card-3",
                    "method": "card",
                },
            },
            id="lock-unlock",
        ),
        pytest.param(
            "vw/v1/dongcun/cam-1/event",
            {
                "v": 1,
                "device": "cam-1",
                "boot": "b",
                "event": {
                    "seq": 1,
                    "ts": NOW_MS,
                    "clock": "synced",
                    "type": "detection",
                    "detection": "illegal_parking",
                    "zone": "fire-lane",
                    "box": [0.1, 0.2, 0.3, 0.4],
                    "score": 0.9,
                    "dwell_s": 320,
                    "evidence": "evt-1",
                },
            },
            id="camera-detection",
        ),
        pytest.param(
            "vw/v1/dongcun/sos-1/event",
            {
                "v": 1,
                "device": "sos-1",
                "boot": "b",
                "events": [{"seq": 1, "ts": NOW_MS, "clock": "synced", "type": "sos"}],
            },
            id="sos-batch",
        ),
    ],
)
def test_events_keep_their_type_and_attributes(topic: str, body: dict[str, Any]) -> None:
    out = decode(topic, body)
    assert isinstance(out, Decoded)
    (e,) = out.events
    item = body.get("event") or body["events"][0]
    assert e.type == item["type"]
    for key, value in item.items():
        if key in ("seq", "ts", "clock", "type"):
            continue
        expected = ",".join(map(str, value)) if isinstance(value, list) else value
        assert e.attrs[key] == expected


HUGE = "x" * 5000


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        pytest.param(T, b"{not json", RejectReason.BAD_JSON, id="broken-json"),
        pytest.param(T, b"", RejectReason.BAD_JSON, id="empty"),
        pytest.param(
            T,
            b'{"v":1,"device":"wl-1","boot":"b","reading":{"seq":1,"ts":1,"clock":"synced","level_cm":1}}\xff',
            RejectReason.BAD_JSON,
            id="trailing-garbage",
        ),
        pytest.param(
            T, b'{"v":1,"device":"w\xffl","boot":"b"}', RejectReason.BAD_JSON, id="invalid-utf8"
        ),
        pytest.param(T, b"[1,2,3]", RejectReason.INVALID_PAYLOAD, id="array-not-object"),
        pytest.param(
            T,
            orjson.dumps(msg(level_cm="12")),
            RejectReason.INVALID_PAYLOAD,
            id="string-for-number",
        ),
        pytest.param(
            T, orjson.dumps(msg(level_cm=True)), RejectReason.INVALID_PAYLOAD, id="bool-for-number"
        ),
        pytest.param(
            T, orjson.dumps(msg(seq=1.5, level_cm=1)), RejectReason.INVALID_PAYLOAD, id="float-seq"
        ),
        pytest.param(
            T,
            orjson.dumps(msg(seq=-1, level_cm=1)),
            RejectReason.INVALID_PAYLOAD,
            id="negative-seq",
        ),
        pytest.param(
            T,
            b'{"v":1,"device":"wl-1","boot":"b","reading":{"seq":18446744073709551616,"ts":1,"clock":"synced","level_cm":1}}',
            RejectReason.INVALID_PAYLOAD,
            id="huge-seq",
        ),
        pytest.param(
            T, orjson.dumps(msg(ts=2**60, level_cm=1)), RejectReason.INVALID_PAYLOAD, id="absurd-ts"
        ),
        pytest.param(
            T,
            orjson.dumps(msg(ts="yesterday", level_cm=1)),
            RejectReason.INVALID_PAYLOAD,
            id="words-ts",
        ),
        pytest.param(
            T,
            orjson.dumps(msg(ts="2026-11-19T08:00:00", level_cm=1)),
            RejectReason.INVALID_PAYLOAD,
            id="naive-ts",
        ),
        pytest.param(
            T,
            b'{"v":1,"device":"wl-1","boot":"b","reading":{"seq":1,"ts":1,"clock":"synced","level_cm":NaN}}',
            RejectReason.INVALID_PAYLOAD,
            id="nan",
        ),
        pytest.param(
            T,
            b'{"v":1,"device":"wl-1","boot":"b","reading":{"seq":1,"ts":1,"clock":"synced","level_cm":Infinity}}',
            RejectReason.INVALID_PAYLOAD,
            id="infinity",
        ),
        pytest.param(
            T,
            b'{"v":1,"device":"wl-1","boot":"b","reading":{"seq":1,"ts":1,"clock":"synced","level_cm":1e999}}',
            RejectReason.INVALID_PAYLOAD,
            id="overflow-float",
        ),
        pytest.param(
            T,
            orjson.dumps(msg(level_cm=1, battery=101)),
            RejectReason.INVALID_PAYLOAD,
            id="battery-over-100",
        ),
        pytest.param(
            T,
            orjson.dumps(msg(level_cm=1, colour="red")),
            RejectReason.INVALID_PAYLOAD,
            id="unknown-field",
        ),
        pytest.param(
            T, orjson.dumps(msg(mm=1)), RejectReason.INVALID_PAYLOAD, id="other-kinds-metric"
        ),
        pytest.param(
            T,
            orjson.dumps(msg(level_cm=1, clock="gps")),
            RejectReason.INVALID_PAYLOAD,
            id="unknown-clock",
        ),
        pytest.param(
            T,
            orjson.dumps({**msg(level_cm=1), "readings": [msg(level_cm=1)["reading"]]}),
            RejectReason.INVALID_PAYLOAD,
            id="reading-and-readings",
        ),
        pytest.param(
            T,
            orjson.dumps({"v": 1, "device": "wl-1", "boot": "b"}),
            RejectReason.INVALID_PAYLOAD,
            id="no-reading",
        ),
        pytest.param(
            T,
            orjson.dumps({"v": 1, "device": "wl-1", "boot": "b", "readings": []}),
            RejectReason.INVALID_PAYLOAD,
            id="empty-batch",
        ),
        pytest.param(
            T,
            orjson.dumps(
                {
                    "v": 1,
                    "device": "wl-1",
                    "boot": "b",
                    "readings": [{"seq": 1, "ts": 1, "clock": "synced", "level_cm": 1}] * 1001,
                }
            ),
            RejectReason.TOO_LARGE,
            id="batch-too-large-bytes",
        ),
        pytest.param(
            T,
            orjson.dumps({**msg(level_cm=1), "v": 2}),
            RejectReason.UNSUPPORTED_VERSION,
            id="version-2",
        ),
        pytest.param(
            T,
            orjson.dumps({k: v for k, v in msg(level_cm=1).items() if k != "v"}),
            RejectReason.UNSUPPORTED_VERSION,
            id="no-version",
        ),
        pytest.param(
            T,
            orjson.dumps(msg(device="wl-2", level_cm=1)),
            RejectReason.DEVICE_MISMATCH,
            id="device-not-topic",
        ),
        pytest.param(
            T,
            orjson.dumps(msg(device="wl+1", level_cm=1)),
            RejectReason.INVALID_PAYLOAD,
            id="wildcard-in-payload-device",
        ),
        pytest.param(
            T,
            orjson.dumps({**msg(level_cm=1), "boot": "$boot"}),
            RejectReason.INVALID_PAYLOAD,
            id="dollar-in-boot",
        ),
        pytest.param(
            T,
            orjson.dumps({**msg(level_cm=1), "boot": HUGE}),
            RejectReason.TOO_LARGE,
            id="huge-string",
        ),
        pytest.param(
            "vw/v1/dongcun/wl-9/telemetry",
            orjson.dumps(msg(device="wl-9", level_cm=1)),
            RejectReason.UNKNOWN_DEVICE,
            id="unknown-device",
        ),
        pytest.param(
            "vw/v1/xicun/wl-1/telemetry",
            orjson.dumps(msg(level_cm=1)),
            RejectReason.UNKNOWN_DEVICE,
            id="known-device-other-village",
        ),
        pytest.param(
            "vw/v1/$sys/wl-1/telemetry",
            orjson.dumps(msg(level_cm=1)),
            RejectReason.BAD_TOPIC,
            id="dollar-village-topic",
        ),
        pytest.param(
            "vw/v1/dongcun/wl-1/junk",
            orjson.dumps(msg(level_cm=1)),
            RejectReason.BAD_TOPIC,
            id="unknown-channel",
        ),
        pytest.param("other/topic", b"{}", RejectReason.BAD_TOPIC, id="foreign-topic"),
        pytest.param(
            "vw/v1/dongcun/wl-1/status",
            b"{}",
            RejectReason.UNEXPECTED_CHANNEL,
            id="status-is-not-data",
        ),
        pytest.param(
            "vw/v1/dongcun/wl-1/event",
            orjson.dumps(
                {
                    "v": 1,
                    "device": "wl-1",
                    "boot": "b",
                    "event": {"seq": 1, "ts": 1, "clock": "synced", "type": "sos"},
                }
            ),
            RejectReason.UNEXPECTED_CHANNEL,
            id="gauge-sends-no-events",
        ),
        pytest.param(
            "vw/v1/dongcun/lock-1/event",
            orjson.dumps(
                {
                    "v": 1,
                    "device": "lock-1",
                    "boot": "b",
                    "event": {"seq": 1, "ts": 1, "clock": "synced", "type": "explode"},
                }
            ),
            RejectReason.INVALID_PAYLOAD,
            id="unknown-lock-event",
        ),
        pytest.param(
            "vw/v1/dongcun/cam-1/telemetry",
            orjson.dumps(msg(device="cam-1")),
            RejectReason.INVALID_PAYLOAD,
            id="empty-camera-reading",
        ),
        pytest.param(
            "vw/v1/dongcun/cam-1/event",
            orjson.dumps(
                {
                    "v": 1,
                    "device": "cam-1",
                    "boot": "b",
                    "event": {
                        "seq": 1,
                        "ts": 1,
                        "clock": "synced",
                        "type": "detection",
                        "detection": "illegal_parking",
                        "zone": "z",
                        "box": [0, 0, 2, 1],
                    },
                }
            ),
            RejectReason.INVALID_PAYLOAD,
            id="box-outside-frame",
        ),
    ],
)
def test_bad_input_is_a_dead_letter_with_reason_topic_and_payload(
    topic: str, payload: bytes, reason: RejectReason
) -> None:
    out = DECODER.decode(topic, payload, NOW_NS)
    assert isinstance(out, DeadLetter), out
    assert out.reason is reason, out.detail
    assert out.topic == topic[:256]
    assert out.payload == payload[:512]
    assert out.received_ns == NOW_NS
    assert out.detail


def test_dead_letter_detail_names_the_field_and_never_echoes_the_input() -> None:
    out = decode(T, msg(level_cm="secret-value"))
    assert isinstance(out, DeadLetter)
    assert out.detail.startswith("reading.level_cm:")
    assert "secret-value" not in out.detail


def test_decode_is_deterministic_for_redelivered_messages() -> None:
    payload = orjson.dumps(msg(level_cm=5))
    first = DECODER.decode(T, payload, NOW_NS)
    again = DECODER.decode(T, payload, NOW_NS + 5_000_000_000)
    assert isinstance(first, Decoded) and isinstance(again, Decoded)
    assert first.readings == again.readings


# --- physical bounds per kind ---------------------------------------------------------------

SOS_T = "vw/v1/dongcun/sos-1/event"


def event(device: str, **item: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"seq": 7, "ts": NOW_MS, "clock": "synced"}
    base.update(item)
    return {"v": 1, "device": device, "boot": "b1", "event": base}


def untimed(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its item's ``ts`` taken out."""
    for key in ("event", "reading"):
        if key in body:
            del body[key]["ts"]
    return body


@pytest.mark.parametrize(
    ("topic", "body", "field"),
    [
        pytest.param(T, msg(level_cm=1e308), "reading.level_cm", id="level-1e308"),
        pytest.param(T, msg(level_cm=-100_001), "reading.level_cm", id="level-below-datum"),
        pytest.param(
            "vw/v1/dongcun/rain-1/telemetry", msg("rain-1", mm=2001), "reading.mm", id="rain"
        ),
        pytest.param(
            "vw/v1/dongcun/cam-1/telemetry", msg("cam-1", fps=1e9), "reading.fps", id="fps"
        ),
        pytest.param(
            "vw/v1/dongcun/cam-1/telemetry",
            msg("cam-1", free_spaces=10**12),
            "reading.free_spaces",
            id="free-spaces",
        ),
        pytest.param(
            "vw/v1/dongcun/cam-1/telemetry",
            msg("cam-1", occupied_spaces=10**12),
            "reading.occupied_spaces",
            id="occupied-spaces",
        ),
        pytest.param(
            "vw/v1/dongcun/lock-1/event",
            event("lock-1", type="door_ajar", duration_s=1e300),
            "event.duration_s",
            id="door-ajar-duration",
        ),
        pytest.param(
            "vw/v1/dongcun/cam-1/event",
            event("cam-1", type="detection", detection="illegal_parking", zone="z", dwell_s=1e300),
            "event.dwell_s",
            id="dwell",
        ),
        pytest.param(
            SOS_T,
            untimed(event("sos-1", type="sos", age_ms=10**15)),
            "event.age_ms",
            id="age",
        ),
    ],
)
def test_values_outside_physical_bounds_are_invalid_payload_naming_the_field(
    topic: str, body: dict[str, Any], field: str
) -> None:
    for fast_path in (True, False):
        decoder = Decoder(devices=DEVICES, fast_path=fast_path)
        out = decoder.decode(topic, orjson.dumps(body), NOW_NS)
        assert isinstance(out, DeadLetter), out
        assert out.reason is RejectReason.INVALID_PAYLOAD
        assert out.detail.startswith(field + ":"), out.detail


def test_values_at_the_physical_bounds_are_accepted() -> None:
    out = decode(T, msg(level_cm=-100_000, battery=100))
    assert isinstance(out, Decoded) and out.readings[0].values["level_cm"] == -100_000
    out = decode("vw/v1/dongcun/rain-1/telemetry", msg("rain-1", mm=2000))
    assert isinstance(out, Decoded)


# --- items without a device time: age_ms, or nothing ------------------------------------------


def test_an_event_with_age_is_stamped_receive_time_minus_age_and_marked() -> None:
    body = untimed(event("sos-1", type="sos", clock="unsynced", age_ms=1500))
    out = decode(SOS_T, body)
    assert isinstance(out, Decoded), out
    (e,) = out.events
    assert e.rescued and out.rescued == 1, "the time came from the centre"
    assert e.device_ts_ms == NOW_MS - 1500
    assert e.time_ns == point_time_ns(NOW_MS - 1500, "b1", 7)
    assert e.clock is Clock.UNSYNCED


def test_an_event_without_any_time_is_stamped_on_receipt_and_marked() -> None:
    body = untimed(event("sos-1", type="sos", clock="unsynced"))
    out = decode(SOS_T, body)
    assert isinstance(out, Decoded), out
    (e,) = out.events
    assert e.rescued and e.device_ts_ms == NOW_MS
    assert e.time_ns == point_time_ns(NOW_MS, "b1", 7)


def test_readings_with_age_go_through_pydantic_and_are_stamped_the_same_way() -> None:
    body = untimed(msg(level_cm=3, clock="unsynced", age_ms=60_000))
    for fast_path in (True, False):
        out = Decoder(devices=DEVICES, fast_path=fast_path).decode(T, orjson.dumps(body), NOW_NS)
        assert isinstance(out, Decoded), out
        (r,) = out.readings
        assert r.rescued and r.device_ts_ms == NOW_MS - 60_000
        assert r.time_ns == point_time_ns(NOW_MS - 60_000, "b1", 7)


def test_an_age_reaching_before_2020_is_stamped_on_receipt() -> None:
    """(Only a centre clock far behind makes this happen: ages are bounded.)"""
    decoder = Decoder(devices=DEVICES, time_policy=TimePolicy(earliest_ms=NOW_MS - 1000))
    body = untimed(event("sos-1", type="sos", clock="unsynced", age_ms=5000))
    out = decoder.decode(SOS_T, orjson.dumps(body), NOW_NS)
    assert isinstance(out, Decoded), out
    assert out.events[0].rescued
    assert out.events[0].time_ns == point_time_ns(NOW_MS, "b1", 7)


def test_ts_and_age_together_are_refused() -> None:
    out = decode(SOS_T, event("sos-1", type="sos", age_ms=5))
    assert isinstance(out, DeadLetter)
    assert out.reason is RejectReason.INVALID_PAYLOAD
    assert "ts" in out.detail and "age_ms" in out.detail
    out = decode(T, msg(level_cm=1, age_ms=5))
    assert isinstance(out, DeadLetter) and out.reason is RejectReason.INVALID_PAYLOAD


def test_a_resent_event_with_a_grown_age_is_the_same_item() -> None:
    """The edge resends an unacknowledged record with its age then: the centre's times differ
    by the transit, so the store finds the copy by its key (rescued items, see store/)."""
    first = untimed(event("sos-1", type="sos", clock="unsynced", age_ms=100))
    again = untimed(event("sos-1", type="sos", clock="unsynced", age_ms=5_100))
    a = DECODER.decode(SOS_T, orjson.dumps(first), NOW_NS)
    b = DECODER.decode(SOS_T, orjson.dumps(again), NOW_NS + 5_000_000_000)
    assert isinstance(a, Decoded) and isinstance(b, Decoded)
    assert a.events[0].key == b.events[0].key
    assert a.events[0].time_ns == b.events[0].time_ns
    assert a.events[0].rescued and b.events[0].rescued
