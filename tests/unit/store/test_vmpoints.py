"""Readings as VictoriaMetrics samples: numbers only at the millisecond, and back from an
export with their exact stored time, seq and a boot that stands for theirs."""

from __future__ import annotations

from typing import Any

import orjson

from villagewatch.contract import Clock, Reading, point_time_ns
from villagewatch.store.vmpoints import encode_readings, readings_of_export, selector

T0 = 1_795_000_000_000


def reading(seq: int, boot: str = "b1", **kw: Any) -> Reading:
    """One reading a millisecond per seq (two in one millisecond would share samples)."""
    r = Reading(
        "dongcun", "g1", "wl-1", "water_level", point_time_ns(T0 + seq, boot, seq), seq, boot,
        {"level_cm": 1.5}, Clock.SYNCED, False, False, T0 + seq,
    )  # fmt: skip
    return r._replace(**kw)


def export_of(readings: list[Reading]) -> list[bytes]:
    """What VictoriaMetrics' export gives for the lines of these readings (one series per field)."""
    series: dict[tuple[str, str], dict[str, list[float]]] = {}
    for line in encode_readings(readings):
        head, fields, ms = line.split(" ")
        tags = dict(t.split("=") for t in head.split(",")[1:])
        for f in fields.split(","):
            name, value = f.split("=")
            s = series.setdefault((orjson.dumps(tags).decode(), name), {"v": [], "t": []})
            s["v"].append(float(value))
            s["t"].append(int(ms))
    return [
        orjson.dumps(
            {
                "metric": {"__name__": f"readings_{name}", **orjson.loads(tags)},
                "values": s["v"],
                "timestamps": s["t"],
            }
        )
        for (tags, name), s in series.items()
    ]


def test_a_reading_is_numbers_at_its_millisecond() -> None:
    (line,) = encode_readings([reading(5, clock=Clock.UNSYNCED, historical=True, lot="clinic")])
    ns = point_time_ns(T0 + 5, "b1", 5) % 1_000_000
    assert line == (
        "readings,device=wl-1,grid=g1,kind=water_level,lot=clinic,village=dongcun "
        f"level_cm=1.5,seq=5,ns={ns},historical=1,unsynced=1 {T0 + 5}"
    )


def test_readings_come_back_with_exact_time_seq_and_one_boot_per_boot() -> None:
    written = [reading(1), reading(2, boot="b2"), reading(3, clock=Clock.UNSYNCED, historical=True)]
    back = readings_of_export(export_of(written), since_ns=0, until_ns=2**62)
    assert [(r.time_ns, r.seq, r.values, r.clock, r.historical) for r in back] == sorted(
        (r.time_ns, r.seq, r.values, r.clock, r.historical) for r in written
    )
    boots = {r.seq: r.boot for r in back}
    assert boots[1] == boots[3] != boots[2]


def test_a_millisecond_without_its_seq_and_times_outside_the_range_are_left_out() -> None:
    lines = [line for line in export_of([reading(1)]) if b"readings_seq" not in line]
    assert readings_of_export(lines, since_ns=0, until_ns=2**62) == []
    r = reading(1)
    assert readings_of_export(export_of([r]), since_ns=r.time_ns + 1, until_ns=2**62) == []
    assert readings_of_export(export_of([r]), since_ns=0, until_ns=r.time_ns) == []


def test_a_selector_quotes_label_values() -> None:
    assert selector(metrics=["level_cm"], village='a"b', lot="") == (
        '{__name__=~"readings_(level_cm)",village="a\\"b",lot=""}'
    )
