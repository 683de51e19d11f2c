"""What part of a village file a maintainer may change: all of it when the village is among
their places, else only the devices of their grids.

A grid's maintainer (places ``grid:<village>/<grid>``) may add, change and remove the
devices of their grids and micro-grids and those devices' own detector settings
(``detect.devices.<id>``). Anything else — the village's name, grids, teams, houses, the
settings of a whole kind — belongs to the village's maintainers: a file that changes it is
refused, with every part named.
"""

from __future__ import annotations

from collections.abc import Callable

from villagewatch.config.village import Village

__all__ = ["out_of_scope"]


def out_of_scope(old: Village, new: Village, may_change: Callable[[str], bool]) -> list[str]:
    """What ``new`` changes of ``old`` that a user who may change only the grids for which
    ``may_change(grid id)`` holds may not (empty: every change is theirs)."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    problems = [
        f"{key} (the village's own settings)"
        for key in sorted(before.keys() | after.keys())
        if key not in ("devices", "detect") and before.get(key) != after.get(key)
    ]
    old_detect, new_detect = before["detect"], after["detect"]
    problems += [
        f"detect.{key} (settings of every device of a kind)"
        for key in sorted(old_detect.keys() | new_detect.keys())
        if key != "devices" and old_detect.get(key) != new_detect.get(key)
    ]
    old_devices = {d["id"]: d for d in before["devices"]}
    new_devices = {d["id"]: d for d in after["devices"]}
    old_settings, new_settings = old_detect.get("devices", {}), new_detect.get("devices", {})
    for device in sorted(old_devices.keys() | new_devices.keys() | old_settings.keys()
                         | new_settings.keys()):  # fmt: skip
        if (old_devices.get(device), old_settings.get(device)) == (
            new_devices.get(device),
            new_settings.get(device),
        ):
            continue
        grids = {d["grid"] for d in (old_devices.get(device), new_devices.get(device)) if d}
        outside = sorted(g for g in grids if not may_change(g))
        if outside or not grids:
            where = f"grid {', '.join(outside)}" if outside else "no grid"
            problems.append(f"device {device} ({where}, not one of yours)")
    return problems
