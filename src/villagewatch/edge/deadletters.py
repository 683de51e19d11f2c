"""The outbox's dead-letter file: records the broker refused for good (too large for it, a
payload or topic it calls invalid), kept on the box for a technician instead of retried forever.

One JSON object a line in ``dead-letters.jsonl`` beside the lanes: when, which lane and record,
the topic it was sent on, why (``reason``, and the broker's words in ``detail``) and the record
itself (``payload`` as text when it is UTF-8, else ``payload_b64``). Each line is fsynced before
the record leaves its lane.

**Bounded**: past half of ``max_bytes`` the file becomes ``dead-letters.1.jsonl`` and a new
one starts; the previous ``.1`` is deleted then — counted in :attr:`DeadLetterFile.dropped` and
logged, never silently.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from pathlib import Path

import orjson

from villagewatch.edge.durable import append_durably, fsync_dir

__all__ = ["DeadLetterFile"]

log = logging.getLogger(__name__)


class DeadLetterFile:
    """``dead-letters.jsonl`` (and its one predecessor) in ``directory``."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.path = directory / "dead-letters.jsonl"
        self._older = directory / "dead-letters.1.jsonl"
        self._max_bytes = max_bytes
        self.records = 0
        """Dead letters kept on disk now (counted by :meth:`open`)."""
        self.dropped = 0
        """Dead letters deleted (the oldest) to stay within the size bound, since start."""

    def open(self) -> None:
        """Count the dead letters already on disk (the constructor touches no file)."""
        self.records = _lines(self.path) + _lines(self._older)

    def add(self, letters: list[dict[str, object]], payloads: list[bytes]) -> None:
        """Append one line per letter, each with its payload; durable when this returns
        (raises OSError when it cannot be written: then nothing may leave the lane)."""
        now = time.time()
        lines = b"".join(
            orjson.dumps({"at": now, **letter, **_payload(payload)}) + b"\n"
            for letter, payload in zip(letters, payloads, strict=True)
        )
        self._rotate_if_full(len(lines))
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            append_durably(fd, lines, size=size)
        finally:
            os.close(fd)
        if size == 0:
            fsync_dir(self.path.parent)  # a new file: its name must survive a power cut too
        self.records += len(letters)

    def _rotate_if_full(self, adding: int) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0 or size + adding <= self._max_bytes // 2:
            return
        lost = _lines(self._older)
        self.path.replace(self._older)
        fsync_dir(self.path.parent)
        if lost:
            self.dropped += lost
            self.records -= lost
            log.warning(
                "Dead letters: deleted the %d oldest (in %s) to stay within %.1f MB; "
                "%d dead letters remain on the box",
                lost, self._older.name, self._max_bytes / 1e6, self.records,
            )  # fmt: skip


def _payload(payload: bytes) -> dict[str, str]:
    try:
        return {"payload": payload.decode()}
    except UnicodeDecodeError:
        return {"payload_b64": base64.b64encode(payload).decode()}


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
