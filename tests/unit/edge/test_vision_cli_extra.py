"""`villagewatch vision` without the vision extra names the extra to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from villagewatch.cli import app


@pytest.mark.parametrize("command", ["snapshot", "eval"])
def test_vision_without_opencv_names_the_extra(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # as if opencv were not installed
    camera = tmp_path / "cam.yaml"
    camera.write_text("device: cam-1\n")
    args = {
        "snapshot": ["--source", str(tmp_path / "x.jpg")],
        "eval": ["--images", str(tmp_path), "--truth", str(camera)],
    }[command]
    result = CliRunner().invoke(app, ["vision", command, "--config", str(camera), *args])
    assert result.exit_code == 1, result.output
    assert "needs the vision extra (cv2 not installed)" in result.output
    assert "pip install 'villagewatch[vision]'" in result.output
    assert not isinstance(result.exception, ModuleNotFoundError)
