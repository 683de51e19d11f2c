"""The outbox's files: the record format of a segment, checking (and repairing) a segment when
the outbox opens, and the acknowledgement file of a lane.

A record is ``magic | length | recno | crc32 | payload`` (the CRC covers recno and payload).
At open every record is checked; a torn tail or damaged bytes cost exactly the damaged
records, and the segment is rewritten without them. The acknowledgement file (``acks``, one
per lane) holds where the oldest unacknowledged record is and which later ones were
acknowledged, with a checksum; replaced atomically. A damaged one means resending, never
losing.
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from villagewatch.edge.durable import fsync_dir, replace_durably

__all__ = [
    "HEADER",
    "MAGIC",
    "MAX_PAYLOAD",
    "Segment",
    "encode",
    "read_state",
    "scan",
    "verify",
    "write_state",
]

log = logging.getLogger(__name__)

HEADER = struct.Struct("<HIQI")
"""A record's header: magic, payload length, recno, crc32(recno + payload)."""
MAGIC = 0xB7E5
MAX_PAYLOAD = 8 << 20
"""The largest record a segment holds."""


@dataclass(slots=True)
class Segment:
    """One segment file of a lane, as the outbox keeps account of it."""

    path: Path
    first: int
    last: int  # recno of the last good record (first - 1 when empty)
    size: int
    pending: int
    born: float  # first write (for a segment found at open: its last write)
    touched: float  # last write


def _crc(recno: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(recno.to_bytes(8, "little")))


def encode(recno: int, payload: bytes) -> bytes:
    """The bytes of one record."""
    return HEADER.pack(MAGIC, len(payload), recno, _crc(recno, payload)) + payload


def _record_at(buf: bytes, off: int) -> tuple[int, bytes, int] | None:
    """(recno, payload, end) of a valid record at ``off``, or None."""
    if off + HEADER.size > len(buf):
        return None
    magic, length, recno, crc = HEADER.unpack_from(buf, off)
    end = off + HEADER.size + length
    if magic != MAGIC or length > MAX_PAYLOAD or end > len(buf):
        return None
    payload = buf[off + HEADER.size : end]
    if _crc(recno, payload) != crc:
        return None
    return recno, payload, end


def scan(buf: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """Good records as (offset, end, recno), and how many bad ones lie between them."""
    good: list[tuple[int, int, int]] = []
    bad = 0
    off = 0
    magic = MAGIC.to_bytes(2, "little")
    while off < len(buf):
        rec = _record_at(buf, off)
        if rec is not None:
            recno, _, end = rec
            if good and recno != good[-1][2] + 1:
                bad += max(0, recno - good[-1][2] - 1)  # records lost between two good ones
            good.append((off, end, recno))
            off = end
            continue
        nxt = buf.find(magic, off + 1)
        while nxt != -1 and _record_at(buf, nxt) is None:
            nxt = buf.find(magic, nxt + 1)
        if nxt == -1:
            bad += 1  # a torn or damaged tail
            break
        off = nxt
    return good, bad


def verify(
    path: Path, pos_seg: int, pos_off: int, acked: set[int]
) -> tuple[Segment, int, int] | None:
    """Check every record; rewrite the file without damaged ones. Returns the segment, with
    its pending records counted, the reading offset (moved if the file was rewritten and it is
    the saved segment) and how many damaged records were skipped; None when nothing of it is
    left, or it is not a segment of ours."""
    if not path.stem.isdigit():
        log.warning("Outbox: %s is not a segment of ours; left alone", path)
        return None
    first = int(path.stem)  # the recno its first record had when written
    buf = path.read_bytes()
    good, bad = scan(buf)
    if good:
        bad += good[0][2] - first  # damage before the first good record
    if bad:
        log.warning("Outbox segment %s: %d damaged records skipped", path, bad)
        new_off = pos_off
        parts, kept = [], []
        pos = 0
        for off, end, recno in good:
            if first == pos_seg and off == pos_off:
                new_off = pos
            parts.append(buf[off:end])
            kept.append((pos, pos + end - off, recno))
            pos += end - off
        if first == pos_seg and pos_off >= (good[-1][1] if good else 0):
            new_off = pos
        buf = b"".join(parts)
        replace_durably(path, buf)
        fsync_dir(path.parent)
        pos_off, good = new_off, kept
    if not good:
        path.unlink()
        return None
    # pending: not acknowledged, and (in the saved segment) at or after the saved position;
    # segments before the saved one are wholly acknowledged and deleted by the caller
    start = pos_off if first == pos_seg else 0
    pending = sum(1 for off, _, recno in good if off >= start and recno not in acked)
    mtime = path.stat().st_mtime
    return Segment(path, first, good[-1][2], len(buf), pending, mtime, mtime), pos_off, bad


def write_state(path: Path, state: dict[str, object]) -> None:
    """Replace a lane's acknowledgement file with ``state``, checksummed."""
    body = json.dumps(state, separators=(",", ":")).encode()
    replace_durably(path, body + b"\n" + f"{zlib.crc32(body):08x}".encode())


def read_state(path: Path) -> tuple[int, int, set[int], int]:
    """The saved (segment, offset, acknowledged above it, next recno). A missing or damaged
    file is "nothing acknowledged": everything is sent again — duplicates, never losses."""
    try:
        body, _, crc = path.read_bytes().rpartition(b"\n")
    except FileNotFoundError:
        return 0, 0, set(), 0
    try:
        if f"{zlib.crc32(body):08x}".encode() != crc:
            raise ValueError("checksum mismatch")  # noqa: TRY301 - one handler for every way
        state = json.loads(body)
        return int(state["seg"]), int(state["off"]), set(state["acked"]), int(state["next"])
    except (ValueError, TypeError, KeyError) as exc:
        log.warning(
            "Outbox acknowledgements in %s unreadable (%s): sending everything again", path, exc
        )
        return 0, 0, set(), 0
