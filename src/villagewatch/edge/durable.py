"""Files the edge agent must find whole after a power cut: written aside, fsynced, renamed; or
appended and fsynced, and cut back when that fails."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

__all__ = ["append_durably", "fsync_dir", "replace_durably"]

_write = os.write  # a seam: tests make the disk full here


def replace_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: old or new after a crash, never a mix (``path.tmp``
    is written and fsynced, then renamed over it). Call :func:`fsync_dir` too when the
    rename itself must survive a power cut."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def append_durably(fd: int, data: bytes | bytearray, *, size: int) -> None:
    """Append ``data`` to ``fd`` (opened ``O_APPEND``, ``size`` bytes long now) and fsync it.

    On any failure — a full disk, an fsync that lost the pages — the file is cut back to
    ``size`` so that no partial record stays behind, and the error is raised: the caller keeps
    ``data`` and tries again later.
    """
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        n = _write(fd, view)
        if n <= 0:  # a regular file writes something or raises; never loop on nothing
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]


def fsync_dir(directory: Path) -> None:
    """Make the names in ``directory`` (a rename, a new or deleted file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
