"""Broker identities from the village config: who may publish and read what, their passwords in
Mosquitto's format, kept across runs; and `config check` of an edge.yaml against its village."""

from __future__ import annotations

import base64
import stat
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from villagewatch.broker import (
    ACL_FILE,
    PASSWORD_FILE,
    CredentialsError,
    identities_of,
    merged,
    write_credentials,
)
from villagewatch.broker.mosquitto import hash_password
from villagewatch.cli import app
from villagewatch.cli.configcheck import check_files
from villagewatch.config import load_deployment, load_village
from villagewatch.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
PRODUCTION = REPO / "config/production/villagewatch.yaml"
DEMO_VILLAGE = REPO / "config/demo/dongcun.yaml"
EDGE = REPO / "config/edge/edge.yaml"

VILLAGE = """\
id: xicun
name: 西村
town: qiaotou
grids: [{id: g1, name: one}]
devices:
  - {id: wl-1, kind: water_level, grid: g1, agent: edge-1}
  - {id: cam-1, kind: camera, grid: g1, agent: edge-1}
  - {id: lock-1, kind: smart_lock, grid: g1, agent: edge-2}
  - {id: sos-1, kind: call_button, grid: g1}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def settings(tmp_path: Path, extra: str = "", *, village: str = VILLAGE) -> Path:
    write(tmp_path / "xicun.yaml", village)
    return write(tmp_path / "settings.yaml", "villages: [xicun.yaml]\n" + textwrap.dedent(extra))


def rules(tmp_path: Path, path: Path) -> dict[str, list[str]]:
    """The ACL written for ``path``: identity → its topic lines."""
    write_credentials(merged([identities_of(load_deployment(path))]), tmp_path / "out", source="t")
    out: dict[str, list[str]] = {}
    user = ""
    for line in (tmp_path / "out" / ACL_FILE).read_text().splitlines():
        if line.startswith("user "):
            user = line.removeprefix("user ")
            out[user] = []
        elif line.startswith("topic "):
            out[user].append(line.removeprefix("topic "))
    return out


def test_each_identity_gets_exactly_the_topics_it_uses(tmp_path: Path) -> None:
    acl = rules(
        tmp_path,
        settings(
            tmp_path,
            "ingest: {client_id: vw-ingest-7, only_villages: [xicun]}\n"
            "detect: {client_id: vw-detect-3, villages: [xicun]}\n",
        ),
    )
    assert acl == {
        "vw-ingest-7": [
            "readwrite vw/v1/xicun/+/evidence/+",  # write: it clears retained copies
            "read vw/v1/xicun/+/telemetry",
            "read vw/v1/xicun/+/event",
        ],
        "vw-detect-3": [
            "read vw/v1/xicun/+/telemetry",
            "read vw/v1/xicun/+/event",
            "read vw/v1/xicun/+/status",
        ],
        "vw-config": [
            "readwrite vw/v1/xicun/edge-1/config",
            "readwrite vw/v1/xicun/edge-2/config",
            "read vw/v1/xicun/edge-1/config/reported",
            "read vw/v1/xicun/edge-2/config/reported",
        ],
        "edge-1": [
            "read vw/v1/xicun/edge-1/config",
            "write vw/v1/xicun/edge-1/status",
            "write vw/v1/xicun/edge-1/config/reported",
            "write vw/v1/xicun/wl-1/telemetry",
            "write vw/v1/xicun/wl-1/event",
            "write vw/v1/xicun/cam-1/telemetry",
            "write vw/v1/xicun/cam-1/event",
            "write vw/v1/xicun/cam-1/evidence/+",  # cameras only
        ],
        "edge-2": [
            "read vw/v1/xicun/edge-2/config",
            "write vw/v1/xicun/edge-2/status",
            "write vw/v1/xicun/edge-2/config/reported",
            "write vw/v1/xicun/lock-1/telemetry",
            "write vw/v1/xicun/lock-1/event",
        ],
    }


def test_a_share_group_adds_the_shared_forms_of_the_ingesters_reads(tmp_path: Path) -> None:
    acl = rules(tmp_path, settings(tmp_path, "ingest: {share_group: ingest}\n"))
    assert acl["vw-ingest-1"] == [
        "readwrite vw/v1/+/+/evidence/+",
        "read vw/v1/+/+/telemetry",
        "read vw/v1/+/+/event",
        "read $share/ingest/vw/v1/+/+/telemetry",
        "read $share/ingest/vw/v1/+/+/event",
        "read $share/ingest/vw/v1/+/+/evidence/+",
    ]


def test_hashes_are_mosquittos_own_format() -> None:
    """A line mosquitto_passwd 2.0.11 wrote for the password secret1."""
    written = "$7$101$FGR1TXA7g9JIsP/J$Kvrsai+AJCtHtavxZDKXqCCha+7YlIuDSP3+9ImqDhcLE/X2Ik+d2SRJC0T1LyPHzD81phausbEMA4XwaROlBA=="
    salt = base64.b64decode(written.split("$")[3])
    assert hash_password("secret1", salt=salt) == written
    assert hash_password("secret1") != hash_password("secret1")  # a fresh salt each time


def test_a_second_run_keeps_every_password_unless_rotated(tmp_path: Path) -> None:
    identities = merged([identities_of(load_deployment(settings(tmp_path)))])
    out = tmp_path / "out"
    first = write_credentials(identities, out, source="t")
    assert sorted(first.new) == ["edge-1", "edge-2", "vw-config", "vw-detect-1", "vw-ingest-1"]
    before = {p.name: p.read_text() for p in out.glob("*.password")}
    again = write_credentials(identities, out, source="t")
    assert again.new == [] and {p.name: p.read_text() for p in out.glob("*.password")} == before
    rotated = write_credentials(identities, out, source="t", rotate=["edge-2"])
    after = {p.name: p.read_text() for p in out.glob("*.password")}
    assert rotated.new == ["edge-2"]
    assert [n for n in before if before[n] != after[n]] == ["edge-2.password"]
    assert write_credentials(identities, out, source="t", rotate_all=True).kept == []
    with pytest.raises(CredentialsError, match="no identity 'edge-9' to rotate"):
        write_credentials(identities, out, source="t", rotate=["edge-9"])


def test_secrets_are_written_for_their_owner_only(tmp_path: Path) -> None:
    identities = merged([identities_of(load_deployment(settings(tmp_path)))])
    write_credentials(identities, tmp_path / "out", source="t")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").iterdir()}
    assert modes.pop(ACL_FILE) == 0o644
    assert set(modes.values()) == {0o600}, modes
    assert PASSWORD_FILE in modes


def test_the_command_never_prints_a_password(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["broker", "credentials", "--config", str(settings(tmp_path)), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    passwords = [p.read_text().strip() for p in out.glob("*.password")]
    assert len(passwords) == 5
    assert not [p for p in passwords if p in result.output]
    assert "edge-1" in result.output and "new password" in result.output
    again = CliRunner().invoke(app, args)
    assert "new password" not in again.output and "password kept" in again.output


def test_several_settings_files_make_one_set_of_identities(tmp_path: Path) -> None:
    """One settings file per ingester: their identities are merged, the agents once."""
    one = settings(tmp_path / "a", "ingest: {client_id: vw-ingest-1}\n")
    two = settings(tmp_path / "b", "ingest: {client_id: vw-ingest-2}\n")
    names = [i.name for i in merged(identities_of(load_deployment(p)) for p in (one, two))]
    assert names == ["vw-ingest-1", "vw-ingest-2", "vw-detect-1", "vw-config", "edge-1", "edge-2"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            ("ingest: {client_id: edge-1}\n", VILLAGE),
            "the name 'edge-1' is both the ingest",
            id="agent-named-like-a-service",
        ),
        pytest.param(
            ("", VILLAGE.replace("id: xicun", "id: dongcun")),
            None,
            id="same-agent-in-two-villages",
        ),
    ],
)
def test_one_name_is_one_identity(
    tmp_path: Path, edit: tuple[str, str], message: str | None
) -> None:
    extra, village = edit
    first = settings(tmp_path / "a", extra)
    groups = [identities_of(load_deployment(first))]
    if message is None:  # the same agent id in another village
        second = settings(tmp_path / "b", village=village)
        groups.append(identities_of(load_deployment(second)))
        message = "the name 'edge-1' is both the edge agent (village xicun"
    with pytest.raises(CredentialsError, match=message.replace("(", r"\(")):
        merged(groups)


def test_an_agent_may_not_be_called_like_a_device_of_its_village(tmp_path: Path) -> None:
    path = write(tmp_path / "v.yaml", VILLAGE.replace("agent: edge-2", "agent: sos-1"))
    with pytest.raises(ConfigError) as exc:
        load_village(path)
    (issue,) = exc.value.issues
    assert (issue.path, issue.line) == ("devices[2].agent", 8)
    assert "agent 'sos-1' is also a device of this village" in issue.message


def test_village_helpers_list_agents_and_their_devices() -> None:
    village = load_village(DEMO_VILLAGE)
    assert village.agents() == ["edge-bridge"]
    assert [d.id for d in village.devices_of("edge-bridge")] == [
        "wl-bridge",
        "rain-north",
        "cam-bridge",
        "sos-square",
        "lock-a01",
    ]
    assert village.devices_of("nobody") == []


SHIPPED = sorted(p for p in (REPO / "config").rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(REPO)) for p in SHIPPED])
def test_every_shipped_config_file_passes_config_check(path: Path) -> None:
    assert check_files([path]) == {path: []}


@pytest.mark.parametrize("with_", [PRODUCTION, DEMO_VILLAGE], ids=["production", "village"])
def test_the_shipped_edge_yaml_agrees_with_the_shipped_village(with_: Path) -> None:
    assert check_files([with_, EDGE]) == {with_: [], EDGE: []}


EDGE_YAML = """\
id: edge-1
village: xicun
mqtt: {username: edge-1, password_file: /etc/pw}
devices:
  - {driver: modbus, device: wl-1, host: 10.0.0.2, address: 0, interval_s: 60}
  - {driver: simulated_lock, device: lock-1}
  - {driver: simulated_sos, device: wl-2}
  - {driver: tipping_bucket, device: sos-1, counter_file: tips}
