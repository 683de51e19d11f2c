"""The NATS bus's sign-in settings, and the MQTT protocol a NATS deployment speaks."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import nats.errors
import pytest
from pydantic import ValidationError

from villagewatch.config import load_deployment
from villagewatch.config.bus import NatsBus
from villagewatch.errors import ConfigError
from villagewatch.ingest.natsauth import sign_in_options, why_unavailable

VILLAGE = """\
id: dongcun
name: 东村
town: qiaotou
grids: [{id: g1, name: one}]
devices: [{id: wl-1, kind: water_level, grid: g1}]
"""


def deployment(tmp_path: Path, mqtt: str, bus: str = "{kind: nats}") -> Path:
    (tmp_path / "dongcun.yaml").write_text(VILLAGE, encoding="utf-8")
    path = tmp_path / "villagewatch.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            mqtt: {mqtt}
            ingest:
              bus: {bus}
            villages: [dongcun.yaml]
            """),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("mqtt", "bus", "protocol"),
    [
        pytest.param("{}", "{kind: nats}", "3.1.1", id="nats-left-out"),
        pytest.param('{protocol: "3.1.1"}', "{kind: nats}", "3.1.1", id="nats-written"),
        pytest.param("{}", "{kind: mqtt}", "5", id="mosquitto-default"),
    ],
)
def test_the_protocol_follows_the_bus_when_left_out(
    tmp_path: Path, mqtt: str, bus: str, protocol: str
) -> None:
    settings = load_deployment(deployment(tmp_path, mqtt, bus), read_files=False).settings
    assert settings.mqtt.protocol == protocol


def test_mqtt_5_on_a_nats_deployment_is_refused_in_words(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"MQTT listener speaks MQTT 3\.1\.1 only"):
        load_deployment(deployment(tmp_path, '{protocol: "5"}'), read_files=False)


@pytest.mark.parametrize(
    ("bus", "match"),
    [
        pytest.param(
            {"servers": ["nats://vw:secret@10.0.0.1:4222"]}, "holds a user or password", id="url"
        ),
        pytest.param({"username": "vw"}, "go together", id="user-alone"),
        pytest.param({"password_file": "p"}, "go together", id="password-alone"),
    ],
)
def test_credentials_are_a_user_and_a_password_file(bus: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        NatsBus.model_validate(bus)


def test_an_empty_password_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nats.password"
    path.write_text("\n")
    with pytest.raises(
        ConfigError, match=r"ingest\.bus\.password_file: the password file is empty"
    ):
        sign_in_options(NatsBus(username="vw", password_file=path))


def test_a_world_readable_password_file_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "nats.password"
    path.write_text("s3cret\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        options = sign_in_options(NatsBus(username="vw", password_file=path))
    assert options == {"user": "vw", "password": "s3cret"}
    assert "can be read by every user" in caplog.text and "s3cret" not in caplog.text
    caplog.clear()
    path.chmod(0o640)
    sign_in_options(NatsBus(username="vw", password_file=path))
    assert caplog.text == ""


def test_on_nats_only_detect_needs_an_mqtt_password(tmp_path: Path) -> None:
    """The ingester reads NATS, not MQTT: no `<ingest.client_id>.password` is asked for."""
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "vw-detect-1.password").write_text("pw\n")
    path = deployment(tmp_path, "{credentials_dir: creds}")
    assert load_deployment(path, read_files=("mqtt",)).settings.mqtt.credentials_dir
    with pytest.raises(ConfigError, match="broker identity vw-ingest-1"):
        load_deployment(deployment(tmp_path, "{credentials_dir: creds}", "{kind: mqtt}"))


def test_a_refused_password_is_named_even_when_a_later_try_ends_in_a_reset(
    tmp_path: Path,
) -> None:
    bus = NatsBus(servers=["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"], username="vw",
                  password_file=tmp_path / "pw")  # fmt: skip
    refusals: list[Exception] = [
        nats.errors.AuthorizationError(),
        ConnectionResetError(104, "Connection reset by peer"),
    ]
    why = str(why_unavailable(bus, ConnectionResetError(104, "reset"), refusals, 15))
    assert "refused user 'vw': authorization violation" in why
    assert "nats://127.0.0.1:4222, nats://127.0.0.1:4223" in why
