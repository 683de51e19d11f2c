"""An outbox lane: its names and values, the account the outbox keeps of it in memory, and
how that account is rebuilt from the lane's files when the outbox opens.

A lane is a directory of segment files (``segments.py`` has their record format) and an
``acks`` file. Opening a lane verifies every record (a damaged one is counted, and cut out
of its segment), deletes segments wholly acknowledged before a crash, and sets the reading
position just after the last acknowledged stretch.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import BinaryIO

from villagewatch.edge.segments import HEADER, MAGIC, Segment, read_state, verify
from villagewatch.runtime.backoff import Backoff

__all__ = [
    "Entry",
    "HeldRecord",
    "Lane",
    "LaneState",
    "LaneStats",
    "open_lane",
    "record_at",
    "remove_first",
]


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
    retried: bool = False
    """Read again after the broker refused it (see :meth:`Outbox.hold`)."""


@dataclass(frozen=True, slots=True)
class LaneStats:
    """What waits in one lane."""

    pending: int
    bytes: int
    oldest_s: float | None
    """Age of the oldest segment holding pending records (None: nothing pending)."""
    held: int = 0
    """Pending records the broker refused, waiting to be tried again."""


@dataclass(slots=True)
class HeldRecord:
    """Where a record the broker refused for now is, and until when it waits."""

    seg: int
    off: int
    until: float  # monotonic


@dataclass(slots=True)
class LaneState:
    """The outbox's account of one lane: its segments, writing, reading and acknowledging."""

    lane: Lane
    dir: Path
    segments: list[Segment] = field(default_factory=list)
    next_recno: int = 0
    fd: int | None = None  # the last segment, open for appending
    durable: int = 0  # synced bytes of the last segment (its size on disk)
    unsynced: bytearray = field(default_factory=bytearray)  # appended, not yet written
    unsynced_records: int = 0
    # reading: segment index and byte offset of the next record to read
    read_seg: int = 0
    read_off: int = 0
    inflight: OrderedDict[int, tuple[int, int]] = field(default_factory=OrderedDict)
    acked_above: set[int] = field(default_factory=set)
    held: dict[int, HeldRecord] = field(default_factory=dict)
    due: list[tuple[float, int]] = field(default_factory=list)  # heap of (until, recno)
    backoff: dict[int, Backoff] = field(default_factory=dict)  # refused records, until they go
    reader: BinaryIO | None = None
    reader_path: Path | None = None


def open_lane(directory: Path, lane: Lane) -> tuple[LaneState, int]:
    """The lane's account rebuilt from its files under ``directory`` (created if missing),
    every record verified; with the number of damaged records found (lost)."""
    st = LaneState(lane, directory / lane.name.lower())
    st.dir.mkdir(exist_ok=True)
    for tmp in st.dir.glob("*.tmp"):
        tmp.unlink()
    corrupt = 0
    pos_seg, pos_off, acked, next_recno = read_state(st.dir / "acks")
    for path in sorted(st.dir.glob("*.seg")):
        verified = verify(path, pos_seg, pos_off, acked)
        if verified is None:
            continue
        seg, pos_off, damaged = verified
        corrupt += damaged
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
    return st, corrupt


def record_at(st: LaneState, seg_i: int, off: int) -> tuple[int, bytes]:
    """The recno and payload of the record at byte ``off`` of the lane's segment ``seg_i``."""
    seg = st.segments[seg_i]
    if st.reader_path != seg.path or st.reader is None:
        if st.reader is not None:
            st.reader.close()
        st.reader, st.reader_path = seg.path.open("rb"), seg.path
    f = st.reader
    f.seek(off)
    magic, length, recno, _crc32 = HEADER.unpack(f.read(HEADER.size))
    assert magic == MAGIC  # segments were verified at open and written by us since
    return recno, f.read(length)


def remove_first(st: LaneState) -> None:
    """Delete the lane's oldest segment and shift the positions that point past it (its
    in-flight and held records must have been dropped or acknowledged before)."""
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
    st.inflight = OrderedDict((r, (i - 1, o)) for r, (i, o) in st.inflight.items())
    for held in st.held.values():
        held.seg -= 1
