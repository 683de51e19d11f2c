"""Files the edge agent must find whole after a power cut: written aside, fsynced, renamed."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir", "replace_durably"]


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


def fsync_dir(directory: Path) -> None:
    """Make the names in ``directory`` (a rename, a new or deleted file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
