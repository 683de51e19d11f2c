"""The demo is a deployment like any other, loaded from its data folder: every file it reads or
writes is in that folder (not beside its packaged settings, nor in the working directory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from villagewatch.demo.run import demo_deployment


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
