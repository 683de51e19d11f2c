"""Paths in config files: relative ones are relative to the file, absolute ones are kept, and a
secret or certificate that cannot be read stops the start with file, line, path and reason."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from villagewatch.cli.configcheck import check_file
from villagewatch.config import Settings, load_deployment
from villagewatch.config.paths import PathContext
from villagewatch.edge.settings import load_edge
from villagewatch.errors import ConfigError

VILLAGE = """\
id: dongcun
name: 东村
town: qiaotou
grids: [{id: g1, name: one}]
devices: [{id: wl-1, kind: water_level, grid: g1}]
"""

_CHANNEL = "alerts:\n  channels:\n    c:\n      "

# (settings text with {p} where the path goes, the field's value, its path in the file, label)
SETTINGS_FIELDS = [
    pytest.param(
        "mqtt:\n  username: vw\n  password_file: {p}\n",
        lambda s: s.mqtt.password_file,
        "mqtt.password_file",
        "password file",
        None,
        id="mqtt.password_file",
    ),
    pytest.param(
        "mqtt:\n  tls:\n    ca_file: {p}\n",
        lambda s: s.mqtt.tls.ca_file,
        "mqtt.tls.ca_file",
        "CA certificate",
        None,
        id="mqtt.tls.ca_file",
    ),
    pytest.param(
        "mqtt:\n  tls:\n    ca_file: ok.pem\n    cert_file: {p}\n    key_file: ok.pem\n",
        lambda s: s.mqtt.tls.cert_file,
        "mqtt.tls.cert_file",
        "client certificate",
        None,
        id="mqtt.tls.cert_file",
    ),
    pytest.param(
        "mqtt:\n  tls:\n    ca_file: ok.pem\n    cert_file: ok.pem\n    key_file: {p}\n",
        lambda s: s.mqtt.tls.key_file,
        "mqtt.tls.key_file",
        "client key",
        None,
        id="mqtt.tls.key_file",
    ),
    pytest.param(
        "store:\n  kind: influx\n  username: vw\n  password_file: {p}\n",
        lambda s: s.store.password_file,
        "store.password_file",
        "password file",
        None,
        id="store.password_file",
    ),
    pytest.param(
        "store:\n  kind: influx\n  token_file: {p}\n",
        lambda s: s.store.token_file,
        "store.token_file",
        "token file",
        None,
        id="store.token_file",
    ),
    pytest.param(
        _CHANNEL
        + "kind: dingtalk\n      url: https://robot.example/send\n      secret_file: {p}\n",
        lambda s: s.alerts.channels["c"].secret_file,
        "alerts.channels.c.secret_file",
        "secret file",
        None,
        id="dingtalk.secret_file",
    ),
    pytest.param(
        _CHANNEL + "kind: feishu\n      url: https://bot.example/hook\n      secret_file: {p}\n",
        lambda s: s.alerts.channels["c"].secret_file,
        "alerts.channels.c.secret_file",
        "secret file",
        None,
        id="feishu.secret_file",
    ),
    pytest.param(
        _CHANNEL + "kind: email\n      host: smtp.example\n      username: a\n"
        "      password_file: {p}\n      sender: a@town.example\n      to: [b@town.example]\n",
        lambda s: s.alerts.channels["c"].password_file,
        "alerts.channels.c.password_file",
        "password file",
        None,
        id="email.password_file",
    ),
]

EDGE_FIELDS = [
    pytest.param(
        "mqtt:\n  username: edge-1\n  password_file: {p}\n",
        lambda e: e.mqtt.password_file,
        "mqtt.password_file",
        "password file",
        None,
        id="mqtt.password_file",
    ),
    pytest.param(
        "mqtt:\n  tls:\n    ca_file: {p}\n",
        lambda e: e.mqtt.tls.ca_file,
        "mqtt.tls.ca_file",
        "CA certificate",
        None,
        id="mqtt.tls.ca_file",
    ),
    pytest.param(
        "mqtt:\n  tls:\n    ca_file: ok.pem\n    cert_file: {p}\n    key_file: ok.pem\n",
        lambda e: e.mqtt.tls.cert_file,
        "mqtt.tls.cert_file",
        "client certificate",
        None,
        id="mqtt.tls.cert_file",
    ),
    pytest.param(
        "mqtt:\n  tls:\n    ca_file: ok.pem\n    cert_file: ok.pem\n    key_file: {p}\n",
        lambda e: e.mqtt.tls.key_file,
        "mqtt.tls.key_file",
        "client key",
        None,
        id="mqtt.tls.key_file",
    ),
    pytest.param(
        "devices:\n  - driver: zigbee2mqtt\n    username: z\n    password_file: {p}\n"
        "    devices: [{{friendly_name: d, device: lock-1, kind: smart_lock}}]\n",
        lambda e: e.devices[0].password_file,
        "devices[0].password_file",
        "password file",
        None,
        id="zigbee2mqtt.password_file",
    ),
]

Getter = Callable[[Any], Path | None]


def _settings(tmp_path: Path, section: str, value: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "v.yaml").write_text(VILLAGE, encoding="utf-8")
    (tmp_path / "ok.pem").write_text("x\n", encoding="utf-8")
    path = tmp_path / "settings.yaml"
    path.write_text("villages: [v.yaml]\n" + section.format(p=value), encoding="utf-8")
    return path


def _edge(tmp_path: Path, section: str, value: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "ok.pem").write_text("x\n", encoding="utf-8")
    path = tmp_path / "edge.yaml"
    text = "id: edge-1\nvillage: dongcun\n" + section.format(p=value)
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(path: Path, text: str) -> int:
    """The line holding ``text``: the value's own, or its section's where the file has no key
    for a part of the path (the `kind` of a store or channel)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize(("section", "get", "where", "label", "line_at"), SETTINGS_FIELDS)
