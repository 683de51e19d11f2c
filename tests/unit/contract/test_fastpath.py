"""The telemetry fast path never accepts what pydantic would refuse, and gives the same records."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from villagewatch.contract import DeadLetter, Decoded, Decoder, DeviceInfo, DeviceKind
from villagewatch.contract.fastpath import fast_telemetry

NOW_NS = 1_795_000_000_000 * 1_000_000
DEVICES = {("v", f"d-{k.value}"): DeviceInfo("g", k) for k in DeviceKind}
FAST = Decoder(devices=DEVICES)
SLOW = Decoder(devices=DEVICES, fast_path=False)

# Valid values per metric, by kind (bounds as in the models), and awkward ones to mutate with.
VALID: dict[DeviceKind, dict[str, st.SearchStrategy[Any]]] = {
    DeviceKind.WATER_LEVEL: {
        "level_cm": st.floats(-1e5, 1e5) | st.integers(-(10**5), 10**5),
        "battery": st.floats(0, 100) | st.integers(0, 100),
    },
    DeviceKind.RAIN_GAUGE: {
        "mm": st.floats(0, 500) | st.integers(0, 500),
        "battery": st.floats(0, 100),
    },
    DeviceKind.SMART_LOCK: {"battery": st.floats(0, 100) | st.integers(0, 100)},
    DeviceKind.CALL_BUTTON: {"battery": st.floats(0, 100)},
    DeviceKind.CAMERA: {"fps": st.floats(0, 30), "free_spaces": st.integers(0, 50)},
}
REQUIRED = {
    DeviceKind.WATER_LEVEL: {"level_cm"},
    DeviceKind.RAIN_GAUGE: {"mm"},
    DeviceKind.SMART_LOCK: {"battery"},
    DeviceKind.CALL_BUTTON: {"battery"},
    DeviceKind.CAMERA: set(),
}
AWKWARD: st.SearchStrategy[Any] = (
    st.sampled_from(
        [
            None,
            True,
            False,
            "1",
            "",
            -1,
            -0.0,
            0.5,
            100.5,
            101,
            2**53,
            100_000,
            100_001,
            2000,
            2001,
            31_622_400_000,
            2**53 + 1,
            2**63 - 1,
            2**63,
            2**64,
            -(2**63) - 1,
            1e308,
            -1e308,
            1.5e-300,
            "2026-11-21T08:00:00Z",
            "synced",
            "gps",
            "a+b",
            "$x",
            "B1",
        ]
    )
    | st.builds(list)
    | st.builds(dict)
)  # fresh containers: a shared one could end up inside itself


@st.composite
def valid_item(draw: st.DrawFn, kind: DeviceKind) -> dict[str, Any]:
    item: dict[str, Any] = {
        "seq": draw(st.integers(0, 2**63 - 1)),
        "ts": draw(st.integers(1_577_836_800_000, 1_795_000_000_000)),
        "clock": draw(st.sampled_from(["synced", "unsynced"])),
    }
    for name, values in VALID[kind].items():
        if name in REQUIRED[kind] or draw(st.booleans()):
            item[name] = draw(values)
    return item


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid telemetry message, then up to three random mutations of it."""
    kind = draw(st.sampled_from(list(DeviceKind)))
    device = f"d-{kind.value}"
    body: dict[str, Any] = {
        "v": 1,
        "device": device,
        "boot": draw(st.sampled_from(["b1", "boot-7", "x_y"])),
    }
    if draw(st.booleans()):
        body["historical"] = draw(st.booleans())
    if draw(st.booleans()):
        body["reading"] = draw(valid_item(kind))
    else:
        body["readings"] = draw(st.lists(valid_item(kind), min_size=1, max_size=4))
    for _ in range(draw(st.integers(0, 3))):
        batch = body.get("readings")
        items = batch if isinstance(batch, list) else [body.get("reading")]
        target = draw(st.sampled_from([body, *[i for i in items if isinstance(i, dict)]]))
        keys = [
            *sorted(target), "extra", "level_cm", "battery", "mm", "reading", "readings", "fps",
            "age_ms", "ts",
        ]  # fmt: skip
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["set", "set", "delete"]))
        if action == "delete":
            target.pop(key, None)
        else:
            target[key] = draw(AWKWARD)
    return f"vw/v1/v/{device}/telemetry", json.dumps(body).encode()  # json: ints beyond 64 bits too


