"""Config versions: every applied config file kept whole, with who, when, why and the diff.

:mod:`~villagewatch.versions.store` keeps them (a SQLite file beside the alerts);
:mod:`~villagewatch.versions.apply` is the one way a village file changes — check, write,
record — for the API and the command line alike.
"""

from villagewatch.versions.apply import (
    Applied,
    Refused,
    apply_village,
    check_village_text,
    village_file,
)
from villagewatch.versions.store import (
    NOTE_MAX,
    ON_DISK,
    UnknownVersion,
    Version,
    VersionRefused,
    VersionStore,
    VersionSummary,
    checked_note,
)

__all__ = [
    "NOTE_MAX",
    "ON_DISK",
    "Applied",
    "Refused",
    "UnknownVersion",
    "Version",
    "VersionRefused",
    "VersionStore",
    "VersionSummary",
    "apply_village",
    "check_village_text",
    "checked_note",
    "village_file",
]