def test_an_absolute_path_in_settings_is_kept(
    tmp_path: Path, section: str, get: Getter, where: str, label: str, line_at: str | None
) -> None:
    secret = tmp_path / "elsewhere" / "secret"
    secret.parent.mkdir()
    secret.write_text("s3cret\n", encoding="utf-8")
    settings = load_deployment(_settings(tmp_path / "conf", section, str(secret))).settings
    assert get(settings) == secret, f"{where} ({label}) lost its absolute path"


@pytest.mark.parametrize(("section", "get", "where", "label", "line_at"), SETTINGS_FIELDS)
def test_a_relative_path_in_settings_is_relative_to_the_file(
    tmp_path: Path, section: str, get: Getter, where: str, label: str, line_at: str | None
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "s").write_text("s3cret\n", encoding="utf-8")
    settings = load_deployment(_settings(tmp_path, section, "secrets/s")).settings
    assert get(settings) == tmp_path / "secrets" / "s", f"{where} ({label})"


@pytest.mark.parametrize(("section", "get", "where", "label", "line_at"), SETTINGS_FIELDS)
def test_an_unreadable_file_in_settings_stops_the_start(
    tmp_path: Path, section: str, get: Getter, where: str, label: str, line_at: str | None
) -> None:
    missing = tmp_path / "nowhere" / "secret"
    path = _settings(tmp_path, section, str(missing))
    with pytest.raises(ConfigError) as exc:
        load_deployment(path)
    (issue,) = exc.value.issues
    assert issue.path == where
    assert issue.line == _line_of(path, line_at or str(missing))
    assert issue.message.startswith(
        f"cannot read the {label} {missing}: No such file or directory"
    ), issue.message


@pytest.mark.parametrize(("section", "get", "where", "label", "line_at"), SETTINGS_FIELDS)
def test_config_check_checks_the_settings_but_not_the_secrets_on_this_machine(
    tmp_path: Path, section: str, get: Getter, where: str, label: str, line_at: str | None
) -> None:
    """`config check` runs where the secrets are not (a laptop, CI): it checks the file."""
    assert check_file(_settings(tmp_path, section, "/nowhere/secret")) == [], (where, label, get)


