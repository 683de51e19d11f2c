"""What the driver tests share: checking a measurement against the contract, and waiting on
the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson

from villagewatch.contract import DeviceKind
from villagewatch.contract.payloads import event_model, telemetry_model
from villagewatch.edge.measurement import Measurement

__all__ = ["assert_contract", "until"]

_STAMP = {"seq": 0, "ts": 1_700_000_000_000, "clock": "synced"}


def assert_contract(kind: DeviceKind, m: Measurement) -> None:
    """The measurement, once stamped, is a valid contract item of a device of ``kind``."""
    item = {**_STAMP, **m.data}
    envelope = {"v": 1, "device": m.device, "boot": "b1"}
    if m.channel == "telemetry":
        telemetry_model(kind).model_validate_json(orjson.dumps({**envelope, "reading": item}))
    else:
        model = event_model(kind)
        assert model is not None
        model.model_validate_json(orjson.dumps({**envelope, "event": item}))


async def until(probe: Callable[[], object], *, within: float = 5, what: str = "it") -> None:
    """Poll ``probe`` on the event loop until it is truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)
