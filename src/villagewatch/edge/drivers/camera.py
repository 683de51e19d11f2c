"""The slot for camera vision — NOT BUILT YET: this driver emits nothing.

The config (`driver: camera`, `device`, `source`) is accepted now so that a site's
``edge.yaml`` can list its cameras; the detections (illegal parking, exposed garbage, street
vending, river debris) are the camera-vision issue, which will replace this driver. Until
then :meth:`CameraPlaceholder.run` logs once that vision is not built and waits for stop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from pydantic import BaseModel, Field

from villagewatch.contract import Identifier
from villagewatch.edge.drivers._common import STRICT
from villagewatch.edge.measurement import Emit

__all__ = ["CameraConfig", "CameraPlaceholder"]

log = logging.getLogger(__name__)


class CameraConfig(BaseModel):
    """A camera (`driver: camera`) — accepted, but vision is not built yet: it emits nothing."""

    model_config = STRICT

    driver: Literal["camera"] = Field(description="Selects this driver.")
    device: Identifier = Field(description="The camera's device id in the village config.")
    source: str = Field(
        min_length=1, description="Where the frames come from, e.g. an RTSP URL or `/dev/video0`."
    )


class CameraPlaceholder:
    """Stands in for the camera-vision driver: logs, then waits for ``stop``; emits nothing."""

    def __init__(self, cfg: CameraConfig) -> None:
        self.cfg = cfg
        self.devices = [cfg.device]

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:  # noqa: ARG002 - emits nothing
        """Log that vision is not built, then return when ``stop`` is set."""
        log.warning("camera %s: camera vision is not built yet; it sends nothing", self.cfg.device)
        await stop.wait()
