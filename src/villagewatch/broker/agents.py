"""An edge agent's ``edge.yaml`` against its village file: the devices it publishes for, their
kinds, and the identity it signs in as — what the generated ACL will let it do."""

from __future__ import annotations

from pathlib import Path
from typing import assert_never

from villagewatch.config.village import Village
from villagewatch.config.yamlfile import read_yaml
from villagewatch.contract import DeviceKind
from villagewatch.edge.drivers import (
    CameraConfig,
    DriverSettings,
    ModbusConfig,
    SerialLineConfig,
    SimulatedLockConfig,
    SimulatedSosConfig,
    SimulatedWaterLevelConfig,
    TippingBucketConfig,
    Zigbee2MqttConfig,
)
from villagewatch.edge.settings import EdgeSettings
from villagewatch.errors import ConfigIssue

__all__ = ["agent_issues", "published"]

Loc = tuple[str | int, ...]


def published(devices: list[DriverSettings]) -> list[tuple[Loc, str, DeviceKind]]:
    """(where in edge.yaml, device id, kind) of every device the drivers publish for."""
    out: list[tuple[Loc, str, DeviceKind]] = []
    for i, cfg in enumerate(devices):
        match cfg:
            case ModbusConfig() | SerialLineConfig() | SimulatedWaterLevelConfig():
                out.append((("devices", i, "device"), cfg.device, DeviceKind.WATER_LEVEL))
            case TippingBucketConfig():
                out.append((("devices", i, "device"), cfg.device, DeviceKind.RAIN_GAUGE))
            case SimulatedLockConfig():
                out.append((("devices", i, "device"), cfg.device, DeviceKind.SMART_LOCK))
            case SimulatedSosConfig():
                out.append((("devices", i, "device"), cfg.device, DeviceKind.CALL_BUTTON))
            case CameraConfig():
                out.append((("devices", i, "device"), cfg.device, DeviceKind.CAMERA))
            case Zigbee2MqttConfig():
                out += [
                    (("devices", i, "devices", j, "device"), b.device, DeviceKind(b.kind))
                    for j, b in enumerate(cfg.devices)
                ]
            case _:
                assert_never(cfg)
    return out


def agent_issues(
    edge_path: Path, edge: EdgeSettings, village: Village, village_path: Path
) -> list[ConfigIssue]:
    """Where ``edge.yaml`` and the village file disagree: each device it lists must be a device
    of the village, of that kind, naming this agent as its ``agent``; each device naming this
    agent must be listed; and it must sign in as its own id."""
    doc = read_yaml(edge_path)
    issues: list[ConfigIssue] = []
    specs = {d.id: d for d in village.devices}
    listed: set[str] = set()
    for loc, device, kind in published(edge.devices):
        listed.add(device)
        spec = specs.get(device)
        if spec is None:
            issues.append(
                doc.issue(loc, f"no device {device!r} in village {village.id!r} ({village_path})")
            )
        elif spec.kind is not kind:
            issues.append(
                doc.issue(
                    loc, f"{device!r} is a {spec.kind} in {village_path}; this driver sends {kind}"
                )
            )
        elif spec.agent != edge.id:
            owner = f"names agent {spec.agent!r}" if spec.agent else "names no agent"
            issues.append(
                doc.issue(
                    loc,
                    f"{device!r} {owner} in {village_path}; set `agent: {edge.id}` there, or the "
                    "broker will not let this agent publish for it",
                )
            )
    unlisted = [d.id for d in village.devices_of(edge.id) if d.id not in listed]
    if unlisted:
        issues.append(
            doc.issue(
                ("devices",),
                f"{village_path} says agent {edge.id!r} publishes for {', '.join(unlisted)}, "
                "which this file does not list",
            )
        )
    login = edge.mqtt.login(edge.id)
    if login is not None and login[0] != edge.id:
        issues.append(
            doc.issue(
                ("mqtt", "username"),
                f"an agent signs in as its id {edge.id!r} (the identity `villagewatch broker "
                f"credentials` makes for it), not {login[0]!r}",
            )
        )
    return issues