"""


def test_config_check_cross_checks_an_edge_yaml_against_its_village(tmp_path: Path) -> None:
    village = write(tmp_path / "xicun.yaml", VILLAGE)
    edge = write(tmp_path / "edge.yaml", EDGE_YAML.replace("username: edge-1", "username: x"))
    issues = check_files([village, edge])
    assert issues[village] == []
    got = [(i.line, i.path, i.message) for i in issues[edge]]
    assert got == [
        (
            6,
            "devices[1].device",
            (f"'lock-1' names agent 'edge-2' in {village}; set `agent: edge-1` there, or the "
            "broker will not let this agent publish for it"),
        ),
        (7, "devices[2].device", f"no device 'wl-2' in village 'xicun' ({village})"),
        (8, "devices[3].device", f"'sos-1' is a call_button in {village}; this driver sends rain_gauge"),
        (4, "devices", f"{village} says agent 'edge-1' publishes for cam-1, which this file does not list"),
        (
            3,
            "mqtt.username",
            ("an agent signs in as its id 'edge-1' (the identity `villagewatch broker "
            "credentials` makes for it), not 'x'"),
        ),
    ]  # fmt: skip
    alone = check_files([edge])  # without its village: only edge.yaml itself is checked
    assert alone == {edge: []}


def test_config_check_names_a_village_missing_from_the_files_given(tmp_path: Path) -> None:
    village = write(tmp_path / "xicun.yaml", VILLAGE)
    edge = write(tmp_path / "edge.yaml", EDGE_YAML.replace("village: xicun", "village: dongcun"))
    (issue,) = check_files([village, edge])[edge]
    assert (issue.line, issue.path) == (2, "village")
    assert issue.message == "no village 'dongcun' in the files checked with it (they hold xicun)"


def test_cli_config_check_with_an_edge_yaml_and_its_village(tmp_path: Path) -> None:
    village = write(tmp_path / "xicun.yaml", VILLAGE)
    edge = write(tmp_path / "edge.yaml", EDGE_YAML)
    result = CliRunner().invoke(app, ["config", "check", str(village), str(edge)])
    assert result.exit_code == 1
    assert f"{edge}:6: devices[1].device: 'lock-1' names agent 'edge-2'" in result.output
    ok = CliRunner().invoke(app, ["config", "check", str(DEMO_VILLAGE), str(EDGE)])
    assert ok.exit_code == 0, ok.output


def test_cli_config_check_reads_the_secrets_when_asked(tmp_path: Path) -> None:
    edge = write(tmp_path / "edge.yaml", EDGE_YAML)
    assert CliRunner().invoke(app, ["config", "check", str(edge)]).exit_code == 0
    result = CliRunner().invoke(app, ["config", "check", "--files", str(edge)])
    assert result.exit_code == 1
    assert "mqtt.password_file: cannot read the password file /etc/pw" in result.output
