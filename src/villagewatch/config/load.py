"""Load deployment files: a settings file and the village files it names."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from villagewatch.config.mqtt import MqttSettings, identity_password_file
from villagewatch.config.partitions import partition_client_id, partition_problems
from villagewatch.config.paths import PathContext, unreadable
from villagewatch.config.settings import Settings
from villagewatch.config.village import Village, check_village
from villagewatch.config.yamlfile import read_yaml
from villagewatch.contract import DeviceInfo
from villagewatch.errors import ConfigError, ConfigIssue

__all__ = [
    "Deployment",
    "load_deployment",
    "load_settings",
    "load_village",
    "login_problems",
    "read_secret",
]


@dataclass(frozen=True, slots=True)
class Deployment:
    """Validated settings with their villages; relative paths already resolved."""

    settings: Settings
    villages: tuple[Village, ...]
    source: Path | None = None
    """The settings file it was loaded from (None: built in code)."""
    reads: bool | frozenset[str] = True
    """The ``read_files`` it was loaded with (see :func:`load_deployment`)."""

    def files(self) -> list[Path]:
        """The files it was loaded from: the settings file, then the village files."""
        return [] if self.source is None else [self.source, *self.settings.villages]

    def reload(self) -> Deployment:
        """The deployment as its files are now, loaded as this one was (ConfigError with every
        issue if they do not load); a deployment built in code is itself."""
        if self.source is None:
            return self
        return load_deployment(self.source, read_files=self.reads)

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


def load_settings(path: Path) -> Settings:
    """Read and check the settings file alone, not the village files it names (secrets not
    read): for a tool that must work while a village file is broken, as ``config rollback``."""
    return read_yaml(path).validate(Settings, context=PathContext(path.parent, read_files=False))


def load_deployment(path: Path, *, read_files: bool | Collection[str] = True) -> Deployment:
    """Read a settings file and every village file it names; all issues are reported together.

    Relative paths are relative to the settings file. With ``read_files`` (a service starting)
    every secret and certificate named must be readable — or, given section names (``mqtt``,
    ``store``, ``alerts`` …), those of the sections the service uses; ``config check`` leaves
    that out.
    """
    doc = read_yaml(path)
    reads = read_files if isinstance(read_files, bool) else frozenset(read_files)
    settings = doc.validate(Settings, context=PathContext(path.parent, read_files=reads))
    issues: list[ConfigIssue] = []
    if read_files is True or (not isinstance(read_files, bool) and "mqtt" in read_files):
        det = settings.detect
        partitions = [partition_client_id(det.client_id, p) for p in det.partitions or {}]
        clients = [det.client_id, *partitions]
        if settings.ingest.bus.kind == "mqtt":  # on NATS the ingester is no MQTT client
            clients.insert(0, settings.ingest.client_id)
        issues += [
            doc.issue(("mqtt", "credentials_dir"), p)
            for p in login_problems(settings.mqtt, clients)
        ]
    villages: list[Village] = []
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
    for where, problem in partition_problems(settings.detect.partitions or {}, list(seen)):
        issues.append(doc.issue(("detect", "partitions", *where), problem))
    for town, team in settings.alerts.towns.items():
        for j, channel in enumerate(team.channels):
            if channel not in settings.alerts.channels:
                where = ("alerts", "towns", town, "channels", j)
                issues.append(doc.issue(where, f"no channel {channel!r} in alerts.channels"))
    if issues:
        raise ConfigError(issues)
    return Deployment(settings, tuple(villages), path, reads)


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


def login_problems(mqtt: MqttSettings, client_ids: Iterable[str]) -> list[str]:
    """Why clients with these ids could not sign in with ``mqtt.credentials_dir``: each one's
    password file must be readable at start, not refused by the broker later."""
    if mqtt.credentials_dir is None:
        return []
    problems = (
        (unreadable(identity_password_file(mqtt.credentials_dir, c), "password file"), c)
        for c in client_ids
    )
    return [f"{p} (of the broker identity {c})" for p, c in problems if p is not None]


def read_secret(path: Path) -> str:
    """The secret held in ``path`` (one line; surrounding whitespace dropped)."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), "", f"cannot read the secret: {exc}")]) from None
