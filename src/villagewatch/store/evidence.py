"""Evidence pictures on disk: the JPEGs cameras send with their events, kept per village and
device. The ingester saves them (:meth:`EvidenceStore.save`); the API serves them
(:meth:`EvidenceStore.path`).

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

What counts as a JPEG: it starts with the SOI marker ``FF D8`` followed by the
``FF`` of the next marker, ends with the EOI marker ``FF D9`` and is at most
:data:`MAX_EVIDENCE_BYTES` (the contract says ≤ 200 KB). Trailing bytes after
EOI are *not* accepted: the edge's encoder (OpenCV) ends exactly at EOI, so
anything else is a torn or tampered picture — a truncated transfer would
otherwise pass as "trailing data", and bytes appended after the image are a
known way to smuggle another file through an image endpoint. The image itself
is not decoded here: that would run a parser of hostile input in the ingester.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from villagewatch.contract import RejectReason, is_identifier
from villagewatch.errors import VillagewatchError

__all__ = ["MAX_EVIDENCE_BYTES", "EvidenceRejected", "EvidenceStore", "jpeg_refusal"]

MAX_EVIDENCE_BYTES = 1 << 20
"""Largest picture accepted (1 MiB); the contract's pictures are at most 200 KB."""

_SOI = b"\xff\xd8\xff"  # start of image, then the first byte of the next marker
_EOI = b"\xff\xd9"
_FILE_MODE = 0o640  # camera pictures are personal data: not world-readable


class EvidenceRejected(VillagewatchError):
    """The store refuses this picture; ``reason`` is the dead-letter reason."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")


def jpeg_refusal(
    jpeg: bytes, max_bytes: int = MAX_EVIDENCE_BYTES
) -> tuple[RejectReason, str] | None:
    """Why ``jpeg`` is not acceptable evidence (reason, detail), or None when it is."""
    if len(jpeg) > max_bytes:
        return RejectReason.TOO_LARGE, f"{len(jpeg)} bytes, limit {max_bytes}"
    if not jpeg.startswith(_SOI):
        return RejectReason.INVALID_PAYLOAD, "not a JPEG: does not start with the SOI marker FF D8"
    if len(jpeg) < len(_SOI) + len(_EOI) or not jpeg.endswith(_EOI):
        return (
            RejectReason.INVALID_PAYLOAD,
            "torn JPEG: does not end with the EOI marker FF D9 (nothing may follow it)",
        )
    return None


class EvidenceStore:
    """Evidence JPEGs on disk under ``root``, one file per picture; safe across threads."""

    def __init__(self, root: Path, *, max_bytes: int = MAX_EVIDENCE_BYTES) -> None:
        self.root = root
        self._max_bytes = max_bytes
        self._synced: set[Path] = set()
        """Device folders made durable (with their parents) by this process."""

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
        final = self._file(village, device, evidence_id)
        if final is None:
            raise EvidenceRejected(
                RejectReason.BAD_TOPIC,
                f"not identifiers: {village[:80]!r}/{device[:80]!r}/{evidence_id[:80]!r}",
            )
        folder = final.parent
        self._make_folder(folder)
        if self._same_as_stored(final, jpeg):
            _fsync_dir(folder)
            return final
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
        return final

    def path(self, village: str, device: str, evidence_id: str) -> Path | None:
        """The stored picture's path; None when it is not there or any part is no identifier."""
        final = self._file(village, device, evidence_id)
        return final if final is not None and final.is_file() else None

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


def _fsync_dir(folder: Path) -> None:
    """Make the folder's entries (a rename, a new file or subfolder) survive a power cut."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
