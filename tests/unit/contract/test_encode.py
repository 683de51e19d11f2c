"""The encoder and the decoder agree: what a producer writes decodes to the very records it
meant, and every topic it names parses back to its parts."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from villagewatch.contract import (
    Channel,
    Clock,
    DeadLetter,
    Decoded,
    Decoder,
    DeviceInfo,
    DeviceKind,
    Topic,
    decode_status,
    encode_items,
    encode_status,
    parse_topic,
    point_time_ns,
    topic_for,
)

NOW_MS = 1_795_000_000_000
NOW_NS = NOW_MS * 1_000_000
DECODER = Decoder(
    devices={
        ("dongcun", "wl-1"): DeviceInfo("g1", DeviceKind.WATER_LEVEL),
        ("dongcun", "lock-1"): DeviceInfo("g3", DeviceKind.SMART_LOCK),
        ("dongcun", "cam-1"): DeviceInfo("g2", DeviceKind.CAMERA),
    }
)


def _readings(n: int) -> list[dict[str, Any]]:
    return [
        {"seq": 40 + i, "ts": NOW_MS - 1000 * i, "clock": "synced", "level_cm": 120.5 + i}
        for i in range(n)
    ]


def _decoded(device: str, channel: Channel, payload: bytes) -> Decoded:
    out = DECODER.decode(topic_for("dongcun", device, channel), payload, NOW_NS)
    assert isinstance(out, Decoded), out
    return out


@pytest.mark.parametrize(
    ("count", "historical"),
    [
        pytest.param(1, False, id="one-live-reading"),
        pytest.param(1, True, id="one-backlog-reading"),
        pytest.param(5, False, id="live-batch"),
        pytest.param(5, True, id="backlog-batch"),
    ],
)
def test_encoded_readings_decode_to_the_same_records(count: int, historical: bool) -> None:
    items = _readings(count)
    payload = encode_items(
        device="wl-1", boot="b7", channel=Channel.TELEMETRY, items=items, historical=historical
    )
    decoded = _decoded("wl-1", Channel.TELEMETRY, payload)
    assert [
        (r.village, r.grid, r.device, r.seq, r.boot, r.values, r.clock, r.historical, r.time_ns)
        for r in decoded.readings
    ] == [
        ("dongcun", "g1", "wl-1", i["seq"], "b7", {"level_cm": i["level_cm"]}, Clock.SYNCED,
         historical, point_time_ns(i["ts"], "b7", i["seq"]))
        for i in items
    ]  # fmt: skip
    assert decoded.events == [] and decoded.rescued == 0


def test_encoded_events_decode_to_the_same_records() -> None:
    items = [
        {"seq": 3, "ts": NOW_MS, "clock": "synced", "type": "unlock", "credential": "card-2",
         "method": "card"},
        {"seq": 4, "age_ms": 2500, "clock": "unsynced", "type": "wrong_code"},
    ]  # fmt: skip
    payload = encode_items(device="lock-1", boot="b2", channel=Channel.EVENT, items=items)
    events = _decoded("lock-1", Channel.EVENT, payload).events
    assert [(e.seq, e.type, e.attrs, e.clock, e.device_ts_ms) for e in events] == [
        (3, "unlock", {"credential": "card-2", "method": "card"}, Clock.SYNCED, NOW_MS),
        (4, "wrong_code", {}, Clock.UNSYNCED, NOW_MS - 2500),
    ]


def test_only_telemetry_and_events_carry_items() -> None:
    with pytest.raises(ValueError, match="carries no readings"):
        encode_items(device="cam-1", boot="b", channel=Channel.STATUS, items=_readings(1))
    with pytest.raises(ValueError, match="at least one item"):
        encode_items(device="wl-1", boot="b", channel=Channel.TELEMETRY, items=[])


@pytest.mark.parametrize("state", ["online", "offline"])
def test_encoded_status_decodes_to_the_same_message(state: Literal["online", "offline"]) -> None:
    payload = encode_status(
        device="edge-1", state=state, boot="b9", ts_ms=NOW_MS, devices=["wl-1", "cam-1"]
    )
    out = decode_status(topic_for("dongcun", "edge-1", Channel.STATUS), payload, NOW_NS)
    assert not isinstance(out, DeadLetter), out
    village, message = out
    assert village == "dongcun"
    assert (message.device, message.state, message.boot, message.ts, message.devices) == (
        "edge-1", state, "b9", NOW_MS, ["wl-1", "cam-1"],
    )  # fmt: skip


@pytest.mark.parametrize("channel", list(Channel), ids=str)
def test_topic_for_and_parse_topic_are_inverse(channel: Channel) -> None:
    evidence_id = "ev-1" if channel is Channel.EVIDENCE else None
    topic = topic_for("dongcun", "cam-1", channel, evidence_id=evidence_id)
    assert parse_topic(topic) == Topic("dongcun", "cam-1", channel, evidence_id)
    assert str(parse_topic(topic)) == topic
