"""`villagewatch vision eval` with the shipped camera configs on the real sets, and the
camera configs pass `villagewatch config check`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from villagewatch.cli import app

CAMERAS = Path(__file__).resolve().parents[2] / "config" / "cameras"


def test_eval_reads_the_gauge_within_the_figures(shared_data: Path) -> None:
    d = shared_data / "water-gauge"
    result = CliRunner().invoke(app, [
        "vision", "eval", "--config", str(CAMERAS / "gaugecam-north-river.yaml"),
        "--images", str(d / "images"), "--truth", str(d / "levels.csv"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    m = re.search(r"mean absolute error ([\d.]+) cm, within ±2 cm (\d+)/24", result.output)
    assert m is not None, result.output
    assert float(m[1]) <= 1.0 and int(m[2]) >= 20


def test_eval_judges_the_parking_spaces(shared_data: Path) -> None:
    d = shared_data / "parking"
    result = CliRunner().invoke(app, [
        "vision", "eval", "--config", str(CAMERAS / "pklot-ufpr05.yaml"),
        "--images", str(d / "sequence1" / "frames"), "--truth", str(d / "sequence1" / "spaces"),
        "--references", str(d / "sequence0" / "frames"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    m = re.search(r"space-images 200: accuracy ([\d.]+) %", result.output)
    assert m is not None, result.output
    assert float(m[1]) >= 95.0


def test_eval_without_references_says_what_is_missing(shared_data: Path) -> None:
    d = shared_data / "parking" / "sequence1"
    result = CliRunner().invoke(app, [
        "vision", "eval", "--config", str(CAMERAS / "pklot-ufpr05.yaml"),
        "--images", str(d / "frames"), "--truth", str(d / "spaces"),
    ])  # fmt: skip
    assert result.exit_code == 1
    assert "--references" in result.output


@pytest.mark.parametrize("name", ["gaugecam-north-river.yaml", "pklot-ufpr05.yaml"])
def test_shipped_camera_configs_pass_config_check(name: str) -> None:
    result = CliRunner().invoke(app, ["config", "check", str(CAMERAS / name)])
    assert result.exit_code == 0, result.output
