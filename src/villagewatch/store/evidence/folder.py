"""Evidence pictures on disk: the JPEGs cameras send with their events, kept per village and
device. The ingester saves them (:meth:`EvidenceFolder.save`); the API serves them
(:meth:`EvidenceFolder.picture`, and a camera's newest with :meth:`EvidenceFolder.newest`).

Layout: ``<root>/<village>/<device>/<evidence-id>.jpg``. Every part is a contract
identifier (``[a-z0-9][a-z0-9_-]{0,63}``: no ``/``, no leading ``.``), checked
before a path is built, so no name can reach outside its folder.

Durability: the picture goes to a temporary file in the same folder
(``.<id>.<random>.tmp``, never a valid identifier, so readers never see it), is
fsynced, renamed over the final name with ``os.replace`` and the folder is
fsynced; a new folder is fsynced into its parent. A reader sees either no file
or the whole picture. A crash can leave a temporary file behind (never a torn
``.jpg``).

Idempotence: a redelivery with the same bytes leaves the file as it is (the
folder is fsynced again, in case the first copy was written by a process that
died before its acknowledgement). Different bytes under an id already stored
are refused with a reason and the first picture is kept: evidence backs an
alert and must not change after it.

Space: pictures have a budget of their own (``budget_bytes``, ``max_age_s``:
the oldest go first) and never take the room readings need — a picture that
would leave less than ``min_free_share`` of the disk free, after the oldest
pictures were deleted to make room, or that meets a full disk, is refused with
the reason ``no_space`` (the ingester keeps it as a dead letter and goes on
storing readings) instead of holding up its batch.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from villagewatch.contract import MAX_EVIDENCE_BYTES, RejectReason, is_identifier
from villagewatch.runtime.diskspace import Space, is_disk_full, space_of
from villagewatch.store.evidence.base import EvidenceRejected, jpeg_refusal, parts_refusal

__all__ = ["EvidenceFolder"]

_FILE_MODE = 0o640  # camera pictures are personal data: not world-readable

log = logging.getLogger(__name__)


class EvidenceFolder:
    """Evidence JPEGs on disk under ``root``, one file per picture; safe across threads."""

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int = MAX_EVIDENCE_BYTES,
        budget_bytes: int | None = None,
        max_age_s: float | None = None,
        min_free_share: float = 0.0,
        prune_every_s: float = 600,
        now: Callable[[], float] = time.time,
        space: Callable[[Path], Space] = space_of,
    ) -> None:
        """``budget_bytes`` and ``max_age_s``: pictures beyond them are deleted, oldest first
        (None: no limit); ``min_free_share``: a picture is refused rather than written when it
        would leave less of the disk free (the space readings need)."""
        self.root = root
        self._max_bytes = max_bytes
        self._budget = budget_bytes
        self._max_age_s = max_age_s
        self._min_free = min_free_share
        self._prune_every_s = prune_every_s
        self._now, self._space = now, space
        self._pruned_at = -math.inf
        self._synced: set[Path] = set()
        """Device folders made durable (with their parents) by this process."""
        self.deleted = 0
        """Pictures deleted by the budget and age limits since start."""

    def save(self, village: str, device: str, evidence_id: str, jpeg: bytes) -> Path:
        """Write the picture atomically and durably and return its path.

        Idempotent: the same bytes again leave the file as it is. Raises
        :class:`EvidenceRejected` for a non-identifier, a payload that is not a
        whole JPEG within the size limit, or other bytes under an id already
        stored; ``OSError`` when the disk fails (the caller retries).
        """
        refusal = jpeg_refusal(jpeg, self._max_bytes)
        if refusal is not None:
            raise EvidenceRejected(*refusal)
        bad_name = parts_refusal(village, device, evidence_id)
        if bad_name is not None:
            raise bad_name
        final = self.root / village / device / f"{evidence_id}.jpg"
        folder = final.parent
        if self._now() - self._pruned_at >= self._prune_every_s:
            self.prune()
        self._keep_floor(len(jpeg))
        try:
            self._make_folder(folder)
            if self._same_as_stored(final, jpeg):
                _fsync_dir(folder)
                return final
            self._write(folder, final, evidence_id, jpeg)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            raise EvidenceRejected(
                RejectReason.NO_SPACE, f"the evidence disk is full ({exc.strerror})"
            ) from exc
        return final

    def _write(self, folder: Path, final: Path, evidence_id: str, jpeg: bytes) -> None:
        tmp = folder / f".{evidence_id}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(jpeg)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        _fsync_dir(folder)

    def _keep_floor(self, size: int) -> None:
        """Refuse a picture that would leave less than ``min_free_share`` of the disk free,
        after deleting the oldest pictures to make room if that can help."""
        if self._min_free <= 0:
            return
        space = self._space(self.root)
        if space.free - size >= self._min_free * space.total:
            return
        self.prune(free_up=int(self._min_free * space.total) - space.free + size)
        space = self._space(self.root)
        if space.free - size < self._min_free * space.total:
            raise EvidenceRejected(
                RejectReason.NO_SPACE,
                f"the disk is {1 - space.free_share:.0%} full: pictures stop at "
                f"{self._min_free:.0%} free so that readings keep their room",
            )

    def prune(self, *, free_up: int = 0) -> tuple[int, int]:
        """Delete pictures older than the age limit, then the oldest until the total is
        within the budget and ``free_up`` bytes are freed; returns (pictures, bytes) deleted."""
        self._pruned_at = now = self._now()
        pictures = []
        for village in _subdirs(self.root):
            for device in _subdirs(village):
                with os.scandir(device) as entries:
                    for e in entries:
                        if e.name.endswith(".jpg") and e.is_file(follow_symlinks=False):
                            st = e.stat(follow_symlinks=False)
                            pictures.append((st.st_mtime, st.st_size, Path(e.path)))
        pictures.sort()
        total = sum(size for _, size, _ in pictures)
        deleted = freed = 0
        for mtime, size, path in pictures:
            old = self._max_age_s is not None and now - mtime > self._max_age_s
            over = self._budget is not None and total > self._budget
            if not (old or over or freed < free_up):
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size
            freed += size
            deleted += 1
        if deleted:
            self.deleted += deleted
            log.info("Evidence: deleted the %d oldest pictures (%.1f MB)", deleted, freed / 1e6)
        return deleted, freed

    def path(self, village: str, device: str, evidence_id: str) -> Path | None:
        """The stored picture's path; None when it is not there or any part is no identifier."""
        final = self._file(village, device, evidence_id)
        return final if final is not None and final.is_file() else None

    def picture(self, village: str, device: str, evidence_id: str) -> bytes | None:
        """The picture's bytes (see :meth:`path`)."""
        return _read(self.path(village, device, evidence_id))

    def newest(self, village: str, device: str) -> bytes | None:
        """The device's newest picture's bytes (see :meth:`latest`)."""
        return _read(self.latest(village, device))

    def close(self) -> None:
        """Nothing is held open."""

    def latest(self, village: str, device: str) -> Path | None:
        """The device's newest picture (by when it was stored); None when it has none or a
        part is no identifier."""
        if not (is_identifier(village) and is_identifier(device)):
            return None
        newest: tuple[int, str] | None = None
        try:
            with os.scandir(self.root / village / device) as entries:
                for e in entries:
                    if e.name.endswith(".jpg") and is_identifier(e.name[:-4]) and e.is_file():
                        seen = (e.stat().st_mtime_ns, e.name)
                        newest = seen if newest is None or seen > newest else newest
        except (FileNotFoundError, NotADirectoryError):
            return None
        return None if newest is None else self.root / village / device / newest[1]

    def find(self, village: str, evidence_id: str) -> Path | None:
        """The picture ``evidence_id`` of any device of ``village`` (the first device by name)."""
        if not (is_identifier(village) and is_identifier(evidence_id)):
            return None
        try:
            with os.scandir(self.root / village) as entries:
                devices = sorted(e.name for e in entries if e.is_dir() and is_identifier(e.name))
        except (FileNotFoundError, NotADirectoryError):
            return None
        for device in devices:
            found = self.path(village, device, evidence_id)
            if found is not None:
                return found
        return None

    def _file(self, village: str, device: str, evidence_id: str) -> Path | None:
        if not (is_identifier(village) and is_identifier(device) and is_identifier(evidence_id)):
            return None
        return self.root / village / device / f"{evidence_id}.jpg"

    def _same_as_stored(self, final: Path, jpeg: bytes) -> bool:
        """False when nothing is stored under this name; raises when something else is."""
        try:
            size = final.stat().st_size
            same = size == len(jpeg) and final.read_bytes() == jpeg
        except FileNotFoundError:
            return False
        if not same:
            raise EvidenceRejected(
                RejectReason.INVALID_PAYLOAD,
                f"evidence id already stored with other content ({size} bytes); "
                "the first picture is kept",
            )
        return True

    def _make_folder(self, folder: Path) -> None:
        """Create ``folder`` if needed and make it and its parents durable (once per process:
        they may have been made by a process that died before syncing them)."""
        if folder in self._synced and folder.is_dir():
            return
        missing = []
        p = folder
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        folder.mkdir(parents=True, exist_ok=True)
        village_dir = folder.parent
        to_sync = {folder, village_dir, self.root, self.root.parent}
        to_sync.update(m.parent for m in missing)
        for d in to_sync:
            _fsync_dir(d)
        self._synced.add(folder)


def _read(path: Path | None) -> bytes | None:
    """The file's bytes; None when there is no path or the file went (pruned meanwhile)."""
    if path is None:
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _fsync_dir(folder: Path) -> None:
    """Make the folder's entries (a rename, a new file or subfolder) survive a power cut."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _subdirs(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