def same(fast: Decoded | DeadLetter, slow: Decoded | DeadLetter) -> None:
    if isinstance(slow, DeadLetter):
        assert isinstance(fast, DeadLetter), (
            f"fast path accepted what pydantic refuses: {slow.detail}"
        )
        assert fast == slow
    else:
        assert fast == slow


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_fast_path_and_pydantic_agree_on_generated_messages(message: tuple[str, bytes]) -> None:
    topic, payload = message
    same(FAST.decode(topic, payload, NOW_NS), SLOW.decode(topic, payload, NOW_NS))


@pytest.mark.parametrize(
    "payload",
    [
        b'{"v":1,"device":"d-water_level","boot":"b","reading":{"seq":1,"ts":1795000000000,"clock":"synced","level_cm":1}}',
        b'{"v":1,"device":"d-water_level","boot":"b","readings":[{"seq":1,"ts":1795000000000,"clock":"synced","level_cm":1.5,"battery":100}]}',
        b'{"v":1,"device":"d-rain_gauge","boot":"b","historical":true,"reading":{"seq":9,"ts":1795000000000,"clock":"unsynced","mm":0}}',
        b'{"v":1,"device":"d-smart_lock","boot":"b","reading":{"seq":9,"ts":1795000000000,"clock":"synced","battery":55.5}}',
    ],
)
def test_canonical_messages_take_the_fast_path_with_pydantic_s_result(payload: bytes) -> None:
    body = orjson.loads(payload)
    kind = DeviceKind(body["device"][2:])
    assert fast_telemetry(kind, body["device"], payload) is not None
    topic = f"vw/v1/v/{body['device']}/telemetry"
    same(FAST.decode(topic, payload, NOW_NS), SLOW.decode(topic, payload, NOW_NS))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(
            b'{"v":1,"device":"d-water_level","boot":"b","reading":{"seq":1,"ts":"2026-11-21T08:00:00Z","clock":"synced","level_cm":1}}',
            id="string-ts",
        ),
        pytest.param(
            b'{"v":1,"device":"d-water_level","boot":"b","reading":{"seq":1,"ts":1,"clock":"synced","level_cm":1,"battery":null}}',
            id="explicit-null",
        ),
        pytest.param(
            b'{"v":1,"device":"d-camera","boot":"b","reading":{"seq":1,"ts":1,"clock":"synced","fps":5}}',
            id="kind-with-model-validator",
        ),
        pytest.param(
            b'{"v":1,"device":"d-water_level","boot":"b","reading":{"seq":1,"ts":1,"clock":"synced","level_cm":NaN}}',
            id="nan",
        ),
        pytest.param(
            b'{"v":true,"device":"d-water_level","boot":"b","reading":{"seq":1,"ts":1,"clock":"synced","level_cm":1}}',
            id="bool-version",
        ),
        pytest.param(
            b'{"v":1,"device":"d-water_level","boot":"b","reading":{"seq":1,"age_ms":5,"clock":"unsynced","level_cm":1}}',
            id="age-instead-of-ts",
        ),
        pytest.param(
            b'{"v":1,"device":"d-water_level","boot":"b","reading":{"seq":1,"ts":1,"age_ms":5,"clock":"unsynced","level_cm":1}}',
            id="ts-and-age",
        ),
        pytest.param(
            b'{"v":1,"device":"d-water_level","boot":"b","reading":{"seq":1,"clock":"unsynced","level_cm":1}}',
            id="no-time",
        ),
        pytest.param(
            b'{"v":1,"device":"d-water_level","boot":"b","reading":{"seq":1,"ts":1,"clock":"synced","level_cm":1e308}}',
            id="level-beyond-its-physical-bound",
        ),
        pytest.param(
            b'{"v":1,"device":"d-rain_gauge","boot":"b","reading":{"seq":1,"ts":1,"clock":"synced","mm":2000.5}}',
            id="rain-beyond-its-physical-bound",
        ),
    ],
)
def test_uncommon_forms_are_left_to_pydantic(payload: bytes) -> None:
    body = orjson.loads(payload.replace(b"NaN", b"0"))
    assert fast_telemetry(DeviceKind(body["device"][2:]), body["device"], payload) is None
