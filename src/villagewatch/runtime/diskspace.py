"""Free space: how much each service has left, and a reserve that lets it go on when none is.

A full data volume must stop what fills it (the ingester then holds its
acknowledgements: nothing is lost), not alerting. So every service exports the
free space of the folders it writes (``villagewatch_<service>_disk_free_bytes``),
detect raises a ``disk_low`` alert well before the volume is full, and the stores
alerting depends on keep a **reserve**: a file of preallocated space beside the
database, created while there is room and deleted when the disk is full, so that
the database can still open (SQLite needs room for its shared-memory file) and
commit small transactions for a long while after.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Gauge

__all__ = [
    "DiskReserve",
    "Space",
    "export_free_space",
    "is_disk_full",
    "measure_filesystems",
    "space_of",
]

log = logging.getLogger(__name__)

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_FULL_SQLITE = {"SQLITE_FULL", "SQLITE_IOERR_SHMSIZE", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC"}


class Space(NamedTuple):
    """Free and total bytes of the filesystem holding a path."""

    free: int
    total: int

    @property
    def free_share(self) -> float:
        """Free space as a share of the whole, 0..1."""
        return self.free / self.total if self.total else 0.0


def space_of(path: Path) -> Space:
    """Free space (for unprivileged writers) and size of the filesystem holding ``path``
    (or its nearest existing parent)."""
    st = os.statvfs(_existing(path))
    return Space(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mount_point(path: Path) -> Path:
    path = _existing(path).resolve()
    while not os.path.ismount(path):
        path = path.parent
    return path


def measure_filesystems(folders: Iterable[Path]) -> list[tuple[str, list[str], Space]]:
    """The filesystems holding ``folders`` (or their nearest existing parents), once each:
    (mount point, the folders it holds, its space)."""
    by_mount: dict[Path, list[str]] = {}
    for folder in folders:
        by_mount.setdefault(_mount_point(folder), []).append(str(folder))
    return [(str(m), names, space_of(m)) for m, names in by_mount.items()]


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (an OSError or an SQLite error, or what it was raised from) says the
    disk is full."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _FULL_ERRNOS:
            return True
        if isinstance(seen, sqlite3.Error) and (
            getattr(seen, "sqlite_errorname", "") in _FULL_SQLITE or "disk is full" in str(seen)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class DiskReserve:
    """``size`` bytes held in a file at ``path`` until the disk they are on is full."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    def ensure(self) -> bool:
        """Create the reserve if it is missing and the disk has room for it four times over;
        True when it is in place."""
        if self.size <= 0:
            return False
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_size >= self.size:
                return True
        try:
            if space_of(self.path).free < 4 * self.size:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)  # real blocks, not a sparse file
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("Cannot keep a disk reserve at %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                self.path.unlink()
            return False
        return True

    def release(self) -> bool:
        """Give the space back (the disk is full); True when there was a reserve to give."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        log.critical(
            "The disk holding %s is full: released the %.0f MB reserve kept for this, so "
            "alerting goes on; free space now %.0f MB. Free the disk: the reserve comes back "
            "by itself once there is room.",
            self.path.parent, self.size / 1e6, space_of(self.path).free / 1e6,
        )  # fmt: skip
        return True


def export_free_space(registry: CollectorRegistry, service: str, paths: Iterable[Path]) -> None:
    """``villagewatch_<service>_disk_free_bytes{path}`` and ``…_disk_size_bytes{path}`` for each
    of ``paths`` (read when scraped)."""
    free = Gauge(
        f"villagewatch_{service}_disk_free_bytes",
        "Free space on the filesystem holding the path.",
        ["path"],
        registry=registry,
    )
    size = Gauge(
        f"villagewatch_{service}_disk_size_bytes",
        "Size of the filesystem holding the path.",
        ["path"],
        registry=registry,
    )
    for path in dict.fromkeys(paths):
        free.labels(str(path)).set_function(partial(_free, path))
        size.labels(str(path)).set_function(partial(_total, path))


def _free(path: Path) -> float:
    return float(space_of(path).free)


def _total(path: Path) -> float:
    return float(space_of(path).total)
