"""The model stage: loading through cv2.dnn (a tiny ONNX model built here), its errors, the
regions it looks at, and the rules telling a person from other objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from pydantic import ValidationError

from villagewatch.edge.vision.config import CameraVision
from villagewatch.edge.vision.labels import regions_around, tiles
from villagewatch.edge.vision.model import DetectionModel, ModelError
from villagewatch.edge.vision.model_settings import ModelSettings, OutputLayout
from villagewatch.edge.vision.objects import Tracked
from villagewatch.edge.vision.rules import Rules
from villagewatch.edge.vision.scene import Scene

SIDE = 32
# two SSD rows: class 1 (mapped to person) at 0.9 in the left half, class 2 at 0.8 right
ROWS = np.array(
    [[[[0, 1, 0.9, 0.0, 0.0, 0.5, 1.0], [0, 2, 0.8, 0.5, 0.25, 1.0, 0.75]]]], np.float32
)


def _tiny_ssd(path: Path, rows: np.ndarray = ROWS) -> Path:
    """A model taking a fixed 1x3x32x32 input whose output is ``rows`` (an SSD
    ``DetectionOutput`` tensor): the input goes through a zero MatMul, so another size fails."""
    n = SIDE * SIDE * 3
    zeros = numpy_helper.from_array(np.zeros((n, rows.size), np.float32), "w")
    bias = numpy_helper.from_array(rows.reshape(1, -1), "b")
    shape = numpy_helper.from_array(np.array(rows.shape, np.int64), "shape")
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["sum"]),
        helper.make_node("Reshape", ["sum", "shape"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_ssd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(rows.shape))],
        [zeros, bias, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _settings(path: Path, **kw: object) -> ModelSettings:
    base: dict[str, object] = {
        "file": path, "format": "onnx", "input_size": (SIDE, SIDE),
        "classes": {1: "person", 2: "stall"}, "score": 0.5,
    }  # fmt: skip
    return ModelSettings.model_validate(base | kw)


def test_an_onnx_ssd_model_gives_detections_of_our_kinds_in_full_frame_pixels(
    tmp_path: Path,
) -> None:
    model = DetectionModel(_settings(_tiny_ssd(tmp_path / "m.onnx")))
    frame = np.zeros((200, 400, 3), np.uint8)
    found = model.detect(frame, [(100, 40, 100, 80)])
    assert [(d.kind, d.box, round(d.score, 2)) for d in found] == [
        ("person", (100, 40, 50, 80), 0.9),
        ("stall", (150, 60, 50, 40), 0.8),
    ]
    whole = model.detect(frame)
    assert [d.box for d in whole] == [(0, 0, 200, 200), (200, 50, 200, 100)]


def test_unmapped_classes_and_scores_below_the_threshold_are_left_out(tmp_path: Path) -> None:
    path = _tiny_ssd(tmp_path / "m.onnx")
    only_person = DetectionModel(_settings(path, classes={1: "person"}))
    assert [d.kind for d in only_person.detect(np.zeros((64, 64, 3), np.uint8))] == ["person"]
    strict = DetectionModel(_settings(path, score=0.85))
    assert [d.kind for d in strict.detect(np.zeros((64, 64, 3), np.uint8))] == ["person"]


def test_empty_and_outside_regions_are_skipped(tmp_path: Path) -> None:
    model = DetectionModel(_settings(_tiny_ssd(tmp_path / "m.onnx")))
    frame = np.zeros((100, 100, 3), np.uint8)
    assert model.detect(frame, [(10, 10, 0, 0), (500, 500, 50, 50), (-80, -80, 60, 60)]) == []


def test_overlapping_regions_give_one_box_per_object(tmp_path: Path) -> None:
    model = DetectionModel(_settings(_tiny_ssd(tmp_path / "m.onnx"), classes={1: "person"}))
    frame = np.zeros((100, 100, 3), np.uint8)
    assert len(model.detect(frame, [(0, 0, 100, 100), (1, 0, 99, 100)])) == 1


def test_a_missing_model_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model file .*nowhere\.onnx does not exist"):
        DetectionModel(_settings(tmp_path / "nowhere.onnx"))


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x08\x07" * 40])
def test_a_corrupt_model_file_is_named(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"bad\.onnx is corrupt or not an ONNX model"):
        DetectionModel(_settings(path))


def test_a_truncated_model_file_is_named(tmp_path: Path) -> None:
    path = _tiny_ssd(tmp_path / "m.onnx")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelError, match=r"m\.onnx is corrupt"):
        DetectionModel(_settings(path))


def test_a_corrupt_tensorflow_graph_is_named(tmp_path: Path) -> None:
    path = tmp_path / "graph.pb"
    path.write_bytes(b"\x0a\xff\xff\xff garbage")
    with pytest.raises(ModelError, match=r"graph\.pb"):
        DetectionModel(ModelSettings(file=path))


def test_an_input_size_the_model_refuses_is_named(tmp_path: Path) -> None:
    path = _tiny_ssd(tmp_path / "m.onnx")
    with pytest.raises(ModelError, match=r"refuses input_size 48x48"):
        DetectionModel(_settings(path, input_size=(48, 48)))


def test_an_output_of_another_layout_is_named(tmp_path: Path) -> None:
    path = _tiny_ssd(tmp_path / "m.onnx")
    with pytest.raises(ModelError, match=r"layout yolov8 wants a 3-d output"):
        DetectionModel(_settings(path, layout="yolov8"))


def test_a_yolov8_output_is_decoded(tmp_path: Path) -> None:
    # [1, 4 + 2 classes, 2 candidates]: cx, cy, w, h in input pixels, then class scores
    rows = np.array([[[16, 8], [16, 8], [16, 8], [32, 8], [0.95, 0.1], [0.0, 0.2]]], np.float32)
    path = _tiny_ssd(tmp_path / "y.onnx", rows)
    settings = _settings(path, layout=OutputLayout.YOLOV8, classes={0: "person", 1: "stall"})
    found = DetectionModel(settings).detect(np.zeros((64, 64, 3), np.uint8))
    assert [(d.kind, d.box) for d in found] == [("person", (16, 0, 32, 64))]  # YOLO ids from 0


def test_a_class_map_naming_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"class 3 maps to 'cat', which is not one of"):
        CameraVision.model_validate({"camera": "c", "model": {"classes": {3: "cat"}}})


def test_text_graph_is_for_tensorflow_only(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="text_graph is only for format: tensorflow"):
        ModelSettings.model_validate({"format": "onnx", "text_graph": str(tmp_path / "g")})


def test_regions_are_squares_of_at_least_the_input_size_merged_when_they_overlap() -> None:
    size = (1280, 720)
    assert regions_around([(100, 100, 20, 40)], size, 300) == [(0, 0, 300, 300)]
    assert regions_around([(600, 300, 40, 500)], size, 300) == [(295, 70, 650, 650)]
    two = regions_around([(100, 100, 20, 40), (200, 120, 20, 40)], size, 300)
    assert two == [(0, 0, 360, 300)]
    assert regions_around([(5, 5, 0, 0)], size, 300) == []
    assert all(w > 0 and h > 0 for *_, w, h in tiles(size))
    assert tiles((100, 50))[-1] == (75, 25, 25, 25)


# --- rules: a person is not an object that stays ---------------------------------------------


def _cam(kind: str) -> CameraVision:
    zone = {"id": "z", "kind": kind, "dwell_s": 10, "min_object": 0.001,
            "polygon": [[0, 0], [1280, 0], [1280, 720], [0, 720]]}  # fmt: skip
    return CameraVision.model_validate({"camera": "c", "zones": [zone]})


def _obj(i: int, box: tuple[int, int, int, int]) -> Tracked:
    return Tracked(i, box, 0.0, 0.0, np.zeros((1, 1), np.float32), box, box[2] * box[3])


def _rules(kind: str) -> Rules:
    scene = Scene(_cam(kind), 1280, 720)
    return Rules(scene.zones, scene.small_w * scene.small_h, 20)


@pytest.mark.parametrize(
    ("kind", "detection"), [("no_parking", "illegal_parking"), ("bin_area", "exposed_garbage")]
)
def test_a_person_standing_still_is_neither_a_parked_car_nor_garbage(
    kind: str, detection: str
) -> None:
    person, other = _obj(1, (50, 50, 10, 25)), _obj(2, (150, 50, 20, 20))
    labels = {1: ("person", 0.9)}
    found = _rules(kind).objects([person, other], [], 60.0, 600, labels)
    assert [(f.detection, f.box, f.label) for f in found] == [(detection, other.box, None)]
    # without a model stage: both are objects that stay, as before
    assert len(_rules(kind).objects([person, other], [], 60.0, 600)) == 2


def test_street_vending_is_a_stall_with_a_person_beside_it_in_the_road() -> None:
    person, stall = _obj(1, (50, 50, 10, 25)), _obj(2, (62, 60, 20, 15))
    far = _obj(3, (250, 150, 20, 15))
    labels = {1: ("person", 0.9), 3: ("vehicle", 0.7)}
    found = _rules("road").objects([person, stall, far], [], 60.0, 600, labels)
    assert [(f.detection, f.box) for f in found] == [("street_vending", stall.box)]
    alone = _rules("road").objects([stall], [], 60.0, 600, {})
    assert alone == []
    just_a_person = _rules("road").objects([person], [], 60.0, 600, labels)
    assert just_a_person == []


def test_a_finding_carries_the_model_label_to_its_clearing() -> None:
    rules = _rules("bin_area")
    bag = _obj(1, (50, 50, 20, 20))
    [raised] = rules.objects([bag], [], 60.0, 600, {1: ("garbage", 0.8)})
    assert (raised.label, raised.label_score) == ("garbage", 0.8)
    [cleared] = rules.objects([], [bag], 90.0, 600, {})
    assert cleared.cleared
    assert (cleared.label, cleared.label_score) == ("garbage", 0.8)


def test_cameras_with_the_same_model_settings_share_one_loaded_model(tmp_path: Path) -> None:
    from villagewatch.edge.vision.model import shared_model

    path = _tiny_ssd(tmp_path / "m.onnx")
    assert shared_model(_settings(path)) is shared_model(_settings(path))
    assert shared_model(_settings(path)) is not shared_model(_settings(path, score=0.7))


def test_config_check_with_files_loads_the_cameras_model(tmp_path: Path) -> None:
    """`villagewatch config check --files` tries the model as the edge box would: a missing
    or corrupt file is named there, not first in the agent's log."""
    from villagewatch.cli.configcheck import ConfigKind, check_file

    folder = tmp_path / "cameras"
    folder.mkdir()
    camera = folder / "street.yaml"
    camera.write_text(
        "camera: street\nframe: [640, 360]\nzones: []\n"
        "model: {file: m.onnx, format: onnx, input_size: [32, 32], classes: {1: person}}\n"
    )
    assert check_file(camera, ConfigKind.CAMERA) == []  # without --files: the file alone
    [missing] = check_file(camera, ConfigKind.CAMERA, read_files=True)
    assert missing.path == "model"
    assert "m.onnx does not exist" in missing.message
    (folder / "m.onnx").write_bytes(b"\x08\x01garbage" * 10)
    [corrupt] = check_file(camera, ConfigKind.CAMERA, read_files=True)
    assert "corrupt or not an ONNX model" in corrupt.message
    _tiny_ssd(folder / "m.onnx")
    assert check_file(camera, ConfigKind.CAMERA, read_files=True) == []
