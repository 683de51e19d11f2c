"""Remote config laid over edge.yaml: what may change, and the reason when it may not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from villagewatch.edge.remote import RemoteConfigError, apply_remote, parse_desired, version_of
from villagewatch.edge.settings import EdgeSettings


def base() -> EdgeSettings:
    return EdgeSettings.model_validate(
        {
            "id": "edge-1",
            "village": "v",
            "drain_rate": 500,
            "devices": [
                {"driver": "simulated_water_level", "device": "wl-1", "interval_s": 10},
                {"driver": "tipping_bucket", "device": "rain-1", "counter_file": "/run/tips"},
                {
                    "driver": "zigbee2mqtt",
                    "devices": [
                        {"friendly_name": "door", "device": "lock-1", "kind": "smart_lock"}
                    ],
                },
            ],
        }
    )


def refused(config: dict[str, Any]) -> str:
    with pytest.raises(RemoteConfigError) as info:
        apply_remote(base(), config)
    return str(info.value)


def test_changes_are_laid_over_edge_yaml_not_over_the_last_remote_config() -> None:
    first = apply_remote(base(), {"drain_rate": 50, "devices": {"wl-1": {"interval_s": 2.5}}})
    assert first.drain_rate == 50
    assert first.devices[0].interval_s == 2.5  # type: ignore[union-attr]
    assert first.devices[1:] == base().devices[1:]
    second = apply_remote(base(), {"devices": {"rain-1": {"mm_per_tip": 0.5}}})
    assert second.drain_rate == 500  # back to edge.yaml: v2 did not say
    assert second.devices[0] == base().devices[0]
    assert second.devices[1].mm_per_tip == 0.5  # type: ignore[union-attr]
    assert apply_remote(base(), {}) == base()


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"devices": {"wl-1": {"interval_s": 0}}}, "devices.wl-1.interval_s: Input should be greater than 0"),
        ({"devices": {"wl-1": {"intervall_s": 5}}}, "devices.wl-1.intervall_s: unknown key"),
        ({"devices": {"wl-9": {"interval_s": 5}}}, "devices.wl-9: no such device on this agent"),
        ({"devices": {"lock-1": {"merge_s": 1}}}, "devices.lock-1: is behind a zigbee2mqtt bridge"),
        ({"devices": {"wl-1": {"device": "wl-2"}}}, "devices.wl-1.device: set in edge.yaml"),
        ({"devices": {"wl-1": {"driver": "modbus"}}}, "devices.wl-1.driver: set in edge.yaml"),
        ({"devices": {"rain-1": {"counter_file": "/etc/shadow"}}}, "devices.rain-1.counter_file: set in edge.yaml"),
        ({"devices": {"WL/1": {"interval_s": 5}}}, "devices.WL/1.[key]"),
        ({"drain_rate": -1}, "drain_rate: Input should be greater than or equal to 1"),
        ({"sampling": 5}, "sampling: unknown key"),
    ],
)  # fmt: skip
def test_a_mistake_refuses_the_config_and_says_where(config: dict[str, Any], reason: str) -> None:
    assert reason in refused(config)


def test_the_desired_config_message_is_checked_by_the_contract() -> None:
    ok = parse_desired(b'{"v": 1, "version": 3, "config": {"drain_rate": 9}}')
    assert ok.version == 3
    assert ok.config == {"drain_rate": 9}
    for payload, reason in [
        (b"not json", "Invalid JSON"),
        (b'{"v": 2, "version": 3, "config": {}}', "v: Input should be 1"),
        (b'{"v": 1, "version": -1, "config": {}}', "version: Input should be greater than"),
        (b'{"v": 1, "version": 3}', "config: Field required"),
    ]:
        with pytest.raises(RemoteConfigError, match=reason):
            parse_desired(payload)


def test_a_refusal_is_reported_against_the_version_the_message_claims() -> None:
    assert version_of(b'{"v": 9, "version": 12, "config": 5}') == 12
    assert version_of(b'{"version": "12"}') == 0
    assert version_of(b"[1, 2]") == 0
    assert version_of(b"\xff") == 0


def test_a_long_reason_fits_the_report() -> None:
    many = {f"d{i}": {"interval_s": 1} for i in range(100)}
    assert len(refused({"devices": many})) <= 500


def test_paths_are_never_changed_remotely(tmp_path: Path) -> None:
    settings = apply_remote(base(), {"devices": {"rain-1": {"interval_s": 30}}})
    assert settings.devices[1].counter_file == Path("/run/tips")  # type: ignore[union-attr]
