"""Config files: the shipped ones load, and every mistake is reported with file, line, path and reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from villagewatch.cli import app
from villagewatch.cli.configcheck import ConfigKind, check_file, check_files
from villagewatch.config import load_deployment, load_village
from villagewatch.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]

VILLAGE = """\
id: dongcun
name: 东村
town: qiaotou
grids:
  - {id: g1, name: one}
  - {id: g1-a, name: one a, parent: g1}
devices:
  - {id: wl-1, kind: water_level, grid: g1-a}
  - {id: lock-1, kind: smart_lock, grid: g1}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "path",
    [
        "config/demo/villagewatch.yaml",
        "config/demo/dongcun.yaml",
        "config/production/villagewatch.yaml",
        "config/edge/edge.yaml",
    ],
)
def test_shipped_configs_are_valid(path: str) -> None:
    assert check_file(REPO / path) == []


def test_demo_deployment_registry_maps_devices_to_grid_and_kind() -> None:
    deployment = load_deployment(REPO / "config/demo/villagewatch.yaml")
    registry = deployment.device_registry()
    assert registry[("dongcun", "wl-bridge")].kind == "water_level"
    assert registry[("dongcun", "wl-bridge")].grid == "g1-bridge"
    assert sum(1 for (_, d) in registry if d.startswith("lock-")) == 16


@pytest.mark.parametrize(
    ("edit", "line", "path", "reason"),
    [
        pytest.param(
            ("kind: water_level", "kind: waterlevel"),
            8,
            "devices[0].kind",
            "Input should be",
            id="bad-kind",
        ),
        pytest.param(
            ("grid: g1-a}", "grid: g9}"), 8, "devices[0].grid", "no grid 'g9'", id="unknown-grid"
        ),
        pytest.param(
            ("id: lock-1", "id: wl-1"), 9, "devices[1].id", "also devices[0]", id="duplicate-device"
        ),
        pytest.param(
            ("parent: g1}", "parent: g1-a}"), 6, "grids[1].parent", "cycle", id="grid-cycle"
        ),
        pytest.param(
            ("parent: g1}", "parent: gx}"),
            6,
            "grids[1].parent",
            "no grid 'gx'",
            id="unknown-parent",
        ),
        pytest.param(
            ("id: wl-1", "id: WL+1"), 8, "devices[0].id", "should match pattern", id="wildcard-id"
        ),
        pytest.param(
            ("town: qiaotou", "town: qiaotou\ncolour: red"),
            4,
            "colour",
            "unknown key",
            id="unknown-key",
        ),
        pytest.param(
            ("kind: water_level,", "kind: water_level, interval_s: -1,"),
            8,
            "devices[0].interval_s",
            "greater than 0",
            id="negative-interval",
        ),
    ],
)
def test_village_mistakes_name_line_path_and_reason(
    tmp_path: Path, edit: tuple[str, str], line: int, path: str, reason: str
) -> None:
    file = write(tmp_path, "v.yaml", VILLAGE.replace(*edit, 1))
    with pytest.raises(ConfigError) as caught:
        load_village(file)
    issue = caught.value.issues[0]
    assert (issue.file, issue.line, issue.path) == (str(file), line, path)
    assert reason in issue.message
    assert str(issue).startswith(f"{file}:{line}: {path}: ")


def test_every_issue_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = VILLAGE.replace("kind: water_level", "kind: nope").replace("grid: g1}", "grid: g7}")
    with pytest.raises(ConfigError) as caught:
        load_village(write(tmp_path, "v.yaml", text))
    # pydantic issues come first; cross-reference checks need a valid model, so one at a time is fine
    assert [i.path for i in caught.value.issues] == ["devices[0].kind"]
    with pytest.raises(ConfigError) as caught:
        load_village(
            write(
                tmp_path,
                "w.yaml",
                VILLAGE.replace("grid: g1}", "grid: g7}").replace("parent: g1}", "parent: g8}"),
            )
        )
    assert {i.path for i in caught.value.issues} == {"devices[1].grid", "grids[1].parent"}


