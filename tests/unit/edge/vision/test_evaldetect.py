"""Detection evaluation: the matching and AP maths on hand-made cases, the YOLO reader's
refusals of hostile sets, and the whole mode through the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from villagewatch.cli import app
from villagewatch.edge.vision.config import CameraVision
from villagewatch.edge.vision.detections import Detection
from villagewatch.edge.vision.evaldetect import average_precision, evaluate_detections, match
from villagewatch.edge.vision.scene import Scene
from villagewatch.edge.vision.yolo import class_names, read_labels, read_whole_image, scan


def d(kind: str, box: tuple[int, int, int, int], score: float = 1.0) -> Detection:
    return Detection(kind, box, score)


# --- matching and AP ------------------------------------------------------------------------


def test_greedy_matching_gives_the_truth_to_the_best_score_first() -> None:
    truth = [d("bag", (0, 0, 10, 10))]
    found = [d("bag", (1, 1, 10, 10), 0.4), d("bag", (0, 0, 10, 10), 0.9)]
    hits, missed = match(found, truth)
    assert hits == [False, True] and missed == 0


def test_a_box_of_another_class_or_below_half_iou_does_not_match() -> None:
    truth = [d("bag", (0, 0, 10, 10))]
    hits, missed = match([d("bottle", (0, 0, 10, 10)), d("bag", (6, 0, 10, 10))], truth)
    assert hits == [False, False] and missed == 1


def test_iou_of_exactly_one_half_matches() -> None:
    # 10x10 truth, 10x5 box inside it: IoU 50/100
    hits, _ = match([d("bag", (0, 0, 10, 5))], [d("bag", (0, 0, 10, 10))])
    assert hits == [True]


@pytest.mark.parametrize(
    ("scored", "n_truth", "ap"),
    [
        pytest.param([(0.9, True), (0.8, True)], 2, 1.0, id="all-right"),
        pytest.param([(0.9, True)], 2, 0.5, id="half-found"),
        pytest.param([(0.9, False), (0.8, True)], 1, 0.5, id="false-first"),
        # ranks: T F T → precision 1, 1/2, 2/3 at recall 1/3, 1/3, 2/3; the envelope at 2/3 is
        # 2/3: AP = 1/3 * 1 + 1/3 * 2/3
        pytest.param([(0.9, True), (0.8, False), (0.7, True)], 3, 1 / 3 + 2 / 9, id="interp"),
        # the envelope lifts the dip: T F F T T at 3 truth → p at recall 1/3 = 1, then
        # recall 2/3 at p 2/4, recall 1 at p 3/5 → the envelope at 2/3 is 3/5
        pytest.param(
            [(0.9, True), (0.8, False), (0.7, False), (0.6, True), (0.5, True)], 3,
            1 / 3 + 1 / 3 * 3 / 5 + 1 / 3 * 3 / 5, id="envelope",
        ),
        pytest.param([], 2, 0.0, id="nothing-found"),
        pytest.param([(0.5, False)], 0, math.nan, id="nothing-to-find"),
    ],
)  # fmt: skip
def test_average_precision_all_point(
    scored: list[tuple[float, bool]], n_truth: int, ap: float
) -> None:
    got = average_precision(scored, n_truth)
    assert (math.isnan(got) and math.isnan(ap)) or got == pytest.approx(ap)


# --- the YOLO reader ------------------------------------------------------------------------


def _set(tmp_path: Path, labels: dict[str, str], *, classes: str = "bag\nbottle\n") -> Path:
    """A set of 64x48 grey images, one per label file (and its labels beside it)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "classes.txt").write_text(classes)
    for name, text in labels.items():
        cv2.imwrite(str(tmp_path / f"{name}.png"), np.full((48, 64, 3), 90, np.uint8))
        (tmp_path / f"{name}.txt").write_text(text)
    return tmp_path


def test_labels_become_pixel_boxes(tmp_path: Path) -> None:
    root = _set(tmp_path, {"a": "# a comment\n1 0.5 0.5 0.25 0.5\n\n0 0.125 0.25 0.25 0.5\n"})
    got = read_labels(root / "a.txt", class_names(root), 64, 48)
    assert got == [
        Detection("bottle", (24, 12, 16, 24), 1.0),
        Detection("bag", (0, 0, 16, 24), 1.0),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param("0 0.9 0.5 0.4 0.2\n", "outside the picture", id="beyond-1"),
        pytest.param("0 0.5 0.5 0.2 0.2\n0 -0.2 0.5 0.2 0.2\n", "a.txt:2", id="negative"),
        pytest.param("0 50 40 10 10\n", "fractions 0-1", id="pixels-not-fractions"),
        pytest.param("2 0.5 0.5 0.2 0.2\n", "class 2 has no name", id="class-id"),
        pytest.param("-1 0.5 0.5 0.2 0.2\n", "class -1 has no name", id="negative-class"),
        pytest.param("bag 0.5 0.5 0.2 0.2\n", "not a class index", id="class-name"),
        pytest.param("0 0.5 0.5 0.2\n", "expected `class cx cy w h`", id="four-fields"),
        pytest.param("0 0.5 0.5 0 0.2\n", "width and height above 0", id="zero-box"),
        pytest.param("0 0.5 nan 0.2 0.2\n", "width and height above 0", id="nan"),
        pytest.param("0 0.5 x 0.2 0.2\n", "must be numbers", id="text"),
    ],
)  # fmt: skip
def test_bad_labels_are_refused_with_file_and_line(tmp_path: Path, text: str, words: str) -> None:
    root = _set(tmp_path, {"a": text})
    with pytest.raises(ValueError, match=words) as exc:
        read_labels(root / "a.txt", class_names(root), 64, 48)
    assert "a.txt:" in str(exc.value)


