"""``edge.yaml``: one agent, its link to the centre, its outbox and its devices."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from villagewatch.config import MqttSettings
from villagewatch.config.load import login_problems
from villagewatch.config.paths import ConfigPath, PathContext
from villagewatch.config.yamlfile import read_yaml
from villagewatch.contract import Identifier, StrictModel
from villagewatch.edge.drivers import DriverSettings
from villagewatch.errors import ConfigError

__all__ = ["ClockSettings", "EdgeSettings", "OutboxSettings", "load_edge"]


class OutboxSettings(StrictModel):
    """The disk queue (see docs/edge.md for the drop policy)."""

    path: ConfigPath = Field(
        Path("/var/lib/villagewatch/edge"), description="Directory of the queue."
    )
    budget_mb: float = Field(
        512, gt=0, description="Disk budget; past it evidence, then telemetry, oldest first."
    )
    max_age_h: float = Field(
        168, gt=0, description="Telemetry and evidence older than this are dropped."
    )
    reserve_mb: float = Field(
        64,
        ge=0,
        description="Free space kept on the outbox's disk for alarms: below it evidence, then "
        "telemetry, are dropped, oldest first.",
    )
    dead_letter_mb: float = Field(
        16,
        gt=0,
        description="Size bound of the dead-letter file (records the broker refused for good).",
    )
    segment_kb: int = Field(1024, ge=4, le=65536, description="Size of one segment file.")
    sync_interval_s: float = Field(
        0.05, gt=0, le=5, description="Accepted measurements are fsynced at least this often."
    )


class ClockSettings(StrictModel):
    """When the wall clock is trusted."""

    require_sync: bool = Field(
        True, description="Trust the clock only once `sync_file` exists (false: a box with RTC)."
    )
    sync_file: ConfigPath | None = Field(
        Path("/run/systemd/timesync/synchronized"),
        description="Exists once the time source has synchronised the clock.",
    )


class EdgeSettings(StrictModel):
    """One edge agent."""

    id: Identifier = Field(description="The agent's id (its status topic and client id).")
    village: Identifier = Field(description="The village its devices belong to.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="The central broker.")
    outbox: OutboxSettings = Field(default_factory=OutboxSettings, description="Disk queue.")
    clock: ClockSettings = Field(default_factory=ClockSettings, description="Clock trust.")
    drain_rate: int = Field(
        10_000, ge=1, description="Backlog readings sent per second after an outage."
    )
    live_window_s: float = Field(
        10, gt=0, description="Older than this when sent (or made offline): `historical`."
    )
    max_inflight: int = Field(
        100, ge=1, le=10_000, description="Messages sent and not yet acknowledged, at most."
    )
    batch_max: int = Field(
        500, ge=1, le=1000, description="Readings or events in one backlog message, at most."
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Serve Prometheus metrics on 127.0.0.1:<port>."
    )
    devices: list[DriverSettings] = Field(
        default_factory=list, description="Local devices, each with its `driver`."
    )


def load_edge(path: Path, *, read_files: bool = True) -> EdgeSettings:
    """Read and check ``edge.yaml`` (errors as file:line: path: reason); relative paths are
    relative to the file. With ``read_files`` (the agent starting) every secret and certificate
    named must be readable; ``config check`` leaves that out."""
    doc = read_yaml(path)
    settings = doc.validate(EdgeSettings, context=PathContext(path.parent, read_files=read_files))
    problems = login_problems(settings.mqtt, [settings.id]) if read_files else []
    if problems:
        raise ConfigError([doc.issue(("mqtt", "credentials_dir"), p) for p in problems])
    return settings
