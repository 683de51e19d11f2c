"""What every detector shares: the detector interface and the sensor-health flags it reads.

A detector is a pure object: readings, events and the passing of time go in,
alert transitions (:mod:`villagewatch.transitions`) come out. It does no I/O
and never reads a clock — time is the device time of the data, or the
``now_ms`` the caller passes to :meth:`Detector.tick`. Its whole state can be
taken out (:meth:`snapshot`, plain JSON values) and put back
(:meth:`restore`), which is how the detect service survives a restart without
re-firing or forgetting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from villagewatch.contract import Event, Reading
from villagewatch.transitions import Transition

__all__ = ["CLEAN", "UNFIT_STATE", "Detector", "Flags"]

UNFIT_STATE = (KeyError, TypeError, ValueError, AttributeError, IndexError)
"""What restoring a saved state raises when it does not fit the detector (damaged, from an
incompatible version, or from settings of another shape): the detector is then started fresh."""


@dataclass(frozen=True, slots=True)
class Flags:
    """What the sensor-health tests said about one reading's metrics."""

    suspect: frozenset[str] = frozenset()
    """Metrics that failed or are suspect: value detectors must not act on them."""
    missing: frozenset[str] = frozenset()
    """Metrics whose value was a sentinel (e.g. -9999): no measurement at all."""

    def usable(self, metric: str) -> bool:
        """Whether a value detector may act on ``metric``."""
        return metric not in self.suspect and metric not in self.missing


CLEAN = Flags()


class Detector:
    """Base of every detector: override what it reacts to; the rest does nothing."""

    name: str = "detector"

    def reading(self, r: Reading, flags: Flags) -> list[Transition]:  # noqa: ARG002 - a default
        """React to one reading (in device-time order per device)."""
        return []

    def event(self, e: Event) -> list[Transition]:  # noqa: ARG002 - a default
        """React to one event."""
        return []

    def tick(self, now_ms: int) -> list[Transition]:  # noqa: ARG002 - a default
        """React to time passing without data (offline, gaps, windows emptying)."""
        return []

    def reconsider(self, now_ms: int) -> list[Transition]:  # noqa: ARG002 - a default
        """Its settings changed under a restored state (see :meth:`restore`): judge the last
        reading again by the new ones, deciding at ``now_ms``. The default waits for the
        next reading."""
        return []

    def snapshot(self) -> dict[str, Any]:
        """The whole state, as JSON values."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a state :meth:`snapshot` made."""

    def forget_future(self, limit_ms: int) -> None:
        """Forget every time in the state later than ``limit_ms``.

        Data times are bounded by the decoder, so only a state saved by an older
        version (or under a server clock that ran ahead) can hold one; left alone,
        every reading until then would look out of order and the detector stay mute.
        """
