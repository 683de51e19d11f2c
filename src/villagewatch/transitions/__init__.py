"""The detect → alerts hand-off: the transition, its identity, and the log that carries it.

Detect appends each transition it decides to a :class:`TransitionLog` in the
same transaction as the detector state behind it; the alert engine reads the
log after its cursor and turns what it reads into alerts. Both sides import
this package and nothing of each other; it imports nothing of villagewatch. The log
is a table of detect's database — its SQLite file, or the ``detect`` schema on PostgreSQL
(:mod:`villagewatch.db.transition_log`); a log that crosses the network otherwise would
implement the same protocol.
"""

from villagewatch.transitions.log import LoggedTransition, TransitionLog, UnreadableTransition
from villagewatch.transitions.model import AlertKey, Severity, Transition, transition_id

__all__ = [
    "AlertKey",
    "LoggedTransition",
    "Severity",
    "Transition",
    "TransitionLog",
    "UnreadableTransition",
    "transition_id",
]
