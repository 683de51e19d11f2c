"""`villagewatch vision eval` with the shipped camera configs on the real sets, and the
camera configs pass `villagewatch config check`."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner, Result

from villagewatch.cli import app
from villagewatch.edge.vision.gauge import GaugeReader, load_target_csv

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


def _snapshot(source: Path, out: Path) -> Result:
    return CliRunner().invoke(app, [
        "vision", "snapshot", "--config", str(CAMERAS / "gaugecam-north-river.yaml"),
        "--source", str(source), "--out", str(out),
    ])  # fmt: skip


def test_snapshot_of_a_gauge_still_draws_the_waterline_and_prints_the_level(
    shared_data: Path, tmp_path: Path
) -> None:
    d = shared_data / "water-gauge"
    still = d / "images" / "NRmarshDN-12-05-31-22-15.jpg"
    out = tmp_path / "snap.jpg"
    result = _snapshot(still, out)
    assert result.exit_code == 0, result.output

    reader = GaugeReader(load_target_csv(d / "target_world_coordinates_cm.csv"))
    reading = reader.read(np.asarray(cv2.imread(str(still), cv2.IMREAD_GRAYSCALE), np.uint8))
    assert reading.level_cm is not None and reading.world_to_image is not None
    assert f"gauge: level {reading.level_cm:.1f} cm" in result.output

    # the waterline is drawn (orange-blue, BGR 255,128,0) where the reader put it
    picture = np.asarray(cv2.imread(str(out), cv2.IMREAD_COLOR), np.int32)
    x, y = cv2.perspectiveTransform(
        np.array([[[40.0, reading.level_cm]]]), reading.world_to_image
    ).reshape(2)
    around = picture[round(y) - 2 : round(y) + 3, round(x) - 2 : round(x) + 3]
    blue, red = around[..., 0], around[..., 2]
    assert ((blue > 200) & (red < 90)).any(), around


def test_snapshot_of_a_picture_without_the_target_says_why(tmp_path: Path) -> None:
    still = tmp_path / "grey.png"
    cv2.imwrite(str(still), np.full((600, 800, 3), 128, np.uint8))
    result = _snapshot(still, tmp_path / "snap.jpg")
    assert result.exit_code == 0, result.output
    assert "gauge: no level: target not found" in result.output
    assert (tmp_path / "snap.jpg").stat().st_size > 0


def test_snapshot_of_a_file_that_is_not_a_picture_is_refused(tmp_path: Path) -> None:
    still = tmp_path / "torn.jpg"
    still.write_bytes(b"\xff\xd8\xff\xe0 torn")
    result = _snapshot(still, tmp_path / "snap.jpg")
    assert result.exit_code == 1
    assert "torn.jpg is not an image" in result.output
    assert not (tmp_path / "snap.jpg").exists()