def test_labels_of_a_missing_image_are_refused(tmp_path: Path) -> None:
    root = _set(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"})
    (root / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(ValueError, match=r"b\.txt: labels for an image that is missing"):
        scan(root)


def test_truncated_images_are_refused(tmp_path: Path) -> None:
    img = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    for suffix in (".jpg", ".png"):
        ok, data = cv2.imencode(suffix, img)
        assert ok
        path = tmp_path / f"cut{suffix}"
        path.write_bytes(data.tobytes()[: len(data) * 2 // 3])
        with pytest.raises(ValueError, match=r"cut short"):
            read_whole_image(path)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.jpg is not an image"):
        read_whole_image(tmp_path / "empty.jpg")


def test_class_names_from_data_yaml_list_or_mapping_or_refused(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("names: [debris, garbage]\n")
    assert class_names(tmp_path) == ["debris", "garbage"]
    (tmp_path / "data.yaml").write_text("names:\n  0: debris\n  1: garbage\n")
    assert class_names(tmp_path) == ["debris", "garbage"]
    (tmp_path / "data.yaml").write_text("names:\n  0: debris\n  2: garbage\n")
    with pytest.raises(ValueError, match="without gaps"):
        class_names(tmp_path)
    (tmp_path / "data.yaml").unlink()
    with pytest.raises(ValueError, match=r"classes\.txt"):
        class_names(tmp_path)


def test_images_and_labels_folders_by_the_yolo_layout(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "data.yaml").write_text("names: [bag]\n")
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.full((48, 64, 3), 90, np.uint8))
    cv2.imwrite(str(tmp_path / "images" / "b.jpg"), np.full((48, 64, 3), 90, np.uint8))
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    items = scan(tmp_path / "images")
    assert [(i.image.name, i.labels) for i in items] == [
        ("a.jpg", tmp_path / "labels" / "a.txt"),
        ("b.jpg", None),
    ]
    assert class_names(tmp_path / "images") == ["bag"]


# --- the whole mode -------------------------------------------------------------------------


def _cam() -> CameraVision:
    return CameraVision.model_validate({
        "camera": "t", "frame": [64, 48],
        "zones": [{"id": "bins", "kind": "bin_area", "polygon": [[0, 0], [64, 0], [64, 48], [0, 48]]}],
    })  # fmt: skip


def test_the_figures_per_class_and_the_drawn_pictures(tmp_path: Path) -> None:
    root = _set(tmp_path / "set", {"a": "0 0.25 0.25 0.25 0.25\n", "b": "0 0.5 0.5 0.25 0.25\n"})

    def detector(scene: Scene) -> object:
        # finds the first image's box exactly, and in the second a box off by half its size
        answers = iter([[d("bag", (8, 6, 16, 12), 0.9)], [d("bag", (0, 0, 16, 12), 0.8)]])
        return lambda frame: next(answers)

    result = evaluate_detections(_cam(), root, detector, out=tmp_path / "drawn")  # type: ignore[arg-type]
    bag = result.classes["bag"]
    assert (bag.truth, bag.tp, len(bag.scored)) == (2, 1, 2)
    assert bag.precision == 0.5 and bag.recall == 0.5 and bag.ap == pytest.approx(0.5)
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == ["a.jpg", "b.jpg"]
    text = result.render()
    assert "b.png: truth 1, found 1, matched 0" in text and "bottle" not in text


def test_the_cli_detection_mode_names_a_bad_label(tmp_path: Path) -> None:
    root = _set(tmp_path / "set", {"a": "0 0.5 0.5 1.5 0.2\n"})
    cam = tmp_path / "cam.yaml"
    cam.write_text(
        "camera: t\nframe: [64, 48]\nzones:\n"
        "  - {id: bins, kind: bin_area, polygon: [[0, 0], [64, 0], [64, 48], [0, 48]]}\n"
    )
    result = CliRunner().invoke(app, ["vision", "eval", "-c", str(cam), "--images", str(root)])
    assert result.exit_code == 1
    assert "a.txt:1: the box reaches outside the picture" in result.output
