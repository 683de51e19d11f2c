"""Smart locks (with the rental registry), SOS buttons, camera detections."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from villagewatch.detectors import (
    CameraDetections,
    CameraDetectionsConfig,
    LockConfig,
    SmartLock,
    SosButton,
)
from villagewatch.detectors.base import CLEAN

from .helpers import T0, event, reading, summary

NOW = datetime.fromtimestamp(T0 / 1000, tz=UTC)
CREDENTIALS = [
    ("card-1", None, None),
    ("card-2", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),  # expired
]


def lock(credentials: list | None = CREDENTIALS) -> SmartLock:  # type: ignore[type-arg]
    return SmartLock(
        LockConfig(), village="v", device="lock-1", label="House A1", credentials=credentials
    )


def run(
    events: list[tuple[float, str, dict[str, object]]], detector: SmartLock | None = None
) -> list[tuple[str, str, str]]:
    d = detector or lock()
    out = []
    for minute, type_, attrs in events:
        out += d.event(event(minute, type_, **attrs))  # type: ignore[arg-type]
    return summary(out)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [(0, "unlock", {"credential": "card-1"}), (1, "lock", {})], [], id="tenant-comes-home"
        ),
        pytest.param(
            [(0, "forced_open", {})], [("forced_open", "fire", "red")], id="forced-open-red"
        ),
        pytest.param(
            [(0, "tamper", {}), (0.5, "tamper", {}), (1, "tamper", {})],
            [("tamper", "fire", "orange")],
            id="repeated-tamper-one-alert",
        ),
        pytest.param(
            [(0, "tamper", {}), (11, "tamper", {})],
            [("tamper", "fire", "orange"), ("tamper", "fire", "orange")],
            id="tamper-again-after-rearm",
        ),
        pytest.param(
            [(0.1 * i, "wrong_code", {}) for i in range(4)], [], id="four-wrong-codes-no-alert"
        ),
        pytest.param(
            [(0.1 * i, "wrong_code", {}) for i in range(7)],
            [("wrong_codes", "fire", "orange")],
            id="five-wrong-codes-in-a-minute-one-alert",
        ),
        pytest.param(
            [(i * 0.5, "wrong_code", {}) for i in range(5)],
            [],
            id="five-wrong-codes-over-two-minutes-no-alert",
        ),
        pytest.param(
            [
                *((0.1 * i, "wrong_code", {}) for i in range(5)),
                (1, "unlock", {"credential": "card-1"}),
            ],
            [("wrong_codes", "fire", "orange"), ("wrong_codes", "update", "red")],
            id="a-right-code-after-wrong-ones-makes-it-red-not-clear",
        ),
        pytest.param(
            [(0, "door_ajar", {"duration_s": 120.0})], [], id="door-open-two-minutes-fine"
        ),
        pytest.param(
            [
                (0, "door_ajar", {"duration_s": 400.0}),
                (2, "door_ajar", {"duration_s": 520.0}),
                (3, "lock", {}),
            ],
            [("door_ajar", "fire", "yellow"), ("door_ajar", "clear", "info")],
            id="door-ajar-once-then-locked",
        ),
        pytest.param(
            [(0, "door_ajar", {"duration_s": 400.0}), (1, "unlock", {"credential": "card-1"})],
            [("door_ajar", "fire", "yellow")],
            id="an-unlock-does-not-shut-an-ajar-door",
        ),
        pytest.param(
            [(0, "jammed", {}), (1, "jammed", {}), (2, "lock", {})],
            [("jammed", "fire", "yellow"), ("jammed", "clear", "info")],
            id="jammed-until-it-locks",
        ),
        pytest.param(
            [(0, "unlock", {"credential": "card-9"})],
            [("unregistered_credential", "fire", "orange")],
            id="unknown-credential",
        ),
        pytest.param(
            [(0, "unlock", {"credential": "card-2"})],
            [("unregistered_credential", "fire", "orange")],
            id="expired-credential",
        ),
        pytest.param(
            [(0, "low_battery", {}), (5, "low_battery", {})],
            [("low_battery", "fire", "info")],
            id="low-battery-once",
        ),
    ],
)
def test_lock_rules(
    events: list[tuple[float, str, dict[str, object]]], expected: list[tuple[str, str, str]]
) -> None:
    assert run(events) == expected


def test_unregistered_alert_names_the_credential_not_the_tenants() -> None:
    (t,) = lock().event(event(0, "unlock", credential="card-9"))
    assert t.needs_close and t.details == {"credential": "card-9"}
    assert "card-9" in t.message and "House A1" in t.message


def test_lock_in_no_house_judges_no_credential() -> None:
    assert run([(0, "unlock", {"credential": "anything"})], lock(credentials=None)) == []


def test_wrong_codes_alert_ends_after_a_quiet_window() -> None:
    d = lock()
    for i in range(5):
        d.event(event(0.1 * i, "wrong_code"))
    assert d.tick(event(0.5, "x").at_ms) == []
    assert summary(d.tick(event(2, "x").at_ms)) == [("wrong_codes", "clear", "info")]


def test_lock_battery_from_telemetry() -> None:
    d = lock()
    assert summary(d.reading(reading(0, device="lock-1", battery=15.0), CLEAN)) == [
        ("low_battery", "fire", "info")
    ]
    assert d.reading(reading(1, device="lock-1", battery=22.0), CLEAN) == []  # within hysteresis
    assert summary(d.reading(reading(2, device="lock-1", battery=90.0), CLEAN)) == [
        ("low_battery", "clear", "info")
    ]


def test_lock_state_survives_snapshot_restore() -> None:
    first = lock()
    for i in range(4):
        first.event(event(0.1 * i, "wrong_code"))
    second = lock()
    second.restore(first.snapshot())
    assert summary(second.event(event(0.5, "wrong_code"))) == [("wrong_codes", "fire", "orange")]


def test_sos_is_red_and_needs_a_person_repeats_are_one_call() -> None:
    sos = SosButton(village="v", device="sos-1", label="Village square")
    (t,) = sos.event(event(0, "sos", device="sos-1"))
    assert (t.severity.value, t.needs_close, t.message) == (
        "red",
        True,
        "SOS pressed at Village square",
    )
    assert sos.event(event(1, "sos", device="sos-1")) == []
    assert len(sos.event(event(12, "sos", device="sos-1"))) == 1


def test_camera_detection_fires_once_and_clears() -> None:
    cam = CameraDetections(
        CameraDetectionsConfig(), village="v", device="cam-1", label="Market crossing"
    )
    attrs = {
        "detection": "illegal_parking",
        "zone": "fire-lane",
        "dwell_s": 600.0,
        "evidence": "evt-1",
    }
    (fire,) = cam.event(event(0, "detection", device="cam-1", **attrs))  # type: ignore[arg-type]
    assert fire.key.subject == "cam-1:fire-lane" and fire.key.kind == "illegal_parking"
    assert fire.details == {"zone": "fire-lane", "dwell_s": 600.0, "evidence": "evt-1"}
    assert fire.message == "Market crossing: illegal parking in zone fire-lane for 10 min"
    assert cam.event(event(1, "detection", device="cam-1", **attrs)) == []  # type: ignore[arg-type]
    assert summary(
        cam.event(
            event(2, "cleared", device="cam-1", detection="illegal_parking", zone="fire-lane")
        )
    ) == [("illegal_parking", "clear", "yellow")]


@pytest.mark.parametrize(
    ("seen", "en", "zh"),
    [
        ({"label": "person", "label_score": 0.87}, "(seen as person 87%)", "\uff08识别为 person 87%\uff09"),
        ({"label": "debris"}, "(seen as debris)", "\uff08识别为 debris\uff09"),
        ({}, "for 10 min", "已持续 10 分钟"),
    ],
    ids=["label-and-score", "label", "no-model"],
)  # fmt: skip
def test_a_camera_alert_says_what_the_model_saw_and_keeps_each_object(
    seen: dict[str, object], en: str, zh: str
) -> None:
    from villagewatch.catalogue import render

    cam = CameraDetections(CameraDetectionsConfig(), village="v", device="cam-1", label="Quay")
    objects = '[{"box":[0.1,0.7,0.2,0.1]},{"box":[0.5,0.75,0.05,0.05]}]'
    attrs = {"detection": "river_debris", "zone": "river", "dwell_s": 600.0, "evidence": "e-1",
             "box": "0.1,0.7,0.2,0.1", "objects": objects, **seen}  # fmt: skip
    (fire,) = cam.event(event(0, "detection", device="cam-1", **attrs))  # type: ignore[arg-type]
    assert fire.message.endswith(en), fire.message
    assert render(fire.message_key, fire.params, "zh").endswith(zh)
    assert fire.details["objects"] == objects and fire.details["box"] == "0.1,0.7,0.2,0.1"
    assert {k: fire.details[k] for k in seen} == seen