@pytest.mark.parametrize(
    ("level", "message"),
    [
        (
            "{warning_cm: 300, guaranteed_cm: 260}",
            "levels must rise: warning_cm < guaranteed_cm < historical_max_cm",
        ),
        ("{warning_cm: abc}", "Input should be a valid number, unable to parse string as a number (got 'abc')"),
        ('"high"', "Input should be a valid dictionary, or false to turn it off (got 'high')"),
    ],
)  # fmt: skip
def test_a_detectors_settings_error_reads_as_the_file_is_written(
    tmp_path: Path, level: str, message: str
) -> None:
    """A detector section is its settings or false (off). Wrong settings give one issue at the
    keys the user wrote — not the validator's name (`function-after[_ordered(), LevelConfig]`)
    nor a second line saying the section should be False."""
    text = VILLAGE + f"detect:\n  devices:\n    wl-1:\n      level: {level}\n"
    with pytest.raises(ConfigError) as caught:
        load_village(write(tmp_path, "v.yaml", text))
    where = "detect.devices.wl-1.level" + (".warning_cm" if "abc" in level else "")
    assert [(i.path, i.message) for i in caught.value.issues] == [(where, message)]
    assert "LevelConfig" not in str(caught.value) and "[" not in caught.value.issues[0].path


@pytest.mark.parametrize(
    ("family", "where", "message"),
    [
        ("rain: {tiers: [{window_h: 3, mm: 0, severity: red}]}", "rain.tiers[0].mm",
         "Input should be greater than 0 (got 0)"),
        ("health: {sentinels: [-1, x]}", "health.sentinels[1]",
         "Input should be a valid number, unable to parse string as a number (got 'x')"),
        ("offline: {factor: 1}", "offline.factor", "Input should be greater than 1 (got 1)"),
    ],
)  # fmt: skip
def test_a_settings_error_in_a_family_without_a_validator_reads_as_written(
    tmp_path: Path, family: str, where: str, message: str
) -> None:
    """The families without a validator are named by their class in pydantic's location
    (`rain.RainConfig.tiers`): the path leaves the class out and the `false` member's
    "Input should be False" goes, as for the water level's settings."""
    text = VILLAGE + f"detect:\n  devices:\n    wl-1:\n      {family}\n"
    with pytest.raises(ConfigError) as caught:
        load_village(write(tmp_path, "v.yaml", text))
    got = [(i.path, i.message) for i in caught.value.issues]
    assert got == [(f"detect.devices.wl-1.{where}", message)]


def test_duplicate_yaml_key_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    file = write(tmp_path, "v.yaml", VILLAGE.replace("town: qiaotou", "town: qiaotou\nname: again"))
    with pytest.raises(ConfigError) as caught:
        load_village(file)
    (issue,) = caught.value.issues
    assert issue.path == "name" and issue.line == 4 and "first on line 2" in issue.message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    file = write(tmp_path, "v.yaml", VILLAGE.replace("grids:", "grids: [unclosed"))
    with pytest.raises(ConfigError) as caught:
        load_village(file)
    (issue,) = caught.value.issues
    assert "not valid YAML" in issue.message and issue.line is not None


def test_settings_check_batches_against_receive_window(tmp_path: Path) -> None:
    write(tmp_path, "v.yaml", VILLAGE)
    file = write(
        tmp_path,
        "s.yaml",
        """\
        ingest:
          receive_maximum: 1000
          batch_max_messages: 800
        villages: [v.yaml]
        """,
    )
    (issue,) = check_file(file, ConfigKind.SETTINGS)
    assert issue.path == "ingest" and issue.line == 1
    assert issue.message.startswith(
        "receive_maximum (1000) must be at least twice batch_max_messages"
    )


def test_settings_paths_resolve_relative_to_the_settings_file(tmp_path: Path) -> None:
    (tmp_path / "villages").mkdir()
    write(tmp_path / "villages", "v.yaml", VILLAGE)
    file = write(
        tmp_path, "s.yaml", "store: {kind: sqlite, path: data/x.db}\nvillages: [villages/v.yaml]\n"
    )
    deployment = load_deployment(file)
    assert deployment.settings.store.kind == "sqlite"
    assert deployment.settings.store.path == tmp_path / "data/x.db"
    assert deployment.villages[0].id == "dongcun"


