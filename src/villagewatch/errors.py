"""The one exception tree of villagewatch.

::

    VillagewatchError
    ├── ConfigError          a config file is invalid; carries every issue found
    ├── BusUnavailable       the message bus (NATS) cannot be reached or has no usable stream
    └── StoreError           a store could not do what was asked
        ├── StoreUnavailable retryable: unreachable, timed out, 5xx, refused credentials
        ├── StoreRejected    the store refuses this data (a 400-class reply); retrying won't help
        └── SchemaRefused    a database file's schema is not one this code can use (written by
                             a newer version); retrying won't help

Bad MQTT input is *data*, not an exception: the decoder returns a
:class:`~villagewatch.contract.records.DeadLetter` instead of raising, so one
hostile payload can never stop the stream. Third-party errors (httpx, sqlite3)
are mapped to this tree at the boundary that calls them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BusUnavailable",
    "ConfigError",
    "ConfigIssue",
    "SchemaRefused",
    "StoreError",
    "StoreRejected",
    "StoreUnavailable",
    "VillagewatchError",
]


class VillagewatchError(Exception):
    """Root of every error villagewatch raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in one config file: where it is and what is wrong."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path or '(top level)'}: {self.message}"


class ConfigError(VillagewatchError):
    """A config file failed validation; ``issues`` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class BusUnavailable(VillagewatchError):
    """The message bus cannot be reached at start, or its stream cannot be used; the message
    names the servers or the stream."""


class StoreError(VillagewatchError):
    """A store could not complete an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or answered with a server error; retry later."""


class StoreRejected(StoreError):
    """The store refused the data itself (HTTP 400 and the like); retrying won't help."""


class SchemaRefused(StoreError):
    """A database file has a schema this code must not use: a newer version than it knows, or
    unversioned tables that are not its own. The message says what to do."""
