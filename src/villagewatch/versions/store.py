"""Every applied config file as a numbered version, in one SQLite file beside the alerts (or a
PostgreSQL schema).

A version is the whole text of a file as it was applied, with who applied it, when, why
(a note, required) and the unified diff to the version before. Numbers count per file
from 1 and are taken inside the write transaction, so two writers at once — threads or
processes — get distinct numbers and each diff is against the version really before it.
Nothing is deleted or changed: a rollback is a new version whose text is an old one's.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from villagewatch.db.database import Connection, Location, open_database
from villagewatch.db.migrations import Migration
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S
from villagewatch.errors import VillagewatchError

__all__ = [
    "MIGRATIONS",
    "NOTE_MAX",
    "ON_DISK",
    "UnknownVersion",
    "Version",
    "VersionRefused",
    "VersionStore",
    "VersionSummary",
    "checked_note",
    "unified_diff",
]

NOTE_MAX = 500
"""The longest note, in characters: a reason, not a document."""

ON_DISK = "(on disk)"
"""The ``who`` of a version recorded from the file as found on disk (before the first
recorded change, or after an edit outside villagewatch)."""

MIGRATIONS = (
    Migration(
        "config versions",
        """
CREATE TABLE IF NOT EXISTS config_versions (
    file TEXT NOT NULL, n INTEGER NOT NULL, who TEXT NOT NULL, at_ms INTEGER NOT NULL,
    note TEXT NOT NULL, text TEXT NOT NULL, diff TEXT NOT NULL, rollback_of INTEGER,
    PRIMARY KEY (file, n)
) WITHOUT ROWID;
""",
        postgres="""
CREATE TABLE config_versions (
    file TEXT NOT NULL, n INTEGER NOT NULL, who TEXT NOT NULL, at_ms BIGINT NOT NULL,
    note TEXT NOT NULL, text TEXT NOT NULL, diff TEXT NOT NULL, rollback_of INTEGER,
    PRIMARY KEY (file, n)
);
""",
    ),
)
"""The schema, migration 1 first (see :mod:`villagewatch.db.migrations`)."""


class VersionRefused(VillagewatchError):
    """A version that cannot be recorded as asked (no note, a note too long, no author)."""


class UnknownVersion(VillagewatchError):
    """No such version of the file."""


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """One version without its text: number, author, time (epoch ms), note, and the version
    it rolled back to (None: an ordinary change)."""

    file: str
    n: int
    who: str
    at_ms: int
    note: str
    rollback_of: int | None


@dataclass(frozen=True, slots=True)
class Version:
    """One version whole: its summary, the text and the unified diff to the version before
    (for version 1: to an empty file)."""

    summary: VersionSummary
    text: str
    diff: str


def checked_note(note: str) -> str:
    """The note without surrounding blanks; :class:`VersionRefused` if it is empty, longer
    than :data:`NOTE_MAX` characters or more than one line of text. The one rule for the API,
    the CLI and the store."""
    kept = note.strip()
    if not kept:
        raise VersionRefused(
            "a note is required: say why the file changes (it is kept with the version)"
        )
    if len(kept) > NOTE_MAX:
        raise VersionRefused(f"the note has {len(kept)} characters; at most {NOTE_MAX}")
    if not kept.isprintable():  # one line in a list; no terminal escapes in someone's shell
        raise VersionRefused("the note must be one line of text (no line breaks or controls)")
    return kept


def unified_diff(old: str, new: str, *, old_name: str, new_name: str) -> str:
    """The unified diff (3 lines of context) from ``old`` to ``new``; empty if equal."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
    )
    # a last line without a newline would run into the next header
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)  # fmt: skip


def _summary(row: tuple[str, int, str, int, str, int | None]) -> VersionSummary:
    return VersionSummary(*row)


