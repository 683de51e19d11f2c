"""A camera (``driver: camera``): frames through the vision pipeline; events, readings, evidence.

What the camera looks for is its camera file (``camera:``, see ``config/cameras/`` and
docs/vision.md); this config says where the frames come from and how often. Only events
(with one evidence snapshot each), gauge levels, free/occupied spaces and the frame rate
cross the village link — never the video. Needs the ``vision`` extra (OpenCV).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from villagewatch.config.paths import ConfigPath
from villagewatch.contract import Identifier, StrictModel
from villagewatch.edge.measurement import Emit, Measurement
from villagewatch.edge.vision.config import Mask, Zone, outside_the_picture
from villagewatch.runtime.waiting import sleep_or_stop

if TYPE_CHECKING:
    from villagewatch.edge.vision.pipeline import CameraPipeline, Output

__all__ = ["CameraConfig", "CameraDriver"]

log = logging.getLogger(__name__)
_IDLE_S = 0.05


class CameraConfig(StrictModel):
    """A camera watched by the edge agent (`driver: camera`)."""

    driver: Literal["camera"] = Field(description="Selects this driver.")
    device: Identifier = Field(description="The camera's device id in the village config.")
    source: str = Field(
        min_length=1,
        description="Where the frames come from: `rtsp://…`, `http(s)://…` (a still JPEG with "
        "`still_interval_s`, else MJPEG), a video file, `/dev/video0`, or a folder of stills.",
    )
    camera: ConfigPath = Field(description="The camera file: zones, privacy masks, what to detect.")
    fps: float = Field(2, gt=0, le=30, description="Frames processed per second (video).")
    still_interval_s: float | None = Field(
        None, gt=0, description="For an `http(s)` still: fetch a picture this often."
    )
    zones: list[Zone] | None = Field(
        None,
        description="The zones, in normalised coordinates (0-1 of the picture's width and "
        "height), in place of the camera file's: what the centre's console sets through the "
        "remote config. Unset: the camera file's.",
    )
    masks: list[Mask] | None = Field(
        None,
        description="The privacy masks, normalised like `zones`, in place of the camera file's "
        "(set by the centre's console). Unset: the camera file's.",
    )

    @model_validator(mode="after")
    def _in_the_picture(self) -> CameraConfig:
        problem = outside_the_picture(self.zones or [], self.masks or [])
        if problem:
            raise ValueError(problem)
        return self


class CameraDriver:
    """Runs one camera's vision pipeline on its frames and emits what it finds."""

    def __init__(self, cfg: CameraConfig, state_dir: Path | None = None) -> None:
        from villagewatch.edge.vision.config import load_camera

        if importlib.util.find_spec("cv2") is None:
            raise RuntimeError(
                f"camera {cfg.device}: camera vision needs OpenCV: "
                "pip install 'villagewatch[vision]'"
            )
        self.cfg = cfg
        self._position = None if state_dir is None else state_dir / f"camera-{cfg.device}.pos"
        self.devices = [cfg.device]
        self.vision = load_camera(cfg.camera)  # a broken camera file stops the agent's start
        if cfg.zones is not None or cfg.masks is not None:
            self.vision = self.vision.with_zones(zones=cfg.zones, masks=cfg.masks)

    def _pipeline(self) -> CameraPipeline:
        from villagewatch.edge.vision.pipeline import CameraPipeline
        from villagewatch.edge.vision.references import load_references

        refs = []
        if self.vision.parking is not None and self.vision.parking.references is not None:
            refs = load_references(self.vision.parking.references)
        return CameraPipeline(self.vision, references=refs)

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Read frames until ``stop``; a camera that is away is retried by its source."""
        from villagewatch.edge.vision.capture import open_source, shown
        from villagewatch.edge.vision.capturetime import CaptureClock

        pipeline = await asyncio.to_thread(self._pipeline)
        clock = CaptureClock(self.cfg.device, self.vision.capture, self.vision.utc_offset_h)
        source = open_source(
            self.cfg.source,
            fps=self.cfg.fps,
            still_interval_s=self.cfg.still_interval_s,
            position=self._position,
            clock=clock,
        )
        log.info(
            "camera %s: watching %s (%s)", self.cfg.device, shown(self.cfg.source), self.cfg.camera
        )
        last = -math.inf
        try:
            while not stop.is_set():
                got = await asyncio.to_thread(source.next)
                if got is None:
                    await sleep_or_stop(stop, _IDLE_S)
                    continue
                frame, t = got
                if t < last:  # a still out of time order: dwell and backgrounds never go back
                    log.warning(
                        "camera %s: a picture taken %.0f s before the one before it; "
                        "taken as at the same time", self.cfg.device, last - t,
                    )  # fmt: skip
                    t = last
                last = t
                out = await asyncio.to_thread(pipeline.process, frame, t)
                self._emit(out, emit, t)
                source.done()
        finally:
            source.close()

    def _emit(self, out: Output, emit: Emit, taken: float) -> None:
        """Hand on what one frame produced, its events and readings at the frame's capture
        time ``taken``."""
        dev = self.cfg.device
        for ev in out.evidence:  # kept before the event that names it
            emit(Measurement(dev, "evidence", {"id": ev.id}, ev.jpeg))
        for event in out.events:
            emit(Measurement(dev, "event", event, at=taken))
        for reading in out.telemetry:
            emit(Measurement(dev, "telemetry", reading, at=taken))