@pytest.mark.parametrize(("section", "get", "where", "label", "line_at"), EDGE_FIELDS)
def test_an_absolute_path_in_edge_yaml_is_kept(
    tmp_path: Path, section: str, get: Getter, where: str, label: str, line_at: str | None
) -> None:
    secret = tmp_path / "elsewhere" / "secret"
    secret.parent.mkdir()
    secret.write_text("s3cret\n", encoding="utf-8")
    edge = load_edge(_edge(tmp_path / "conf", section, str(secret)))
    assert get(edge) == secret, f"{where} ({label}) lost its absolute path"


@pytest.mark.parametrize(("section", "get", "where", "label", "line_at"), EDGE_FIELDS)
def test_a_relative_path_in_edge_yaml_is_relative_to_the_file(
    tmp_path: Path, section: str, get: Getter, where: str, label: str, line_at: str | None
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "s").write_text("s3cret\n", encoding="utf-8")
    assert get(load_edge(_edge(tmp_path, section, "secrets/s"))) == tmp_path / "secrets" / "s", (
        where,
        label,
    )


@pytest.mark.parametrize(("section", "get", "where", "label", "line_at"), EDGE_FIELDS)
def test_an_unreadable_file_in_edge_yaml_stops_the_start(
    tmp_path: Path, section: str, get: Getter, where: str, label: str, line_at: str | None
) -> None:
    missing = tmp_path / "nowhere" / "secret"
    path = _edge(tmp_path, section, str(missing))
    with pytest.raises(ConfigError) as exc:
        load_edge(path)
    (issue,) = exc.value.issues
    line = _line_of(path, line_at or str(missing))
    assert (issue.file, issue.path, issue.line) == (str(path), where, line)
    assert issue.message.startswith(
        f"cannot read the {label} {missing}: No such file or directory"
    ), issue.message


def test_a_directory_is_no_readable_secret(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    path = _settings(tmp_path, "mqtt:\n  username: vw\n  password_file: d\n", "")
    with pytest.raises(ConfigError, match=r"cannot read the password file .*/d: Is a directory"):
        load_deployment(path)


def test_locations_resolve_relative_to_the_settings_file_and_keep_absolute_ones(
    tmp_path: Path,
) -> None:
    """Files written by the services (not read at start) are resolved the same way."""
    path = _settings(
        tmp_path,
        textwrap.dedent(
            """\
            store: {{kind: sqlite, path: /abs/db.sqlite}}
            detect: {{state_path: state/detect.db}}
            """
        ),
        "",
    )
    settings = load_deployment(path).settings
    assert settings.store.path == Path("/abs/db.sqlite")  # type: ignore[union-attr]
    assert settings.detect.state_path == tmp_path / "state/detect.db"
    assert settings.alerts.detect_state_paths == [tmp_path / "state/detect.db"]
    assert settings.alerts.state_path == tmp_path / "var/alerts.db"  # a default, resolved too
    assert settings.ingest.evidence_dir == tmp_path / "var/evidence"
    assert settings.api.state_dir == tmp_path / "var/api"
    assert settings.registry.path == tmp_path / "var/registry.db"
    assert settings.villages == [tmp_path / "v.yaml"]


def test_edge_locations_resolve_relative_to_edge_yaml(tmp_path: Path) -> None:
    path = _edge(
        tmp_path,
        textwrap.dedent(
            """\
            outbox: {{path: outbox}}
            clock: {{sync_file: synced}}
            devices:
              - {{driver: tipping_bucket, device: rain-1, counter_file: tips{p}}}
            """
        ),
        "",
    )
    edge = load_edge(path)
    assert edge.outbox.path == tmp_path / "outbox"
    assert edge.clock.sync_file == tmp_path / "synced"
    assert edge.devices[0].counter_file == tmp_path / "tips"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "section", "where", "reason"),
    [
        pytest.param(
            "settings",
            "mqtt:\n  password_file: pw\n",
            "mqtt",
            "password_file needs a username",
            id="mqtt-password-without-user",
        ),
        pytest.param(
            "settings",
            "mqtt:\n  credentials_dir: creds\n  username: vw\n",
            "mqtt",
            "set credentials_dir (each client signs in as its client id) or username and "
            "password_file, not both",
            id="mqtt-two-ways",
        ),
        pytest.param(
            "settings",
            "store:\n  kind: influx\n  password_file: pw\n",
            "store",
            "password_file needs a username",
            id="influx-password-without-user",
        ),
        pytest.param(
            "settings",
            "store:\n  kind: influx\n  token_file: tk\n  username: vw\n  password_file: pw\n",
            "store",
            "set token_file (InfluxDB 2.x, 3.x) or username and password_file (1.x), not both",
            id="influx-token-and-password",
        ),
        pytest.param(
            "edge",
            "devices:\n  - driver: zigbee2mqtt\n    password_file: pw\n"
            "    devices: [{{friendly_name: d, device: lock-1, kind: smart_lock}}]\n",
            "devices[0]",
            "password_file needs a username",
            id="zigbee2mqtt-password-without-user",
        ),
    ],
)
def test_a_secret_that_would_go_unused_is_refused(
    tmp_path: Path, kind: str, section: str, where: str, reason: str
) -> None:
    """A password named where it would never be sent is a mistake, not a quiet no-auth."""
    (tmp_path / "pw").write_text("s3cret\n", encoding="utf-8")
    (tmp_path / "tk").write_text("t0ken\n", encoding="utf-8")
    path = _settings(tmp_path, section, "") if kind == "settings" else _edge(tmp_path, section, "")
    (issue,) = check_file(path)
    assert (issue.path, issue.message) == (where, reason)


