"""``villagewatch config versions|diff|rollback``: the versions the API keeps, from a terminal,
and a rollback through the same check and apply."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.unit.api.conftest import write_deployment
from villagewatch.cli import app
from villagewatch.config import load_settings
from villagewatch.db.configured import versions_location
from villagewatch.versions import Applied, VersionStore, apply_village


def _setup(tmp_path: Path) -> tuple[Path, Path, str]:
    """A deployment whose village has versions 1 (the original) and 2 (a rename)."""
    settings = write_deployment(tmp_path)
    village = tmp_path / "dongcun.yaml"
    original = village.read_text(encoding="utf-8")
    store = VersionStore(versions_location(load_settings(settings)))
    try:
        done = apply_village(store, village, original.replace("name: 石桥水位计", "name: 新水位计", 1),
                             village="dongcun", who="wang", note="rename", at_ms=0)  # fmt: skip
        assert isinstance(done, Applied)
    finally:
        store.close()
    return settings, village, original


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["config", *args])
    return result.exit_code, result.stdout, result.stderr


def test_versions_lists_number_time_who_and_why(tmp_path: Path) -> None:
    settings, _, _ = _setup(tmp_path)
    code, out, _ = _run("versions", "-c", str(settings), "dongcun")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["2", "1970-01-01", "00:00:00", "UTC", "wang", "rename"]
    assert lines[1].startswith("   1  1970-01-01 00:00:00 UTC  (on disk)  the file as found")


def test_diff_prints_the_change_between_two_versions(tmp_path: Path) -> None:
    settings, _, _ = _setup(tmp_path)
    code, out, _ = _run("diff", "-c", str(settings), "dongcun", "1")
    assert code == 0 and "village:dongcun v1" in out and "+" in out and "新水位计" in out
    code, out, _ = _run("diff", "-c", str(settings), "dongcun", "2", "1")
    assert code == 0 and "village:dongcun v2" in out
    code, _, err = _run("diff", "-c", str(settings), "dongcun", "1", "5")
    assert code == 1 and "village:dongcun has no version 5" in err


def test_rollback_applies_an_old_version_as_a_new_one(tmp_path: Path) -> None:
    settings, village, original = _setup(tmp_path)
    args = ["rollback", "-c", str(settings), "dongcun", "1", "--by", "li", "--note", "undo"]
    code, out, err = _run(*args)
    assert code == 0, err
    assert "version 1 applied again as version 3" in out
    assert village.read_text(encoding="utf-8") == original
    code, out, _ = _run("versions", "-c", str(settings), "dongcun")
    assert out.splitlines()[0].endswith("li  undo [rollback to 1]")


def test_rollback_works_while_the_file_on_disk_is_broken(tmp_path: Path) -> None:
    """The reason to roll back: a hand edit broke the file; the village is still found by the
    id written in it."""
    settings, village, original = _setup(tmp_path)
    village.write_text(original + "bogus: 1\n", encoding="utf-8")
    code, _, err = _run("rollback", "-c", str(settings), "dongcun", "1", "--by", "li",
                        "--note", "repair")  # fmt: skip
    assert code == 0, err
    assert village.read_text(encoding="utf-8") == original
    store = VersionStore(versions_location(load_settings(settings)))
    try:
        assert [v.who for v in store.versions("village:dongcun")][:2] == ["li", "(on disk)"]
    finally:
        store.close()


def test_rollback_refuses_an_invalid_version_a_missing_note_and_an_unknown_village(
    tmp_path: Path,
) -> None:
    settings, village, original = _setup(tmp_path)
    village.write_text(original + "bogus: 1\n", encoding="utf-8")
    assert _run("rollback", "-c", str(settings), "dongcun", "2", "--by", "li",
                "--note", "repair")[0] == 0  # fmt: skip
    # version 3 is the broken hand edit, kept; rolling back to it is checked
    code, _, err = _run("rollback", "-c", str(settings), "dongcun", "3", "--by", "li",
                        "--note", "again")  # fmt: skip
    assert code == 1
    assert f"{village}:" in err and "bogus" in err
    assert "version 3 is not a valid village file today; nothing changed" in err
    assert "bogus" not in village.read_text(encoding="utf-8")
    code, _, err = _run("rollback", "-c", str(settings), "dongcun", "1", "--by", "li",
                        "--note", " ")  # fmt: skip
    assert code == 1 and "a note is required" in err
    code, _, err = _run("versions", "-c", str(settings), "xicun")
    assert code == 1 and "no village 'xicun'" in err


def test_a_cameras_zone_versions_from_a_terminal(tmp_path: Path) -> None:
    """The zones the console applied to a camera, listed and diffed as a village file's are."""
    from villagewatch.versions.cameras import CameraZones, apply_zones

    settings, _, _ = _setup(tmp_path)
    store = VersionStore(versions_location(load_settings(settings)))
    try:
        for n, corner in enumerate((0.5, 0.6)):
            lane = {"id": "lane", "kind": "no_parking",
                    "polygon": [[0.1, 0.1], [corner, 0.1], [corner, 0.6]]}  # fmt: skip
            apply_zones(
                store, CameraZones.model_validate({"zones": [lane]}), village="dongcun",
                agent="edge-bridge", device="cam-bridge", who="zhao", note=f"lane {n}",
                at_ms=0, publish=lambda _topic, _payload: None,
            )  # fmt: skip
    finally:
        store.close()
    code, out, _ = _run("versions", "-c", str(settings), "dongcun", "--camera", "cam-bridge")
    assert code == 0 and [line.split()[-2:] for line in out.splitlines()] == [
        ["lane", "1"],
        ["lane", "0"],
    ]
    code, out, _ = _run("diff", "-c", str(settings), "dongcun", "1", "--camera", "cam-bridge")
    assert code == 0 and "camera:dongcun/cam-bridge v1" in out and "0.6" in out
    code, out, _ = _run("versions", "-c", str(settings), "dongcun", "--camera", "cam-market")
    assert code == 0 and "dongcun/cam-market zones: no versions yet" in out