def test_settings_report_issues_inside_village_files(tmp_path: Path) -> None:
    write(tmp_path, "v.yaml", VILLAGE.replace("kind: smart_lock", "kind: door"))
    file = write(tmp_path, "s.yaml", "villages: [v.yaml, missing.yaml]\n")
    issues = check_file(file, ConfigKind.SETTINGS)
    assert [(Path(i.file).name, i.path) for i in issues] == [
        ("v.yaml", "devices[1].kind"),
        ("missing.yaml", ""),
    ]
    assert "cannot read" in issues[1].message


def test_channels_resolve_their_secrets_and_teams_must_name_defined_ones(tmp_path: Path) -> None:
    write(
        tmp_path,
        "v.yaml",
        VILLAGE.replace("{id: g1, name: one}", "{id: g1, name: one, team: {channels: [sms]}}"),
    )
    file = write(
        tmp_path,
        "s.yaml",
        """\
        villages: [v.yaml]
        alerts:
          channels:
            mail:
              kind: email
              host: smtp.town.example
              username: alerts
              password_file: secrets/smtp
              sender: alerts@town.example
              to: [duty@town.example]
          towns:
            qiaotou: {channels: [mail, robot]}
        """,
    )
    issues = check_file(file, ConfigKind.SETTINGS)
    assert sorted((Path(i.file).name, i.path, i.message) for i in issues) == [
        ("s.yaml", "alerts.towns.qiaotou.channels[1]", "no channel 'robot' in alerts.channels"),
        ("v.yaml", "grids[0].team.channels[0]", "no channel 'sms' in alerts.channels"),
    ]
    file.write_text(file.read_text().replace(", robot]", "]"))
    write(tmp_path, "v.yaml", VILLAGE)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/smtp").write_text("s3cret\n", encoding="utf-8")  # read at start
    mail = load_deployment(file).settings.alerts.channels["mail"]
    assert getattr(mail, "password_file", None) == tmp_path / "secrets/smtp"


def test_an_email_password_in_clear_is_refused_where_it_is_written(tmp_path: Path) -> None:
    write(tmp_path, "v.yaml", VILLAGE)
    file = write(
        tmp_path,
        "s.yaml",
        """\
        villages: [v.yaml]
        alerts:
          channels:
            mail:
              kind: email
              host: smtp.town.example
              security: none
              username: alerts
              password_file: smtp
              sender: alerts@town.example
              to: [duty@town.example]
        """,
    )
    (issue,) = check_file(file, ConfigKind.SETTINGS)
    assert issue.path == "alerts.channels.mail" and issue.line == 4
    assert "in clear to smtp.town.example" in issue.message


def test_secrets_are_not_echoed_in_errors(tmp_path: Path) -> None:
    write(tmp_path, "v.yaml", VILLAGE)
    file = write(tmp_path, "s.yaml", "mqtt: {password_file: [hunter2]}\nvillages: [v.yaml]\n")
    (issue,) = check_file(file, ConfigKind.SETTINGS)
    assert issue.path == "mqtt.password_file" and "hunter2" not in issue.message


