"""The transition log: detect appends, the alert engine reads after its cursor.

The log is an outbox. Detect appends the transitions it decided in the same
transaction as the detector state that produced them, and acknowledges the
messages behind them only after that commit; the alert engine reads what came
after the position it last applied (its cursor) and moves the cursor with what
it applied. Positions only grow, so nothing is read twice or skipped.

A record that can no longer be read as a transition (damaged, or written by a
version that knows more) comes back as an :class:`UnreadableTransition` rather
than an error, so the reader can set that one aside and go on with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from villagewatch.transitions.model import Transition

__all__ = ["LoggedTransition", "TransitionLog", "UnreadableTransition"]


@dataclass(frozen=True, slots=True)
class LoggedTransition:
    """A transition as the log keeps it: its position and id beside it."""

    position: int
    """Where it stands in the log (above 0); the cursor to read after it."""
    id: str
    """Its :func:`~villagewatch.transitions.model.transition_id`."""
    transition: Transition


@dataclass(frozen=True, slots=True)
class UnreadableTransition:
    """A record of the log that is not a transition: its position and id, and why."""

    position: int
    """Where it stands in the log; the cursor to read after it."""
    id: str
    """The id it was recorded under."""
    problem: str
    """What was wrong with it, for the people who look into it."""


class TransitionLog(Protocol):
    """Append-only transitions, read in order after a cursor."""

    def append(self, transitions: Sequence[Transition], *, recorded_ns: int) -> list[Transition]:
        """Record, in order, the transitions not recorded before (by id), as part of the
        writer's open transaction: they commit together with the state that produced them,
        or not at all. Returns the ones that were new."""
        ...

    def read_after(self, cursor: int, limit: int) -> list[LoggedTransition | UnreadableTransition]:
        """Up to ``limit`` records whose position is after ``cursor`` (0: from the start),
        in order of position."""
        ...
