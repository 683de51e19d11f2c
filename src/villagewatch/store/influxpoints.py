"""Readings, events and dead letters as InfluxDB points, in line protocol.

Schema: measurements ``readings``, ``events`` and ``dead_letters``; tags are
only ``village``, ``grid``, ``device`` and ``kind`` (``reason`` for dead
letters), and ``lot`` on a camera's space counts per parking lot — bounded
sets — and everything else is a field. To keep the write
cost low (InfluxDB's cost grows with every field of every point), flags are
written only when they say something: ``historical=true``,
``clock="unsynced"``, ``rescued=true`` with the device's ``boot`` and its own
``device_ts`` (epoch ms). Every point carries ``seq``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from functools import lru_cache

from villagewatch.contract import DeadLetter, Event, Reading
from villagewatch.contract.payloads import Clock
from villagewatch.store.lineprotocol import FieldValue, encode_point, field_value

__all__ = [
    "DEAD_LETTERS",
    "EVENTS",
    "READINGS",
    "encode_dead_letter",
    "encode_event",
    "encode_reading",
    "encode_readings",
]

READINGS = "readings"
EVENTS = "events"
DEAD_LETTERS = "dead_letters"


def _flags(item: Reading | Event) -> str:
    out = f",seq={item.seq}i"
    if item.historical:
        out += ",historical=true"
    if item.clock is not Clock.SYNCED:
        out += ',clock="unsynced"'
    if item.rescued:
        out += f',rescued=true,boot="{item.boot}",device_ts={item.device_ts_ms}i'
    return out


@lru_cache(maxsize=1 << 16)
def _series(  # noqa: PLR0917 - positional: it is called per point, and cached by its arguments
    measurement: str, device: str, grid: str, kind: str, village: str, lot: str = ""
) -> str:
    lot_tag = f",lot={lot}" if lot else ""  # tags in key order, as InfluxDB sorts them
    return f"{measurement},device={device},grid={grid},kind={kind}{lot_tag},village={village} "


def encode_reading(r: Reading) -> str:
    """Line protocol for one reading (see :func:`encode_readings`)."""
    (line,) = encode_readings([r])
    return line


def encode_readings(readings: Sequence[Reading]) -> list[str]:
    """Line protocol for readings: the ingest hot path.

    Tags and field keys come from validated identifiers and the contract's
    metric names and values are finite floats, so nothing needs escaping or
    can fail; the common case (live, synced) gets no flag fields.
    """
    out = []
    synced = Clock.SYNCED
    for r in readings:
        head = _series(READINGS, r.device, r.grid, r.kind, r.village, r.lot)
        values = ",".join([f"{k}={v!r}" for k, v in r.values.items()])
        if r.historical or r.rescued or r.clock is not synced:
            out.append(f"{head}{values}{_flags(r)} {r.time_ns}")
        else:
            out.append(f"{head}{values},seq={r.seq}i {r.time_ns}")
    return out


def encode_event(e: Event) -> str:
    """Line protocol for an event; attribute values are escaped as field values."""
    attrs = "".join(f",{k}={field_value(v)}" for k, v in e.attrs.items())
    head = _series(EVENTS, e.device, e.grid, e.kind, e.village)
    return f"{head}type={field_value(e.type)}{attrs}{_flags(e)} {e.time_ns}"


def encode_dead_letter(d: DeadLetter) -> str:
    """Line protocol for a dead letter: its payload base64-encoded, its reason the one tag."""
    fields: dict[str, FieldValue] = {
        "topic": d.topic,
        "detail": d.detail,
        "payload_b64": base64.b64encode(d.payload).decode(),
    }
    return encode_point(DEAD_LETTERS, [("reason", d.reason.value)], fields, d.received_ns)
