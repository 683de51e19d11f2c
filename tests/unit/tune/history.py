"""A synthetic flood at one gauge, and the village files and settings to replay it with."""

from __future__ import annotations

import asyncio
from pathlib import Path

from villagewatch.contract import Clock, Reading, point_time_ns
from villagewatch.store import Batch, Store

T0 = 1_795_000_000_000
"""2026-11-18T11:06:40Z"""
MIN = 60_000

VILLAGE = """\
id: v
name: V
town: t
grids:
  - id: g
    name: G
devices:
  - id: wl-1
    kind: water_level
    grid: g
    interval_s: 60
    agent: edge-1
  - id: wl-2
    kind: water_level
    grid: g
    interval_s: 60
    agent: edge-1
detect:
  devices:
    wl-1:
      level: {level}
"""


def village_file(path: Path, level: str) -> Path:
    """A village file whose gauge wl-1 has these level settings (a YAML flow mapping)."""
    path.write_text(VILLAGE.format(level=level), encoding="utf-8")
    return path


def settings_file(tmp_path: Path, level: str) -> Path:
    """Settings with the SQLite store in tmp_path and the village as ``today.yaml``."""
    village_file(tmp_path / "today.yaml", level)
    path = tmp_path / "settings.yaml"
    path.write_text("villages: [today.yaml]\nstore:\n  kind: sqlite\n  path: readings.db\n")
    return path


def flood() -> list[Reading]:
    """wl-1 rises 1 cm a minute from 0 to 200 cm over 200 minutes and falls back; wl-2 stays
    at 10 cm. One reading a minute each, for 400 minutes from T0."""
    out: list[Reading] = []
    for minute in range(400):
        ms = T0 + minute * MIN
        level = float(minute if minute <= 200 else 400 - minute)
        for device, value in (("wl-1", level), ("wl-2", 10.0 + (minute % 2) * 0.1)):
            out.append(
                Reading("v", "g", device, "water_level", point_time_ns(ms, "b", minute), minute,
                        "b", {"level_cm": value}, Clock.SYNCED, False, False, ms)
            )  # fmt: skip
    return out


def fill(store: Store, readings: list[Reading]) -> None:
    """Write the readings in batches of 100."""

    async def write() -> None:
        for i in range(0, len(readings), 100):
            await store.write(Batch(readings=readings[i : i + 100]))

    asyncio.run(write())
