"""The single-frame detectors on synthetic scenes (objects drawn and pasted on the water of
the shared gauge pictures and the asphalt of the shared parking frames), measured by
`villagewatch vision eval` in detection mode — the acceptance of issue 20's detection mode.

The detectors were tuned on sets of seeds 1, 7 and 13 (and made robust to noise and JPEG
on seed 2020); this set's seed was run once, after the tuning, and is used for nothing
else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from villagewatch.cli import app
from villagewatch_dev.vision_scenes import make_scenes

TEST_SEED = 4242
ROW = re.compile(r"^(\w+)\s+(\d+)\s+(\d+)\s+([\d.]+) %\s+([\d.]+) %\s+([\d.]+) %$", re.MULTILINE)


@pytest.fixture(scope="module")
def scenes(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenes")
    make_scenes(shared_data, out, seed=TEST_SEED, n=24)
    return out


@pytest.mark.parametrize(
    ("folder", "classes"),
    [pytest.param("water", {"debris"}, id="water"),
     pytest.param("ground", {"garbage", "object"}, id="bin-area-and-road")],
)  # fmt: skip
def test_recall_and_precision_at_least_0_8_per_zone_kind(
    scenes: Path, folder: str, classes: set[str], tmp_path: Path
) -> None:
    d = scenes / folder
    result = CliRunner().invoke(app, [
        "vision", "eval", "--config", str(d / "camera.yaml"), "--images", str(d / "images"),
        "--out", str(tmp_path / "drawn"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {m[1]: m for m in ROW.finditer(result.output)}
    assert set(rows) == classes, result.output
    for name in classes:
        truth, precision, recall = int(rows[name][2]), float(rows[name][4]), float(rows[name][5])
        assert truth >= 30, result.output  # enough objects for the figures to mean something
        assert precision >= 80.0 and recall >= 80.0, result.output
    assert len(list((tmp_path / "drawn").iterdir())) == 24