def test_cli_config_check_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", VILLAGE)
    bad = write(tmp_path, "bad.yaml", VILLAGE.replace("kind: smart_lock", "kind: door"))
    runner = CliRunner()
    ok = runner.invoke(app, ["config", "check", str(good)])
    assert ok.exit_code == 0 and "ok" in ok.output
    failed = runner.invoke(app, ["config", "check", str(good), str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}:9: devices[1].kind:" in failed.output


def test_config_reference_in_docs_is_current() -> None:
    from villagewatch.cli.reference import render_reference

    committed = (REPO / "docs/config.md").read_text(encoding="utf-8")
    assert committed == render_reference(), "run: villagewatch config reference > docs/config.md"


def test_a_files_kind_comes_from_its_name_not_its_keys(tmp_path: Path) -> None:
    """A village written where the settings file belongs is a wrong settings file, not a
    village: the name (or --kind) says what a file is, whatever keys it happens to hold."""
    misplaced = write(tmp_path, "villagewatch.yaml", VILLAGE)
    assert "villages" in [i.path for i in check_file(misplaced)]
    assert check_file(misplaced, ConfigKind.VILLAGE) == []
    (tmp_path / "cameras").mkdir()
    assert check_file(write(tmp_path / "cameras", "v.yaml", VILLAGE)) != []


def test_cli_config_check_kind_option(tmp_path: Path) -> None:
    write(tmp_path, "v.yaml", VILLAGE)
    settings = write(tmp_path, "s.yaml", "villages: [v.yaml]\n")
    runner = CliRunner()
    as_named = runner.invoke(app, ["config", "check", str(settings)])
    assert as_named.exit_code == 1
    assert (
        f"{settings}: checked as a village file, by its name "
        "(--kind settings|edge|camera if it is another kind)" in as_named.output
    )
    as_said = runner.invoke(app, ["config", "check", "--kind", "settings", str(settings)])
    assert as_said.exit_code == 0 and f"{settings}: ok" in as_said.output


def test_a_camera_file_named_by_an_edge_yaml_checked_with_it_is_a_camera_file(
    tmp_path: Path,
) -> None:
    """An edge.yaml names its cameras' files; checked together, such a file is a camera file
    whatever its name (alone it is a village file, unless --kind says otherwise)."""
    edge_yaml = (REPO / "config/edge/edge.yaml").read_text(encoding="utf-8")
    edge = write(
        tmp_path,
        "edge.yaml",
        edge_yaml.replace("../cameras/gaugecam-north-river.yaml", "gauge.yaml"),
    )
    camera = tmp_path / "gauge.yaml"
    camera.write_bytes((REPO / "config/cameras/gaugecam-north-river.yaml").read_bytes())
    assert check_files([edge, camera]) == {edge: [], camera: []}
    assert check_file(camera) != []
    assert check_file(camera, ConfigKind.CAMERA) == []


def test_every_config_model_has_a_name_of_its_own() -> None:
    """Two models of one name (a camera's detector settings, a camera driver's) make every
    import of one of them ambiguous to the reader."""
    from villagewatch.cli.reference import SECTIONS

    names = [model.__name__ for _, model in SECTIONS]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", '"nan"', '"infinity"'])
def test_a_level_that_is_not_a_number_is_refused(tmp_path: Path, value: str) -> None:
    """A warning level of NaN would never be crossed (the gauge muted for good), one of
    infinity never either: refused where written, like every number of every config file."""
    text = VILLAGE + f"detect:\n  devices:\n    wl-1:\n      level: {{warning_cm: {value}}}\n"
    with pytest.raises(ConfigError) as caught:
        load_village(write(tmp_path, "v.yaml", text))
    (issue,) = caught.value.issues
    assert issue.path == "detect.devices.wl-1.level.warning_cm"
    assert "finite number" in issue.message


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ("devices:\n    lock-1:", "detect.devices.lock-1"),
        ("kinds:\n    smart_lock:", "detect.kinds.smart_lock"),
    ],
)
def test_an_anomaly_detector_on_a_kind_without_a_main_series_names_its_metrics(
    tmp_path: Path, section: str, where: str
) -> None:
    """A lock has no main series: `anomaly: {}` on it would watch nothing, silently."""
    text = VILLAGE + f"detect:\n  {section}\n      anomaly: {{}}\n"
    with pytest.raises(ConfigError) as caught:
        load_village(write(tmp_path, "v.yaml", text))
    (issue,) = caught.value.issues
    assert issue.path == f"{where}.anomaly.metrics" and "battery_pct" in issue.message
    named = VILLAGE + f"detect:\n  {section}\n      anomaly: {{metrics: [battery_pct]}}\n"
    assert load_village(write(tmp_path, "v.yaml", named)).id == "dongcun"
