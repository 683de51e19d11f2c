"""Encode contract messages: the one writer of the envelope that ``decode.py`` reads.

Every producer — the edge agent's sender and its link, the simulator — builds its
payloads here, so a change to the envelope is made once, beside the decoder, and
``tests/unit/contract/test_encode.py`` checks that what is written decodes to the same records.

Plain dicts through orjson rather than the pydantic models: the sender encodes a batch
per message at the agent's full rate and does not know the device kinds; the decoder
stays the judge of what is valid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson

from villagewatch.contract.topics import Channel

__all__ = ["encode_items", "encode_status"]

_ITEM_KEYS = {Channel.TELEMETRY: "reading", Channel.EVENT: "event"}


def encode_items(
    *,
    device: str,
    boot: str,
    channel: Channel,
    items: Sequence[Mapping[str, Any]],
    historical: bool = False,
) -> bytes:
    """A ``…/telemetry`` or ``…/event`` payload carrying ``items`` of one device and boot.

    One live item goes as itself (``reading`` / ``event``), anything else — several items,
    or backlog — as a batch (``readings`` / ``events``).
    """
    key = _ITEM_KEYS.get(channel)
    if key is None:
        raise ValueError(f"{channel} carries no readings or events")
    if not items:
        raise ValueError("a message carries at least one item")
    body: dict[str, Any] = {"v": 1, "device": device, "boot": boot, "historical": historical}
    if len(items) == 1 and not historical:
        body[key] = items[0]
    else:
        body[key + "s"] = list(items)
    return orjson.dumps(body)


def encode_status(
    *,
    device: str,
    state: Literal["online", "offline"],
    boot: str,
    ts_ms: int,
    devices: Sequence[str],
) -> bytes:
    """A ``…/status`` payload: an edge agent's birth (``online``) or last will (``offline``)."""
    return orjson.dumps(
        {"v": 1, "device": device, "state": state, "boot": boot, "ts": ts_ms,
         "devices": list(devices)}
    )  # fmt: skip
