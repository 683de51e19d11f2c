"""The edge agent's disk queue: nothing a driver measured is lost to a dropped link, a crash
or a power cut.

Three **lanes**, sent in this order: ``ALARM`` (lock, SOS and camera events),
``TELEMETRY``, ``EVIDENCE`` (snapshots). Each lane is a directory of append-only
**segment** files; a record is ``magic | length | recno | crc32 | payload``.

* **Durable before sent**: appends are buffered and :meth:`Outbox.sync` flushes
  and fsyncs them, a batch at a time; :meth:`Outbox.read` returns only synced
  records.
* **Leaves only when acknowledged**: records read are *in flight* until
  :meth:`Outbox.ack`; :meth:`Outbox.rewind` (after a reconnect) reads the
  unacknowledged ones again. :meth:`Outbox.commit_acks` persists, per lane, where
  the oldest unacknowledged record is and which later ones were acknowledged
  (a small file with a checksum, replaced atomically), then deletes segments
  wholly before it. A crash resends at most what was in flight — the same
  bytes, so the centre's dedupe by (boot, seq) drops the copy.
* **Opens by itself**: at open every record's checksum is verified; a torn tail
  (power cut mid-write) or damaged bytes cost exactly the damaged records,
  which are counted in :attr:`Outbox.corrupt`; the segment is rewritten
  without them. A damaged acknowledgement file means resending, never losing.
* **Bounded** (:meth:`Outbox.enforce`): past ``budget_bytes`` the oldest
  evidence segments go first, then the oldest telemetry; alarms are never
  dropped. Telemetry and evidence older than ``max_age_s`` go too. Whatever is
  dropped is counted in :attr:`Outbox.dropped` per lane.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import os
import struct
import time
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import BinaryIO

from villagewatch.edge.durable import fsync_dir, replace_durably

__all__ = ["Entry", "Lane", "LaneStats", "Outbox"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<HIQI")  # magic, payload length, recno, crc32(recno + payload)
_MAGIC = 0xB7E5
_MAX_PAYLOAD = 8 << 20


class Lane(IntEnum):
    """Sending order: a lower lane goes first."""

    ALARM = 0
    TELEMETRY = 1
    EVIDENCE = 2


@dataclass(frozen=True, slots=True)
class Entry:
    """One record read for sending."""

    lane: Lane
    recno: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class LaneStats:
    """What waits in one lane."""

    pending: int
    bytes: int
    oldest_s: float | None
    """Age of the oldest segment holding pending records (None: nothing pending)."""


@dataclass(slots=True)
class _Segment:
    path: Path
    first: int
    last: int  # recno of the last good record (first - 1 when empty)
    size: int
    pending: int
    born: float  # first write (for a segment found at open: its last write)
    touched: float  # last write


@dataclass(slots=True)
class _LaneState:
    lane: Lane
    dir: Path
    segments: list[_Segment] = field(default_factory=list)
    next_recno: int = 0
    writer: BinaryIO | None = None
    durable: int = 0  # synced bytes of the last segment
    dirty: bool = False
    # reading: segment index and byte offset of the next record to read
    read_seg: int = 0
    read_off: int = 0
    inflight: OrderedDict[int, tuple[int, int]] = field(default_factory=OrderedDict)
    acked_above: set[int] = field(default_factory=set)
    reader: BinaryIO | None = None
    reader_path: Path | None = None


def _crc(recno: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(recno.to_bytes(8, "little")))


def _encode(recno: int, payload: bytes) -> bytes:
    return _HEADER.pack(_MAGIC, len(payload), recno, _crc(recno, payload)) + payload


def _record_at(buf: bytes, off: int) -> tuple[int, bytes, int] | None:
    """(recno, payload, end) of a valid record at ``off``, or None."""
    if off + _HEADER.size > len(buf):
        return None
    magic, length, recno, crc = _HEADER.unpack_from(buf, off)
    end = off + _HEADER.size + length
    if magic != _MAGIC or length > _MAX_PAYLOAD or end > len(buf):
        return None
    payload = buf[off + _HEADER.size : end]
    if _crc(recno, payload) != crc:
        return None
    return recno, payload, end


def _scan(buf: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """Good records as (offset, end, recno), and how many bad ones lie between them."""
    good: list[tuple[int, int, int]] = []
    bad = 0
    off = 0
    magic = _MAGIC.to_bytes(2, "little")
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


class Outbox:
    """Lanes of segment files under ``directory`` (see the module doc)."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = 1 << 20,
        budget_bytes: int = 512 << 20,
        max_age_s: float = 7 * 86400,
    ) -> None:
        self._dir = directory
        self._segment_bytes = segment_bytes
        self.budget_bytes = budget_bytes
        self.max_age_s = max_age_s
        self.corrupt = 0
        """Damaged records found at open (lost; each counted once)."""
        self.dropped = dict.fromkeys(Lane, 0)
        """Pending records dropped by the size and age policy, per lane."""
        directory.mkdir(parents=True, exist_ok=True)
        self._lanes = {lane: self._open_lane(lane) for lane in Lane}

    # --- writing --------------------------------------------------------------------------

    def append(self, lane: Lane, payloads: Sequence[bytes]) -> None:
        """Queue records (buffered; durable, and readable, after :meth:`sync`)."""
        st = self._lanes[lane]
        now = time.time()
        for payload in payloads:
            if len(payload) > _MAX_PAYLOAD:
                raise ValueError(f"a record is at most {_MAX_PAYLOAD} bytes, not {len(payload)}")
            seg = self._writable(st)
            data = _encode(st.next_recno, payload)
            assert st.writer is not None
            st.writer.write(data)
            seg.last = st.next_recno
            seg.size += len(data)
            seg.pending += 1
            seg.touched = now
            st.next_recno += 1
            st.dirty = True

    def sync(self) -> None:
        """Make every appended record durable (flush and fsync), then readable."""
        for st in self._lanes.values():
            if st.dirty and st.writer is not None:
                st.writer.flush()
                os.fsync(st.writer.fileno())
                st.durable = st.segments[-1].size
                st.dirty = False

    def _writable(self, st: _LaneState) -> _Segment:
        last = st.segments[-1] if st.segments else None
        if last is not None and st.writer is not None and last.size < self._segment_bytes:
            return last
        if st.writer is not None:  # seal the full segment
            st.writer.flush()
            os.fsync(st.writer.fileno())
            st.writer.close()
            st.writer = None
        path = st.dir / f"{st.next_recno:020d}.seg"
        st.writer = path.open("ab")
        fsync_dir(st.dir)
        now = time.time()
        seg = _Segment(path, st.next_recno, st.next_recno - 1, 0, 0, now, now)
        st.segments.append(seg)
        st.durable = 0
        return seg

    # --- reading and acknowledging -----------------------------------------------------------

    def read(self, lane: Lane, max_records: int, max_bytes: int = 1 << 20) -> list[Entry]:
        """The next durable records of ``lane`` not in flight; they are in flight after this."""
        st = self._lanes[lane]
        out: list[Entry] = []
        size = 0
        while len(out) < max_records and size < max_bytes and st.read_seg < len(st.segments):
            seg = st.segments[st.read_seg]
            is_last = st.read_seg == len(st.segments) - 1
            limit = st.durable if is_last else seg.size
            if st.read_off >= limit:
                if is_last:
                    break
                st.read_seg += 1
                st.read_off = 0
                continue
            f = self._reader(st, seg)
            f.seek(st.read_off)
            magic, length, recno, _crc32 = _HEADER.unpack(f.read(_HEADER.size))
            payload = f.read(length)
            assert magic == _MAGIC  # segments were verified at open and written by us since
            off = st.read_off
            st.read_off += _HEADER.size + length
            if recno in st.acked_above:
                continue  # acknowledged before a reconnect made us read it again
            st.inflight[recno] = (st.read_seg, off)
            out.append(Entry(lane, recno, payload))
            size += length
        return out

    def ack(self, lane: Lane, recnos: Sequence[int]) -> None:
        """The broker has these (they leave at the next :meth:`commit_acks`)."""
        st = self._lanes[lane]
        firsts = [s.first for s in st.segments]
        for recno in recnos:
            if st.inflight.pop(recno, None) is None:
                continue  # dropped by the policy meanwhile, or acknowledged already
            st.acked_above.add(recno)
            i = bisect.bisect_right(firsts, recno) - 1
            if i >= 0:
                st.segments[i].pending -= 1

    def rewind(self) -> None:
        """After a reconnect: what was in flight is read again (oldest first)."""
        for st in self._lanes.values():
            if st.inflight:
                st.read_seg, st.read_off = next(iter(st.inflight.values()))
                st.inflight.clear()

    def commit_acks(self) -> None:
        """Persist acknowledgements; delete segments nobody needs any more."""
        for st in self._lanes.values():
            seg_i, off = (
                next(iter(st.inflight.values())) if st.inflight else (st.read_seg, st.read_off)
            )
            oldest = next(iter(st.inflight)) if st.inflight else st.next_recno
            st.acked_above = {r for r in st.acked_above if r > oldest}
            first = st.segments[seg_i].first if seg_i < len(st.segments) else st.next_recno
            state = {
                "seg": first,
                "off": off,
                "acked": sorted(st.acked_above),
                "next": st.next_recno,
            }
            _write_state(st.dir / "acks", state)
            # every segment before the oldest unacknowledged record is done with
            for _ in range(min(seg_i, len(st.segments) - 1)):
                self._remove_first(st)

    # --- the size and age policy -----------------------------------------------------------

    def enforce(self, now: float | None = None) -> int:
        """Drop by age, then by size (evidence before telemetry; never alarms); returns how
        many pending records were dropped."""
        now = time.time() if now is None else now
        dropped = dict.fromkeys(Lane, 0)
        for lane in (Lane.EVIDENCE, Lane.TELEMETRY):
            st = self._lanes[lane]
            while st.segments and st.segments[0].touched < now - self.max_age_s:
                dropped[lane] += self._drop_oldest(st)
        aged = dict(dropped)
        for lane in (Lane.EVIDENCE, Lane.TELEMETRY):
            st = self._lanes[lane]
            while self.size_bytes() > self.budget_bytes and st.segments:
                dropped[lane] += self._drop_oldest(st)
        for lane, n in dropped.items():
            if n:
                log.warning(
                    "Outbox: dropped the %d oldest waiting %s records (%d older than %.0f h, "
                    "the rest to stay within %.1f MB); %s",
                    n, lane.name.lower(), aged[lane], self.max_age_s / 3600,
                    self.budget_bytes / 1e6, "events are never dropped",
                )  # fmt: skip
        return sum(dropped.values())

    def _drop_oldest(self, st: _LaneState) -> int:
        seg = st.segments[0]
        if len(st.segments) == 1 and st.writer is not None:
            self.sync()
            st.writer.close()
            st.writer = None  # the next append starts a new segment
        lost = seg.pending
        self.dropped[st.lane] += lost
        for recno in [r for r in st.inflight if seg.first <= r <= seg.last]:
            del st.inflight[recno]
        self._remove_first(st)
        return lost

    def _remove_first(self, st: _LaneState) -> None:
        seg = st.segments.pop(0)
        if st.reader_path == seg.path and st.reader is not None:
            st.reader.close()
            st.reader, st.reader_path = None, None
        with contextlib.suppress(FileNotFoundError):
            seg.path.unlink()
        if st.read_seg > 0:
            st.read_seg -= 1
        else:
            st.read_off = 0
        # in-flight records of the removed segment were dropped before
        st.inflight = OrderedDict((r, (i - 1, o)) for r, (i, o) in st.inflight.items())

    # --- looking ----------------------------------------------------------------------------

    def size_bytes(self) -> int:
        """Bytes of all segments on disk."""
        return sum(s.size for st in self._lanes.values() for s in st.segments)

    def stats(self, now: float | None = None) -> dict[Lane, LaneStats]:
        """Per lane: pending records, bytes, age of the oldest pending."""
        now = time.time() if now is None else now
        out = {}
        for lane, st in self._lanes.items():
            holding = [s for s in st.segments if s.pending > 0]
            out[lane] = LaneStats(
                sum(s.pending for s in st.segments),
                sum(s.size for s in st.segments),
                now - holding[0].born if holding else None,
            )
        return out

    def in_flight(self) -> int:
        """Records read and not yet acknowledged."""
        return sum(len(st.inflight) for st in self._lanes.values())

    def close(self) -> None:
        """Sync and close files (acknowledgements are persisted too)."""
        self.sync()
        self.commit_acks()
        for st in self._lanes.values():
            for f in (st.writer, st.reader):
                if f is not None:
                    f.close()
            st.writer = st.reader = None

    def abandon(self) -> None:
        """Let go of the files without syncing or committing: what a SIGKILL leaves (tests)."""
        for st in self._lanes.values():
            for f in (st.writer, st.reader):
                if f is not None:
                    f.close()  # to the OS's cache, as a killed process's writes are
            st.writer = st.reader = None

    # --- opening ----------------------------------------------------------------------------

    def _reader(self, st: _LaneState, seg: _Segment) -> BinaryIO:
        if st.reader_path != seg.path or st.reader is None:
            if st.reader is not None:
                st.reader.close()
            st.reader, st.reader_path = seg.path.open("rb"), seg.path
        return st.reader

    def _open_lane(self, lane: Lane) -> _LaneState:
        st = _LaneState(lane, self._dir / lane.name.lower())
        st.dir.mkdir(exist_ok=True)
        for tmp in st.dir.glob("*.tmp"):
            tmp.unlink()
        pos_seg, pos_off, acked, next_recno = _read_state(st.dir / "acks")
        for path in sorted(st.dir.glob("*.seg")):
            verified = self._verify(path, pos_seg, pos_off, acked)
            if verified is None:
                continue
            seg, pos_off = verified
            if seg.first < pos_seg and seg.last < pos_seg:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # wholly acknowledged; the delete was cut short
                continue
            next_recno = max(next_recno, seg.last + 1)
            st.segments.append(seg)
        st.next_recno = next_recno
        st.acked_above = acked
        # the reading position: in the saved segment, or the start of the first after it
        for i, seg in enumerate(st.segments):
            if seg.first == pos_seg:
                st.read_seg, st.read_off = i, pos_off
                break
            if seg.first > pos_seg:
                st.read_seg, st.read_off = i, 0
                break
        else:
            st.read_seg, st.read_off = len(st.segments), 0
        if st.segments:
            st.durable = st.segments[-1].size
        return st

    def _verify(
        self, path: Path, pos_seg: int, pos_off: int, acked: set[int]
    ) -> tuple[_Segment, int] | None:
        """Check every record; rewrite the file without damaged ones. Returns the segment, with
        its pending records counted, and the reading offset (moved if the file was rewritten
        and it is the saved segment)."""
        if not path.stem.isdigit():
            log.warning("Outbox: %s is not a segment of ours; left alone", path)
            return None
        first = int(path.stem)  # the recno its first record had when written
        buf = path.read_bytes()
        good, bad = _scan(buf)
        if good:
            bad += good[0][2] - first  # damage before the first good record
        if bad:
            self.corrupt += bad
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
        return _Segment(path, first, good[-1][2], len(buf), pending, mtime, mtime), pos_off


def _write_state(path: Path, state: dict[str, object]) -> None:
    body = json.dumps(state, separators=(",", ":")).encode()
    replace_durably(path, body + b"\n" + f"{zlib.crc32(body):08x}".encode())


def _read_state(path: Path) -> tuple[int, int, set[int], int]:
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