class VersionStore:
    """The config versions of a deployment (``config-versions.db`` beside the alerts); the
    methods block and are safe from any thread."""

    def __init__(
        self, location: Location, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        """Open (create) the file or PostgreSQL schema and bring its schema up to date."""
        self._db = open_database(
            location,
            name="config versions",
            migrations=MIGRATIONS,
            busy_timeout_s=busy_timeout_s,
        )

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def record(
        self,
        file: str,
        text: str | Callable[[str | None, int], str],
        *,
        who: str,
        note: str,
        at_ms: int,
        on_disk: Callable[[], str | None] = lambda: None,
        rollback_of: int | None = None,
        then: Callable[[], None] = lambda: None,
    ) -> VersionSummary:
        """Record ``text`` as the next version of ``file`` and return it. ``text`` may be a
        function of the last version's text (None: none yet) and the new version's number,
        called inside the transaction, so that writers at once each build on the other's.

        In the same write transaction: ``on_disk()`` (the file's text now, None if there is
        none) is recorded first as a version by :data:`ON_DISK` when it differs from the last
        version — the original before the first recorded change, or an edit made by hand —
        so every diff is honest and a rollback to it is possible; then ``then()`` runs (the
        file is written): if it raises, nothing is recorded. Writers are serialised by the
        transaction, so the last version is the file on disk. A missing or too long note, or
        an empty ``who``, raises :class:`VersionRefused` and nothing is recorded."""
        kept = checked_note(note)
        if not who.strip():
            raise VersionRefused("say who applies the change (a user name)")

        def write(conn: Connection) -> VersionSummary:
            last = conn.execute(
                "SELECT n, text FROM config_versions WHERE file = ? ORDER BY n DESC LIMIT 1",
                (file,),
            ).fetchone()
            n, previous = (last[0], last[1]) if last else (0, None)
            found = on_disk()
            if found is not None and found != previous:
                why = "the file as found on disk" + (
                    " before the first recorded change" if last is None
                    else ", changed outside villagewatch since the last version"
                )  # fmt: skip
                n += 1
                self._insert(conn, VersionSummary(file, n, ON_DISK, at_ms, why, None), found,
                             previous)  # fmt: skip
                previous = found
            summary = VersionSummary(file, n + 1, who.strip(), at_ms, kept, rollback_of)
            made = text(previous, n + 1) if callable(text) else text
            self._insert(conn, summary, made, previous)
            then()
            return summary

        return self._db.write(write)

    @staticmethod
    def _insert(conn: Connection, v: VersionSummary, text: str, previous: str | None) -> None:
        diff = unified_diff(
            previous or "", text, old_name=f"{v.file} v{v.n - 1}" if v.n > 1 else "/dev/null",
            new_name=f"{v.file} v{v.n}",
        )  # fmt: skip
        conn.execute(
            "INSERT INTO config_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (v.file, v.n, v.who, v.at_ms, v.note, text, diff, v.rollback_of),
        )

    def versions(self, file: str) -> list[VersionSummary]:
        """Every version of ``file``, newest first."""
        rows = self._db.rows(
            "SELECT file, n, who, at_ms, note, rollback_of FROM config_versions WHERE file = ? "
            "ORDER BY n DESC",
            (file,),
        )
        return [_summary(r) for r in rows]

    def version(self, file: str, n: int) -> Version:
        """Version ``n`` of ``file``; :class:`UnknownVersion` if there is none."""
        rows = self._db.rows(
            "SELECT file, n, who, at_ms, note, rollback_of, text, diff FROM config_versions "
            "WHERE file = ? AND n = ?",
            (file, n),
        )
        if not rows:
            raise UnknownVersion(f"{file} has no version {n}")
        *summary, text, diff = rows[0]
        return Version(_summary(tuple(summary)), text, diff)

    def diff(self, file: str, a: int, b: int | None = None) -> str:
        """The unified diff from version ``a`` to version ``b`` of ``file`` (None: the newest);
        :class:`UnknownVersion` names a number that does not exist."""
        if b is None:
            newest = self.versions(file)
            if not newest:
                raise UnknownVersion(f"{file} has no versions yet")
            b = newest[0].n
        old, new = self.version(file, a), self.version(file, b)
        return unified_diff(old.text, new.text, old_name=f"{file} v{a}", new_name=f"{file} v{b}")
