"""The demo is a deployment like any other, loaded from its data folder: every file it reads or
writes is in that folder (not beside its packaged settings, nor in the working directory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from villagewatch.cli import app
from villagewatch.demo.run import demo_config_path, demo_deployment


def paths_in(value: object) -> Iterator[Path]:
    """Every path in a settings model, however deep."""
    if isinstance(value, Path):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from paths_in(getattr(value, name))
    elif isinstance(value, dict):
        for v in value.values():
            yield from paths_in(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from paths_in(v)


def test_every_path_of_the_demo_is_in_its_data_folder(tmp_path: Path) -> None:
    deployment = demo_deployment(tmp_path, broker_port=1884, api_port=8081, rate=5)
    paths = list(paths_in(deployment.settings))
    assert len(paths) >= 8, paths  # the stores, the state files, the folders, the village
    outside = [p for p in paths if not p.is_relative_to(tmp_path)]
    assert outside == []
    s = deployment.settings
    assert (s.mqtt.port, s.api.port, s.simulate.rate) == (1884, 8081, 5)
    assert [v.id for v in deployment.villages] == ["dongcun"]


def test_demo_from_a_config_folder_keeps_the_users_edits_and_never_writes_the_package(
    tmp_path: Path,
) -> None:
    """`demo --config DIR`: an empty folder gets the demo's files to start from; once there,
    they are the user's — an edit holds across restarts, and the packaged files stay as
    shipped (before, the API's config apply rewrote the installed package's own file)."""
    packaged = demo_config_path().parent
    shipped = {p.name: p.read_bytes() for p in packaged.glob("*.yaml")}
    folder = tmp_path / "mine"
    folder.mkdir()
    first = demo_deployment(folder, broker_port=1884, api_port=8081, rate=5, edited=True)
    assert first.villages[0].name == "东村"
    village = folder / "dongcun.yaml"
    village.write_text(
        village.read_text(encoding="utf-8").replace("name: 东村", "name: 西村", 1),
        encoding="utf-8",
    )
    again = demo_deployment(folder, broker_port=1884, api_port=8081, rate=5, edited=True)
    assert again.villages[0].name == "西村"
    assert {p.name: p.read_bytes() for p in packaged.glob("*.yaml")} == shipped
    # --data writes the demo's config afresh at every start: the edit would not hold there
    fresh = demo_deployment(folder, broker_port=1884, api_port=8081, rate=5)
    assert fresh.villages[0].name == "东村"


def test_demo_refuses_config_and_data_together(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--no-view", "--config", str(tmp_path / "c"), "--data", str(tmp_path / "d")]
    )
    assert result.exit_code == 1
    assert "give --config or --data, not both" in result.output
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()
