"""Disks filling up: one ``disk_low`` alert per filesystem the services write to.

The caller measures (detect, every tick, the filesystems of the deployment's data
folders on its own machine) and hands in free and total bytes; the detector
fires below ``low_share`` free (orange), turns red below ``critical_share``, and
clears once the free share is back above ``low_share`` plus a margin — a disk
hovering at the threshold raises one alert, not one a minute.
"""

from __future__ import annotations

from typing import Any

from villagewatch.catalogue import Said
from villagewatch.detectors.base import Detector
from villagewatch.transitions import AlertKey, Severity, Transition

__all__ = ["DiskWatch"]

_MARGIN = 0.02


class DiskWatch(Detector):
    """``disk_low`` alerts for the filesystems of a deployment."""

    name = "disk"

    def __init__(self, *, village: str, low_share: float, critical_share: float) -> None:
        """``village``: whose place the alert is shown and routed at (the first village the
        detect process watches)."""
        self._village = village
        self._low, self._critical = low_share, critical_share
        self._on: dict[str, Severity] = {}

    def measured(
        self, filesystem: str, folders: list[str], free: int, total: int, now_ms: int
    ) -> list[Transition]:
        """Free and total bytes of ``filesystem`` (which holds ``folders``) at ``now_ms``."""
        share = free / total if total else 1.0
        key = AlertKey(self.name, self._village, f"disk:{filesystem}", "disk_low")
        before = self._on.get(filesystem)
        if share < self._critical:
            severity: Severity | None = Severity.RED
        elif share < self._low or (before is not None and share < self._low + _MARGIN):
            severity = Severity.ORANGE
        else:
            severity = None
        if severity == before:
            return []
        details = {"filesystem": filesystem, "folders": folders, "free_bytes": free,
                   "total_bytes": total, "free_percent": round(share * 100, 1)}  # fmt: skip
        if severity is None:
            del self._on[filesystem]
            said = Said(
                "disk.free_again", {"filesystem": filesystem, "percent": f"{share * 100:.0f}"}
            )
            return [
                Transition(
                    key, "clear", before or Severity.ORANGE, now_ms, said.text, details,
                    message_key=said.key, params=said.params,
                )
            ]  # fmt: skip
        self._on[filesystem] = severity
        said = Said(
            "disk.filling",
            {
                "filesystem": filesystem,
                "gb": f"{free / 1e9:.1f}",
                "percent": f"{share * 100:.0f}",
                "folders": ", ".join(folders),
            },
        )
        return [
            Transition(
                key, "fire" if before is None else "update", severity, now_ms, said.text, details,
                message_key=said.key, params=said.params,
            )
        ]  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """Filesystems alerted, with their severity."""
        return {fs: s.value for fs, s in self._on.items()}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot`."""
        self._on = {fs: Severity(s) for fs, s in state.items()}
