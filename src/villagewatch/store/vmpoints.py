"""Readings as VictoriaMetrics samples, and the samples of an export back as readings.

VictoriaMetrics takes InfluxDB line protocol on ``/write``: measurement ``readings`` with field
``level_cm`` becomes the metric ``readings_level_cm``, tags become labels. It keeps float64
samples at millisecond precision and turns a string field into 0, so a reading is written as
numbers only, at its millisecond:

* its metric values;
* ``seq`` and ``ns`` — the per-boot sequence number and the last six digits of the stored
  time (``(seq + crc32(boot)) mod 10⁶``, see :mod:`villagewatch.contract.records`). From
  these two a replay gets back the exact stored time and, like InfluxDB's reader, a boot
  that stands for the real one (``~`` and the boot's digits: the same for every item of one
  boot). They are sample *values* in one series per device each: as labels every reading
  would make a new series (the cardinality VictoriaMetrics is weakest at);
* ``historical=1`` and ``unsynced=1`` only when they say something.

Labels are only ``village``, ``grid``, ``device``, ``kind`` and ``lot`` (a camera's space counts
per parking lot): bounded sets, all validated identifiers, so nothing needs escaping.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from villagewatch.contract import Clock, Reading

__all__ = [
    "META",
    "PREFIX",
    "MetricKey",
    "encode_readings",
    "exact_in_victoria",
    "metric_key",
    "not_finite",
    "readings_of_export",
    "selector",
]

PREFIX = "readings_"
"""What VictoriaMetrics puts before a reading's field names (the measurement and ``_``)."""

META = ("seq", "ns", "historical", "unsynced")
"""Fields that carry a reading's identity and flags rather than one of its metrics."""

_MAX_EXACT = 2**53
"""Integers up to here survive a float64 sample."""

MetricKey = tuple[str, str, str, int]
"""(village, device, lot, millisecond): where a reading sits in VictoriaMetrics."""


def not_finite(r: Reading) -> str | None:
    """Why VictoriaMetrics cannot keep this reading's values (it drops NaN as its staleness
    mark and would keep ±inf), or None."""
    for metric, value in r.values.items():
        if not math.isfinite(value):
            return f"value {value!r} of {metric} is not finite"
    return None


def exact_in_victoria(r: Reading) -> bool:
    """Whether the samples give this reading back exactly: not rescued (its boot and device
    time would be lost) and a seq a float holds."""
    return not r.rescued and r.seq < _MAX_EXACT


def encode_readings(readings: Iterable[Reading]) -> list[str]:
    """Line protocol (precision ms) for readings; values must be finite (see
    :func:`not_finite`)."""
    out = []
    synced = Clock.SYNCED
    for r in readings:
        lot = f",lot={r.lot}" if r.lot else ""
        values = ",".join([f"{k}={v!r}" for k, v in r.values.items()])
        flags = ",historical=1" if r.historical else ""
        if r.clock is not synced:
            flags += ",unsynced=1"
        ms, ns = divmod(r.time_ns, 1_000_000)
        out.append(
            f"readings,device={r.device},grid={r.grid},kind={r.kind}{lot},village={r.village} "
            f"{values},seq={r.seq},ns={ns}{flags} {ms}"
        )
    return out


def selector(
    *,
    metrics: Sequence[str] | None = None,
    village: str | None = None,
    device: str | None = None,
    lot: str | None = None,
    values_only: bool = False,
) -> str:
    """A series selector for readings' series: some metrics (default: all, the meta fields
    included unless ``values_only``) of a village, device, lot (``""``: none)."""
    name = f"{PREFIX}.*" if metrics is None else PREFIX + "(" + "|".join(metrics) + ")"
    parts = [f'__name__=~"{name}"']
    if values_only:
        parts.append(f'__name__!~"{PREFIX}({"|".join(META)})"')
    for label, value in (("village", village), ("device", device), ("lot", lot)):
        if value is not None:
            # label values: json's string escaping is what MetricsQL reads
            parts.append(f"{label}={orjson.dumps(value).decode()}")
    return "{" + ",".join(parts) + "}"


def readings_of_export(lines: Iterable[bytes], *, since_ns: int, until_ns: int) -> list[Reading]:
    """Readings put back together from ``/api/v1/export`` JSON lines, those stored in
    [since, until), in stored-time order (ties by village, device, seq).

    A millisecond of a device without its ``seq`` (its series not yet searchable) is left out.
    """
    groups: dict[tuple[str, str, str, str, str, int], dict[str, float]] = {}
    for line in lines:
        if not line.strip():
            continue
        series: dict[str, Any] = orjson.loads(line)
        labels: dict[str, str] = series["metric"]
        field = labels["__name__"].removeprefix(PREFIX)
        head = (
            labels.get("village", ""), labels.get("grid", ""), labels.get("device", ""),
            labels.get("kind", ""), labels.get("lot", ""),
        )  # fmt: skip
        for value, ms in zip(series["values"], series["timestamps"], strict=True):
            groups.setdefault((*head, ms), {})[field] = float(value)
    out = []
    for (village, grid, device, kind, lot, ms), fields in groups.items():
        seq_f, ns_f = fields.pop("seq", None), fields.pop("ns", None)
        if seq_f is None or ns_f is None:
            continue
        seq, ns = int(seq_f), int(ns_f)
        time_ns = ms * 1_000_000 + ns
        if not since_ns <= time_ns < until_ns:
            continue
        historical = fields.pop("historical", 0.0) == 1.0
        clock = Clock.UNSYNCED if fields.pop("unsynced", 0.0) == 1.0 else Clock.SYNCED
        if not fields:
            continue
        boot = f"~{(ns - seq) % 1_000_000}"
        reading = Reading(
            village, grid, device, kind, time_ns, seq, boot, fields, clock, historical,
            False, ms, lot,
        )  # fmt: skip
        out.append(reading)
    out.sort(key=lambda r: (r.time_ns, r.village, r.device, r.seq))
    return out


def metric_key(r: Reading) -> MetricKey:
    """Where a reading sits in VictoriaMetrics: two readings with one key share samples."""
    return (r.village, r.device, r.lot, r.time_ns // 1_000_000)
