"""The one way a village file changes: check the text, write the file, record the version.

The API's apply and rollback and the ``config rollback`` command all call
:func:`apply_village`; an invalid text is refused with its issues and nothing changes
(neither the file nor the versions).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from villagewatch.config import load_village
from villagewatch.config.village import Village
from villagewatch.errors import ConfigError, ConfigIssue
from villagewatch.versions.store import VersionStore, VersionSummary, checked_note

__all__ = [
    "Applied",
    "Refused",
    "apply_village",
    "check_village_text",
    "village_file",
]


@dataclass(frozen=True, slots=True)
class Applied:
    """The text was valid: the file is written and recorded as ``version``."""

    village: Village
    version: VersionSummary


@dataclass(frozen=True, slots=True)
class Refused:
    """The text was not a valid village file (each issue where it is); nothing changed."""

    issues: list[ConfigIssue]


def village_file(village: str) -> str:
    """How a village file is named among the versions (``village:<id>``)."""
    return f"village:{village}"


def check_village_text(
    text: str, target: Path, *, village: str | None = None
) -> tuple[Village | None, list[ConfigIssue]]:
    """Check ``text`` as the village file ``target``: loaded from a temporary file beside it
    (so relative paths resolve as they will), its issues named after ``target``; with
    ``village``, a file of another village is refused too."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".check-", suffix=".yaml", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        checked = load_village(Path(name))
    except ConfigError as exc:
        return None, [
            ConfigIssue(file=str(target), path=i.path, message=i.message, line=i.line)
            for i in exc.issues
        ]
    finally:
        Path(name).unlink(missing_ok=True)
    if village is not None and checked.id != village:
        wrong = f"the file is village {checked.id!r}, not {village!r}"
        return None, [ConfigIssue(file=str(target), path="id", message=wrong)]
    return checked, []


def _write_atomically(target: Path, text: str) -> None:
    """Replace ``target`` with ``text`` in one rename (the old file kept as ``.bak``): a
    reader sees the old file or the new one, never half of it."""
    tmp = target.with_name(f".{target.name}.new")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    if target.exists():
        target.with_name(target.name + ".bak").write_bytes(target.read_bytes())
    tmp.replace(target)


def _on_disk(target: Path) -> str | None:
    try:
        return target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return None  # not text: nothing a version could hold or restore


def apply_village(
    versions: VersionStore,
    target: Path,
    text: str,
    *,
    village: str,
    who: str,
    note: str,
    at_ms: int,
    rollback_of: int | None = None,
) -> Applied | Refused:
    """Check ``text`` as village ``village``'s file ``target``; if valid, write the file
    atomically and record it as a new version (``rollback_of``: the version whose text it
    restores). A missing note raises :class:`~villagewatch.versions.store.VersionRefused`
    before anything is checked. Blocking: call from a thread in async code."""
    checked_note(note)
    checked, issues = check_village_text(text, target, village=village)
    if checked is None:
        return Refused(issues)
    version = versions.record(
        village_file(village), text, who=who, note=note, at_ms=at_ms,
        on_disk=lambda: _on_disk(target), rollback_of=rollback_of,
        then=lambda: _write_atomically(target, text),
    )  # fmt: skip
    return Applied(checked, version)
