"""Property: for every detector family, any single message the decoder accepts — at the
extremes of what it accepts (timestamps, numbers, strings, sequence numbers, boot ids) —
followed by the normal story of that family, still raises the family's alert, and nothing
raises an exception on the way.

The hostile message and the story go through the contract's real decoder and the detect
engine, exactly as in ``villagewatch detect``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, get_args

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from villagewatch.config.village import Village
from villagewatch.contract import DeadLetter, Decoded, Decoder, DeviceInfo, DeviceKind
from villagewatch.contract.payloads import MAX_AGE_MS, SmartLockEvent
from villagewatch.detect.engine import DetectEngine
from villagewatch.transitions import Transition

NOW = 1_795_000_000_000
MIN = 60_000
SAFE = 2**53
EARLIEST = 1_577_836_800_000

DEVICES: dict[str, DeviceKind] = {
    "wl-level": DeviceKind.WATER_LEVEL,
    "wl-rise": DeviceKind.WATER_LEVEL,
    "wl-health": DeviceKind.WATER_LEVEL,
    "wl-offline": DeviceKind.WATER_LEVEL,
    "rain-1": DeviceKind.RAIN_GAUGE,
    "lock-1": DeviceKind.SMART_LOCK,
    "sos-1": DeviceKind.CALL_BUTTON,
    "cam-1": DeviceKind.CAMERA,
}
VILLAGE = Village.model_validate(
    {
        "id": "v",
        "name": "V",
        "town": "t",
        "grids": [{"id": "g", "name": "G"}],
        "devices": [
            {"id": d, "kind": k.value, "grid": "g", "interval_s": 60} for d, k in DEVICES.items()
        ],
        "houses": [
            {
                "id": "h1",
                "lock": "lock-1",
                "tenants": [{"id": "t1", "name": "T", "credentials": [{"id": "card-1"}]}],
            }
        ],
        "detect": {
            "devices": {
                "wl-level": {"level": {"warning_cm": 250, "hold_s": 0, "blue_margin_cm": 0}},
                "wl-rise": {"rise": {"window_s": 1800, "rise_cm": 50}},
                "wl-health": {"health": {"sensor_min": 0, "sensor_max": 1000}},
            }
        },
    }
)
DECODER = Decoder(devices={("v", d): DeviceInfo("g", k) for d, k in DEVICES.items()})

# --- the extremes the decoder accepts ------------------------------------------------------

identifiers = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True) | st.sampled_from(
    ["0", "z" * 64, "a-", "0_"]
)
timestamps = st.one_of(
    st.sampled_from(
        [
            -SAFE,
            -1,
            0,
            1,
            EARLIEST - 1,
            EARLIEST,
            NOW - 1,
            NOW,
            NOW + 299_999,
            NOW + 300_001,
            NOW + 365 * 24 * 60 * MIN,
            SAFE - 1,
            SAFE,
        ]
    ),
    st.integers(-SAFE, SAFE),
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - naive bounds: hypothesis adds the zone
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.just(UTC),
    ).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999+14:00"]),
)
sequences = st.sampled_from([0, 1, 2**53, 2**63 - 1]) | st.integers(0, 2**63 - 1)
levels = st.sampled_from([100_000.0, -100_000.0, 5e-324, 0.0, -0.0]) | st.floats(-100_000, 100_000)
seconds = st.sampled_from([0.0, float(366 * 86400)]) | st.floats(0, 366 * 86400)
ages = st.sampled_from([0, MAX_AGE_MS]) | st.integers(0, MAX_AGE_MS)
percent = st.floats(0, 100)
fractions = st.floats(0, 1)


def items(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """An item with the given fields, stamped with a device time, an age, or nothing."""
    base = {"seq": sequences, "clock": st.sampled_from(["synced", "unsynced"])}
    when: st.SearchStrategy[dict[str, Any]] = st.one_of(
        st.fixed_dictionaries({"ts": timestamps}),
        st.fixed_dictionaries({"age_ms": ages}),
        st.just({}),
    )
    return st.builds(
        lambda item, time: {**item, **time}, st.fixed_dictionaries({**base, **fields}), when
    )


LOCK_EVENT = items(
    {
        "type": st.sampled_from(get_args(SmartLockEvent.model_fields["type"].annotation)),
        "credential": identifiers,
        "method": st.sampled_from(["code", "card", "unknown"]),
        "duration_s": seconds,
        "battery": percent,
    }
)
CAMERA_EVENT = items(
    {
        "type": st.sampled_from(["detection", "cleared"]),
        "detection": st.sampled_from(["illegal_parking", "exposed_garbage", "street_vending"]),
        "zone": identifiers,
        "box": st.tuples(fractions, fractions, fractions, fractions),
        "score": fractions,
        "dwell_s": seconds,
        "evidence": identifiers,
    }
)


def message(device: str, channel: str, item: st.SearchStrategy[dict[str, Any]]) -> Any:
    field = "reading" if channel == "telemetry" else "event"
    return st.builds(
        lambda boot, historical, batch: (
            device,
            channel,
            {
                "v": 1,
                "device": device,
                "boot": boot,
                "historical": historical,
                **({field + "s": batch} if len(batch) > 1 else {field: batch[0]}),
            },
        ),
        identifiers,
        st.booleans(),
        st.lists(item, min_size=1, max_size=3),
    )


# --- feeding the engine -------------------------------------------------------------------


class Run:
    """An engine, and every transition it decided."""

    def __init__(self) -> None:
        self.engine = DetectEngine([VILLAGE], now_ms=NOW - 10 * MIN)
        self.out: list[Transition] = []

    def send(self, device: str, channel: str, body: dict[str, Any], received_ms: int) -> None:
        topic = f"vw/v1/v/{device}/{channel}"
        decoded = DECODER.decode(topic, orjson.dumps(body), received_ms * 1_000_000)
        if isinstance(decoded, Decoded):
            self.out += self.engine.handle(decoded, received_ms)
        else:
            assert isinstance(decoded, DeadLetter)

    def item(self, device: str, channel: str, seq: int, at: int, **fields: Any) -> None:
        field = "reading" if channel == "telemetry" else "event"
        item = {"seq": seq, "ts": at, "clock": "synced", **fields}
        self.send(device, channel, {"v": 1, "device": device, "boot": "b1", field: item}, at)

    def tick(self, at: int) -> None:
        self.out += self.engine.tick(at)
        assert self.engine.failures == []

    def fired(self, subject: str, kind: str) -> bool:
        """The alert fired at some point and is on at the end."""
        mine = [t for t in self.out if t.key.subject == subject and t.key.kind == kind]
        return any(t.action == "fire" for t in mine) and mine[-1].action != "clear"


def river(device: str, run: Run) -> None:
    """Twenty quiet minutes at 120 cm, then a flood rising 5 cm a minute to 300 cm."""
    levels = [120.0 + (i % 3) * 0.3 for i in range(20)] + [120.0 + 5 * i for i in range(1, 37)]
    for i, level in enumerate(levels):
        run.item(device, "telemetry", 1000 + i, NOW + i * MIN, level_cm=level)


def level_flood(run: Run) -> None:
    river("wl-level", run)


def fast_rise(run: Run) -> None:
    river("wl-rise", run)


def sensor_out_of_range(run: Run) -> None:
    for i in range(5):
        run.item("wl-health", "telemetry", 1000 + i, NOW + i * MIN, level_cm=100.0)
    run.item("wl-health", "telemetry", 1010, NOW + 6 * MIN, level_cm=2000.0)


def downpour(run: Run) -> None:
    for i in range(10):
        run.item("rain-1", "telemetry", 1000 + i, NOW + i * MIN, mm=20.0)


def wrong_codes(run: Run) -> None:
    for i in range(5):
        run.item("lock-1", "event", 1000 + i, NOW + i * 1000, type="wrong_code")


def sos_press(run: Run) -> None:
    run.item("sos-1", "event", 1000, NOW + 11 * MIN, type="sos")


def garbage_in_zone(run: Run) -> None:
    run.item("cam-1", "event", 1000, NOW, type="detection", detection="exposed_garbage",
             zone="road")  # fmt: skip


def falls_silent(run: Run) -> None:
    run.item("wl-offline", "telemetry", 1000, NOW, level_cm=100.0)
    for minute in range(0, 30, 5):  # the others keep reporting
        for device in ("wl-level", "wl-rise", "wl-health", "rain-1", "lock-1", "sos-1", "cam-1"):
            channel, values = "telemetry", {"level_cm": 100.0}
            if device == "rain-1":
                values = {"mm": 0.0}
            elif device in ("lock-1", "sos-1"):
                values = {"battery": 90.0}
            elif device == "cam-1":
                values = {"fps": 5.0}
            run.item(device, channel, 2000 + minute, NOW + minute * MIN, **values)
        run.tick(NOW + minute * MIN)


Family = tuple[Any, Callable[[Run], None], str, str]
FAMILIES: dict[str, Family] = {
    "level": (
        message("wl-level", "telemetry", items({"level_cm": levels})),
        level_flood, "wl-level", "level",
    ),
    "rise": (
        message("wl-rise", "telemetry", items({"level_cm": levels})),
        fast_rise, "wl-rise", "rise",
    ),
    "health": (
        message("wl-health", "telemetry", items({"level_cm": levels})),
        sensor_out_of_range, "wl-health", "range:level_cm",
    ),
    "rain": (
        message("rain-1", "telemetry", items({"mm": st.floats(0, 2000)})),
        downpour, "rain-1", "rain",
    ),
    "lock": (message("lock-1", "event", LOCK_EVENT), wrong_codes, "lock-1", "wrong_codes"),
    "sos": (message("sos-1", "event", items({"type": st.just("sos")})), sos_press, "sos-1", "sos"),
    "camera": (
        message("cam-1", "event", CAMERA_EVENT), garbage_in_zone, "cam-1:road", "exposed_garbage"
    ),
    "offline": (
        message("wl-offline", "telemetry", items({"level_cm": levels})),
        falls_silent, "wl-offline", "device_offline",
    ),
}  # fmt: skip


def check(family: str, hostile: tuple[str, str, dict[str, Any]], received_offset: int) -> None:
    _, story, subject, kind = FAMILIES[family]
    run = Run()
    device, channel, body = hostile
    run.send(device, channel, body, NOW - MIN + received_offset)
    story(run)
    assert run.fired(subject, kind), [
        (t.key.kind, t.action, t.message) for t in run.out if t.key.subject == subject
    ]


@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), offset=st.integers(-MIN, MIN))
def test_the_alert_survives_any_one_accepted_message(
    family: str, data: st.DataObject, offset: int
) -> None:
    check(family, data.draw(FAMILIES[family][0], label="hostile"), offset)
