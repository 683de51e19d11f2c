"""The shipped scale-out example (config/production/scale-out/) cannot rot: its settings load
with villagewatch's own loader, and every systemd unit runs a real CLI command with real
options and the hardening the README promises."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from villagewatch.cli import app
from villagewatch.config import load_deployment
from villagewatch.config.bus import NatsBus
from villagewatch.config.relational import PostgresSettings
from villagewatch.config.stores import VictoriaSettings

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "production" / "scale-out"
UNITS = sorted((EXAMPLE / "systemd").glob("*.service"))
ROLES = {"ingest", "detect", "alerts", "api"}


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read(path)
    return parser


def test_the_settings_load_as_postgres_victoria_and_nats_with_credentials() -> None:
    settings = load_deployment(EXAMPLE / "villagewatch.yaml", read_files=False).settings
    assert isinstance(settings.relational, PostgresSettings)
    assert settings.relational.password_file is not None
    assert isinstance(settings.store, VictoriaSettings)
    bus = settings.ingest.bus
    assert isinstance(bus, NatsBus)
    assert bus.username and bus.password_file and bus.tls is not None
    assert len(bus.servers) == 3
    assert settings.mqtt.protocol == "3.1.1", "NATS's MQTT listener has no MQTT 5"


def test_there_is_one_unit_per_role() -> None:
    assert {p.name for p in UNITS} == {f"villagewatch-{r}@.service" for r in ROLES}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_runs_a_real_command_with_real_options(path: Path) -> None:
    argv = shlex.split(unit(path)["Service"]["ExecStart"])
    assert argv[0].endswith("/villagewatch")
    first_option = next(i for i, word in enumerate(argv) if word.startswith("-"))
    command, options = argv[1:first_option], [w for w in argv if w.startswith("--")]
    shown = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert shown.exit_code == 0, f"{path.name}: `villagewatch {' '.join(command)}`: {shown.output}"
    for option in options:
        assert option in shown.output, f"{path.name}: {option} is no option of {command}"
    assert argv[argv.index("--config") + 1] == "/etc/villagewatch/%i.yaml"


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_restarts_as_its_own_user_hardened(path: Path) -> None:
    parsed = unit(path)
    service = parsed["Service"]
    assert service["Restart"] == "always"
    assert service["User"] == "villagewatch"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == "/var/lib/villagewatch"
    after = parsed["Unit"]["After"].split()
    assert "network-online.target" in after
    assert "network-online.target" in parsed["Unit"]["Wants"].split()
    assert "postgresql.service" in after
