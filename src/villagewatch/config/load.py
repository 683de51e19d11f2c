"""Load and check deployment files: a settings file and the village files it names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from villagewatch.config.settings import InfluxSettings, MqttSettings, Settings, SQLiteSettings
from villagewatch.config.teams import ChannelSettings, DingTalkChannel, EmailChannel, FeishuChannel
from villagewatch.config.village import Village, check_village
from villagewatch.config.yamlfile import read_yaml
from villagewatch.contract import DeviceInfo
from villagewatch.errors import ConfigError, ConfigIssue

__all__ = ["Deployment", "check_file", "load_deployment", "load_village", "read_secret"]


@dataclass(frozen=True, slots=True)
class Deployment:
    """Validated settings with their villages; relative paths already resolved."""

    settings: Settings
    villages: tuple[Village, ...]

    def device_registry(self) -> Mapping[tuple[str, str], DeviceInfo]:
        """(village, device) → grid and kind, for the decoder."""
        return {(v.id, d.id): DeviceInfo(d.grid, d.kind) for v in self.villages for d in v.devices}


def load_village(path: Path) -> Village:
    """Read and check one village file; raise :class:`ConfigError` with every issue."""
    doc = read_yaml(path)
    village = doc.validate(Village)
    problems = check_village(village)
    if problems:
        raise ConfigError([doc.issue(loc, message) for loc, message in problems])
    return village


def load_deployment(path: Path) -> Deployment:
    """Read a settings file and every village file it names; all issues are reported together."""
    doc = read_yaml(path)
    settings = doc.validate(Settings)
    base = path.parent
    settings = _resolved(settings, base)
    villages: list[Village] = []
    issues: list[ConfigIssue] = []
    seen: dict[str, int] = {}
    for i, village_path in enumerate(settings.villages):
        try:
            village = load_village(village_path)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        if village.id in seen:
            issues.append(
                doc.issue(
                    ("villages", i), f"village {village.id!r} is also villages[{seen[village.id]}]"
                )
            )
        seen.setdefault(village.id, i)
        villages.append(village)
        issues += _channel_references(village, village_path, settings)
    for town, team in settings.alerts.towns.items():
        for j, channel in enumerate(team.channels):
            if channel not in settings.alerts.channels:
                where = ("alerts", "towns", town, "channels", j)
                issues.append(doc.issue(where, f"no channel {channel!r} in alerts.channels"))
    if issues:
        raise ConfigError(issues)
    return Deployment(settings, tuple(villages))


def _channel_references(village: Village, path: Path, settings: Settings) -> list[ConfigIssue]:
    """Teams in a village file name channels that the settings file must define."""
    teams = [("team", village.team)] + [
        (f"grids[{i}].team", g.team) for i, g in enumerate(village.grids)
    ]
    return [
        ConfigIssue(str(path), f"{where}.channels[{j}]", f"no channel {c!r} in alerts.channels")
        for where, team in teams
        if team is not None
        for j, c in enumerate(team.channels)
        if c not in settings.alerts.channels
    ]


def check_file(path: Path) -> list[ConfigIssue]:
    """Every issue in a settings file (with its villages), a village file, an edge agent's
    edge.yaml (with its camera files) or a camera file; empty when valid."""
    try:
        doc = read_yaml(path)
        keys = doc.data if isinstance(doc.data, dict) else {}
        if "grids" in keys:
            load_village(path)
        elif "village" in keys and "villages" not in keys:
            from villagewatch.edge.drivers import CameraConfig
            from villagewatch.edge.settings import load_edge

            edge = load_edge(path)
            issues: list[ConfigIssue] = []
            for d in edge.devices:
                if isinstance(d, CameraConfig):
                    issues += (
                        check_file(d.camera)
                        if d.camera.exists()
                        else [
                            ConfigIssue(
                                str(path), f"devices.{d.device}.camera", f"no file {d.camera}"
                            )
                        ]
                    )
            return issues
        elif "zones" in keys or "camera" in keys:
            from villagewatch.edge.vision.config import load_camera

            load_camera(path)
        else:
            load_deployment(path)
    except ConfigError as exc:
        return exc.issues
    return []


def read_secret(path: Path) -> str:
    """The secret held in ``path`` (one line; surrounding whitespace dropped)."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), "", f"cannot read the secret: {exc}")]) from None


def resolved_mqtt(mqtt: MqttSettings, base: Path) -> MqttSettings:
    """``mqtt`` with its password and TLS files relative to ``base`` (the config's folder)."""

    def rel_opt(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else base / p

    mqtt = mqtt.model_copy(update={"password_file": rel_opt(mqtt.password_file)})
    if mqtt.tls is not None:
        tls = mqtt.tls.model_copy(
            update={
                "ca_file": rel_opt(mqtt.tls.ca_file),
                "cert_file": rel_opt(mqtt.tls.cert_file),
                "key_file": rel_opt(mqtt.tls.key_file),
            }
        )
        mqtt = mqtt.model_copy(update={"tls": tls})
    return mqtt


def _resolved(settings: Settings, base: Path) -> Settings:
    def rel(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    def rel_opt(p: Path | None) -> Path | None:
        return None if p is None else rel(p)

    mqtt = resolved_mqtt(settings.mqtt, base)
    ingest = settings.ingest.model_copy(update={"evidence_dir": rel(settings.ingest.evidence_dir)})
    detect = settings.detect.model_copy(update={"state_path": rel(settings.detect.state_path)})
    channels: dict[str, ChannelSettings] = {}
    for cid, c in settings.alerts.channels.items():
        if isinstance(c, DingTalkChannel | FeishuChannel) and c.secret_file is not None:
            c = c.model_copy(update={"secret_file": rel(c.secret_file)})  # noqa: PLW2901
        elif isinstance(c, EmailChannel) and c.password_file is not None:
            c = c.model_copy(update={"password_file": rel(c.password_file)})  # noqa: PLW2901
        channels[cid] = c
    alerts = settings.alerts.model_copy(
        update={
            "channels": channels,
            "state_path": rel(settings.alerts.state_path),
            "detect_state_paths": [
                rel(p) for p in settings.alerts.detect_state_paths or [settings.detect.state_path]
            ],
        }
    )
    store: InfluxSettings | SQLiteSettings = settings.store
    if isinstance(store, SQLiteSettings):
        store = store.model_copy(update={"path": rel(store.path)})
    else:
        store = store.model_copy(
            update={
                "password_file": rel_opt(store.password_file),
                "token_file": rel_opt(store.token_file),
            }
        )
    villages = [rel(v) for v in settings.villages]
    return settings.model_copy(
        update={
            "mqtt": mqtt,
            "store": store,
            "ingest": ingest,
            "villages": villages,
            "detect": detect,
            "alerts": alerts,
            "api": settings.api.model_copy(update={"state_dir": rel(settings.api.state_dir)}),
            "registry": settings.registry.model_copy(update={"path": rel(settings.registry.path)}),
        }
    )