def test_a_service_reads_only_the_secrets_of_the_sections_it_uses(tmp_path: Path) -> None:
    """detect on its own host has no DingTalk secret: it must start; the alert engine must not."""
    (tmp_path / "v.yaml").write_text(VILLAGE, encoding="utf-8")
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "villages: [v.yaml]\n"
        "alerts:\n  channels:\n    duty:\n      kind: dingtalk\n"
        "      url: https://robot.example/send\n      secret_file: /nowhere/dingtalk.secret\n",
        encoding="utf-8",
    )
    load_deployment(settings, read_files=("mqtt",))
    for reads in (True, ("alerts",)):
        with pytest.raises(ConfigError) as caught:
            load_deployment(settings, read_files=reads)
        (issue,) = caught.value.issues
        assert issue.path == "alerts.channels.duty.secret_file" and issue.line == 7


def test_alerts_read_this_files_detect_state_wherever_the_settings_are_validated(
    tmp_path: Path,
) -> None:
    """The default of `alerts.detect_state_paths` is the settings model's own, not a step of
    one loader: a settings file validated anywhere gets it, resolved like every path."""
    data = {"villages": ["v.yaml"], "detect": {"state_path": "state/detect.db"}}
    settings = Settings.model_validate(data, context=PathContext(tmp_path, read_files=False))
    assert settings.alerts.detect_state_paths == [tmp_path / "state/detect.db"]
    given = {**data, "alerts": {"detect_state_paths": ["/abs/a.db", "b.db"]}}
    settings = Settings.model_validate(given, context=PathContext(tmp_path, read_files=False))
    assert settings.alerts.detect_state_paths == [Path("/abs/a.db"), tmp_path / "b.db"]


def test_the_victoria_stores_relational_file_resolves_like_every_other(tmp_path: Path) -> None:
    """Its default and a relative path are under the settings file; a typo is refused."""
    default = _settings(tmp_path, "store: {{kind: victoria}}\n", "")
    store = load_deployment(default).settings.store
    assert store.relational.path == tmp_path / "var/villagewatch-relational.db"  # type: ignore[union-attr]
    given = _settings(tmp_path, "store: {{kind: victoria, relational: {{path: r/x.db}}}}\n", "")
    store = load_deployment(given).settings.store
    assert store.relational.path == tmp_path / "r/x.db"  # type: ignore[union-attr]
    typo = _settings(tmp_path, "store: {{kind: victoria, urll: http://x}}\n", "")
    with pytest.raises(ConfigError, match="urll"):
        load_deployment(typo)
