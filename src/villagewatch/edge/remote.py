"""Remote config: what the centre's retained ``vw/v1/<village>/<agent>/config`` changes.

The desired config (contract ``DesiredConfig``: ``{"v": 1, "version": N, "config": {…}}``)
is the *whole* desired state, laid over ``edge.yaml`` — never over the previous remote
config — so applying the same message twice gives the same agent::

    {"drain_rate": 2000,
     "devices": {"wl-bridge": {"interval_s": 30, "offset": -12.5},
                 "cam-bridge": {"source": "rtsp://10.0.0.7/stream2"}}}

``devices`` names a device entry of ``edge.yaml`` by its ``device`` id; its keys are that
driver's config keys (sampling interval, scale and offset, zones, …) and are checked by the
same model as ``edge.yaml``. What identifies a device (``driver``, ``device``) and files on
the box (paths) are set in ``edge.yaml`` only. Any mistake refuses the whole config, with the
reason; the agent keeps running the last good one.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, Field, JsonValue, ValidationError

from villagewatch.config.yamlfile import format_path
from villagewatch.contract import Identifier, StrictModel
from villagewatch.contract.control import DesiredConfig
from villagewatch.edge.drivers import Zigbee2MqttConfig
from villagewatch.edge.settings import EdgeSettings
from villagewatch.errors import VillagewatchError

__all__ = ["RemoteConfig", "RemoteConfigError", "apply_remote", "bounded_reason", "parse_desired"]

_LOCAL_ONLY = frozenset({"driver", "device"})
_REASON_MAX = 500


class RemoteConfigError(VillagewatchError):
    """A desired config that cannot be applied; the message says what and where."""


class RemoteConfig(StrictModel):
    """The `config` object of a desired config: what it changes in edge.yaml."""

    drain_rate: int | None = Field(
        None, ge=1, description="Backlog readings sent per second after an outage."
    )
    live_window_s: float | None = Field(
        None, gt=0, description="Older than this when sent (or made offline): `historical`."
    )
    devices: dict[Identifier, dict[str, JsonValue]] = Field(
        default_factory=dict, description="Per device id: driver config keys to change."
    )


def parse_desired(payload: bytes) -> DesiredConfig:
    """The desired config in a ``…/config`` message; RemoteConfigError says what is wrong."""
    try:
        return DesiredConfig.model_validate_json(payload)
    except ValidationError as exc:
        raise RemoteConfigError(_reason(exc)) from None


def version_of(payload: bytes) -> int:
    """The version a (possibly broken) desired config claims, to report against; else 0."""
    try:
        version = orjson.loads(payload).get("version")
    except (orjson.JSONDecodeError, AttributeError):
        return 0
    return version if isinstance(version, int) and version >= 0 else 0


def apply_remote(base: EdgeSettings, config: dict[str, Any]) -> EdgeSettings:
    """``base`` (edge.yaml) with ``config`` laid over it; RemoteConfigError on any mistake."""
    try:
        remote = RemoteConfig.model_validate(config)
    except ValidationError as exc:
        raise RemoteConfigError(_reason(exc)) from None
    devices = list(base.devices)
    for device, changes in remote.devices.items():
        where = f"devices.{device}"
        index = next(
            (i for i, d in enumerate(devices) if getattr(d, "device", None) == device), None
        )
        if index is None:
            raise RemoteConfigError(f"{where}: {_missing(base, device)}")
        current = devices[index]
        model = type(current)
        for key in changes:
            if key in _LOCAL_ONLY or (key in model.model_fields and _is_path(model, key)):
                raise RemoteConfigError(f"{where}.{key}: set in edge.yaml on the box, not remotely")
        try:
            devices[index] = model.model_validate({**current.model_dump(), **changes})
        except ValidationError as exc:
            raise RemoteConfigError(_reason(exc, where)) from None
    update: dict[str, Any] = {"devices": devices}
    if remote.drain_rate is not None:
        update["drain_rate"] = remote.drain_rate
    if remote.live_window_s is not None:
        update["live_window_s"] = remote.live_window_s
    return base.model_copy(update=update)


def _missing(base: EdgeSettings, device: str) -> str:
    for entry in base.devices:
        if isinstance(entry, Zigbee2MqttConfig) and any(b.device == device for b in entry.devices):
            return "is behind a zigbee2mqtt bridge, which has nothing to set remotely"
    return "no such device on this agent (devices are added in edge.yaml)"


def _is_path(model: type[BaseModel], key: str) -> bool:
    annotation = model.model_fields[key].annotation
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else ()
    return annotation is Path or Path in args


def _reason(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors():
        loc = format_path([p for p in err["loc"] if isinstance(p, str | int)])
        path = ".".join(p for p in (prefix, loc) if p)
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{path}: {message}" if path else message)
    return bounded_reason("; ".join(parts))


def bounded_reason(reason: str) -> str:
    """``reason`` cut to what a config report carries (500 characters)."""
    return reason if len(reason) <= _REASON_MAX else reason[: _REASON_MAX - 1] + "…"
