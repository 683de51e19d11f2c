"""The edge agent's disk queue: nothing a driver measured is lost to a dropped link, a crash
or a power cut.

Three **lanes**, sent in this order: ``ALARM`` (lock, SOS and camera events),
``TELEMETRY``, ``EVIDENCE`` (snapshots). Each lane is a directory of append-only
**segment** files; a record is ``magic | length | recno | crc32 | payload``.

* **Durable before sent**: appends are buffered and :meth:`Outbox.sync` writes
  and fsyncs them, a batch at a time; :meth:`Outbox.read` returns only synced
  records. A write that fails (a full disk) is cut back off the file and tried
  again at the next sync, with the records kept in memory meanwhile — at most a
  segment's worth per lane; past that, :meth:`Outbox.append` raises ``OSError``.
* **Leaves only when acknowledged**: records read are *in flight* until
  :meth:`Outbox.ack`; :meth:`Outbox.rewind` (after a reconnect) reads the
  unacknowledged ones again. :meth:`Outbox.commit_acks` persists, per lane, where
  the oldest unacknowledged record is and which later ones were acknowledged
  (a small file with a checksum, replaced atomically), then deletes segments
  wholly before it. A crash resends at most what was in flight — the same
  bytes, so the centre's dedupe by (boot, seq) drops the copy.
* **Refused, not lost**: a record the broker refused for now is *held*
  (:meth:`Outbox.hold`): still unacknowledged on disk, skipped by reading, and
  read again once its hold expires — a doubling delay per record, so it neither
  blocks the records behind it nor loops. One refused for good moves to the
  dead-letter file (:meth:`Outbox.dead_letter`, ``deadletters.py``).
* **Opens by itself** (:meth:`Outbox.open`, ``lanes.py``; constructing one touches no
  file): at open every record's checksum is verified; a torn tail (power cut
  mid-write) or damaged bytes cost exactly the damaged records, which are
  counted in :attr:`Outbox.corrupt`; the segment is rewritten without them. A
  damaged acknowledgement file means resending, never losing.
* **Bounded** (:meth:`Outbox.enforce`, ``retention.py``): past ``budget_bytes``,
  or with less than ``reserve_bytes`` free on its disk, the oldest evidence
  segments go first, then the oldest telemetry; alarms are never dropped (the
  reserve is theirs). Telemetry and evidence older than ``max_age_s`` go too.
  Whatever is dropped is counted in :attr:`Outbox.dropped` per lane.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from villagewatch.edge.deadletters import DeadLetterFile
from villagewatch.edge.durable import append_durably, fsync_dir
from villagewatch.edge.lanes import (
    Entry,
    HeldRecord,
    Lane,
    LaneState,
    LaneStats,
    open_lane,
    record_at,
    remove_first,
)
from villagewatch.edge.retention import Retention
from villagewatch.edge.segments import HEADER, MAX_PAYLOAD, Segment, encode, write_state
from villagewatch.runtime.backoff import Backoff
from villagewatch.runtime.diskspace import space_of

__all__ = ["Outbox"]

log = logging.getLogger(__name__)

_HOLD_FIRST_S = 1.0
_HOLD_MAX_S = 300.0


def _free_bytes(directory: Path) -> int:
    """Bytes free for us on the disk holding ``directory`` (a seam: tests fill the disk)."""
    return space_of(directory).free


class Outbox:
    """Lanes of segment files under ``directory`` (see the module doc)."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = 1 << 20,
        budget_bytes: int = 512 << 20,
        max_age_s: float = 7 * 86400,
        reserve_bytes: int = 0,
        dead_letter_bytes: int = 16 << 20,
    ) -> None:
        """Touches no file: :meth:`open` reads and verifies the lanes."""
        self._dir = directory
        self._segment_bytes = segment_bytes
        self.retention = Retention(budget_bytes, max_age_s, reserve_bytes)
        """The size and age policy :meth:`enforce` applies."""
        self.corrupt = 0
        """Damaged records found at open (lost; each counted once)."""
        self.dropped = dict.fromkeys(Lane, 0)
        """Pending records dropped by the size and age policy, per lane."""
        self._lanes: dict[Lane, LaneState] = {}
        self.dead_letters = DeadLetterFile(directory, max_bytes=dead_letter_bytes)
        """Records refused for good (see :meth:`dead_letter`)."""

    def open(self) -> Outbox:
        """Read every lane from disk, verifying each record (damaged ones are counted in
        :attr:`corrupt` and cut out); the outbox is usable after this. Returns itself."""
        if self._lanes:
            raise RuntimeError(f"the outbox {self._dir} is open already")
        self._dir.mkdir(parents=True, exist_ok=True)
        for lane in Lane:
            self._lanes[lane], damaged = open_lane(self._dir, lane)
            self.corrupt += damaged
        self.dead_letters.open()
        return self

    # --- writing --------------------------------------------------------------------------

    def append(self, lane: Lane, payloads: Sequence[bytes]) -> None:
        """Queue records (buffered; durable, and readable, after :meth:`sync`). Raises OSError
        when a full segment cannot be written out to start the next (a full disk): the record
        is not queued."""
        st = self._lanes[lane]
        now = time.time()
        for payload in payloads:
            if len(payload) > MAX_PAYLOAD:
                raise ValueError(f"a record is at most {MAX_PAYLOAD} bytes, not {len(payload)}")
            seg = self._writable(st)
            data = encode(st.next_recno, payload)
            st.unsynced += data
            st.unsynced_records += 1
            seg.last = st.next_recno
            seg.size += len(data)
            seg.pending += 1
            seg.touched = now
            st.next_recno += 1

    def sync(self) -> None:
        """Make every appended record durable (written and fsynced), then readable.

        A lane that cannot be written (a full disk) keeps its records for the next call; the
        other lanes are synced all the same, then the first error is raised.
        """
        error: OSError | None = None
        for st in self._lanes.values():
            try:
                self._flush(st)
            except OSError as exc:
                error = error or exc
        if error is not None:
            raise error

    def _flush(self, st: LaneState) -> None:
        if not st.unsynced or st.fd is None:
            return
        # a copy: a failed write's traceback may hold views of it, and st.unsynced must grow
        append_durably(st.fd, bytes(st.unsynced), size=st.durable)
        st.durable += len(st.unsynced)
        st.unsynced.clear()
        st.unsynced_records = 0

    def _writable(self, st: LaneState) -> Segment:
        last = st.segments[-1] if st.segments else None
        if last is not None and st.fd is not None and last.size < self._segment_bytes:
            return last
        if st.fd is not None:  # seal the full segment (its records must be on disk first)
            self._flush(st)
            os.close(st.fd)
            st.fd = None
        path = st.dir / f"{st.next_recno:020d}.seg"
        st.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o644)
        now = time.time()
        seg = Segment(path, st.next_recno, st.next_recno - 1, 0, 0, now, now)
        st.segments.append(seg)
        st.durable = 0
        fsync_dir(st.dir)
        return seg

    # --- reading and acknowledging -----------------------------------------------------------

    def read(
        self, lane: Lane, max_records: int, max_bytes: int = 1 << 20, *, now: float | None = None
    ) -> list[Entry]:
        """The next durable records of ``lane`` not in flight — held records whose hold expired
        (by the monotonic ``now``) first; they are in flight after this."""
        st = self._lanes[lane]
        now = time.monotonic() if now is None else now
        out: list[Entry] = []
        size = 0
        while st.due and st.due[0][0] <= now and len(out) < max_records and size < max_bytes:
            until, recno = heapq.heappop(st.due)
            held = st.held.get(recno)
            if held is None or held.until != until:
                continue  # dropped by the policy, or held again since
            del st.held[recno]
            payload = record_at(st, held.seg, held.off)[1]
            st.inflight[recno] = (held.seg, held.off)
            out.append(Entry(lane, recno, payload, retried=True))
            size += len(payload)
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
            off = st.read_off
            recno, payload = record_at(st, st.read_seg, off)
            st.read_off += HEADER.size + len(payload)
            if recno in st.acked_above or recno in st.held or recno in st.inflight:
                # acknowledged or held before a reconnect made us read this stretch again, or
                # read again already as a held record whose hold expired
                continue
            st.inflight[recno] = (st.read_seg, off)
            out.append(Entry(lane, recno, payload))
            size += len(payload)
        return out

    def ack(self, lane: Lane, recnos: Sequence[int]) -> None:
        """The broker has these (they leave at the next :meth:`commit_acks`)."""
        st = self._lanes[lane]
        firsts = [s.first for s in st.segments]
        for recno in recnos:
            if st.inflight.pop(recno, None) is None:
                continue  # dropped by the policy meanwhile, or acknowledged already
            st.backoff.pop(recno, None)
            st.acked_above.add(recno)
            i = bisect.bisect_right(firsts, recno) - 1
            if i >= 0:
                st.segments[i].pending -= 1

    def hold(self, lane: Lane, recnos: Sequence[int], *, now: float | None = None) -> float:
        """The broker refused these in-flight records for now: keep them, unacknowledged, and
        read them again once a delay has passed that doubles with each refusal of the record
        (1 s … 5 min). Returns the longest delay given."""
        st = self._lanes[lane]
        now = time.monotonic() if now is None else now
        longest = 0.0
        for recno in recnos:
            pos = st.inflight.pop(recno, None)
            if pos is None:
                continue
            backoff = st.backoff.get(recno)
            if backoff is None:
                backoff = st.backoff[recno] = Backoff(initial_s=_HOLD_FIRST_S, max_s=_HOLD_MAX_S)
            delay = backoff.next_delay()
            longest = max(longest, delay)
            st.held[recno] = HeldRecord(pos[0], pos[1], now + delay)
            heapq.heappush(st.due, (now + delay, recno))
        return longest

    def dead_letter(self, lane: Lane, recnos: Sequence[int], note: Mapping[str, object]) -> int:
        """Move in-flight records the broker refused for good into the dead-letter file, each
        line with ``note`` (topic, reason, …); they leave their lane once that is durable.
        Returns how many moved; raises OSError (and moves nothing) when the file cannot be
        written."""
        st = self._lanes[lane]
        found = [(recno, st.inflight[recno]) for recno in recnos if recno in st.inflight]
        if not found:
            return 0  # dropped by the policy meanwhile
        payloads = [record_at(st, seg_i, off)[1] for _, (seg_i, off) in found]
        letters: list[dict[str, object]] = [
            {"lane": lane.name.lower(), "recno": recno, **note} for recno, _ in found
        ]
        self.dead_letters.add(letters, payloads)
        self.ack(lane, [recno for recno, _ in found])
        return len(found)

    def rewind(self) -> None:
        """After a reconnect: what was in flight is read again (oldest first; held records
        stay held)."""
        for st in self._lanes.values():
            if st.inflight:
                st.read_seg, st.read_off = min(st.inflight.values())
                st.inflight.clear()

    def commit_acks(self) -> None:
        """Persist acknowledgements; delete segments nobody needs any more. A lane whose file
        cannot be written (a full disk) keeps its segments until a later call succeeds; the
        first error is raised after the other lanes."""
        error: OSError | None = None
        for st in self._lanes.values():
            try:
                self._commit(st)
            except OSError as exc:
                error = error or exc
        if error is not None:
            raise error

    def _commit(self, st: LaneState) -> None:
        # the oldest record not acknowledged: in flight, held, or the next to read
        seg_i, off = min(
            [*st.inflight.values(), *((h.seg, h.off) for h in st.held.values())],
            default=(st.read_seg, st.read_off),
        )
        seg_i, off = min((seg_i, off), (st.read_seg, st.read_off))
        first = st.segments[seg_i].first if seg_i < len(st.segments) else st.next_recno
        # acknowledged records at or after that position still matter (a lower bound of it)
        st.acked_above = {r for r in st.acked_above if r >= first}
        state = {"seg": first, "off": off, "acked": sorted(st.acked_above), "next": st.next_recno}
        write_state(st.dir / "acks", state)
        # every segment before the oldest unacknowledged record is done with
        for _ in range(min(seg_i, len(st.segments) - 1)):
            remove_first(st)

    # --- the size and age policy -----------------------------------------------------------

    def enforce(self, now: float | None = None) -> int:
        """Drop by age, then by size and free space (evidence before telemetry; never alarms);
        returns how many pending records were dropped."""
        now = time.time() if now is None else now
        dropped = self.retention.enforce(self._lanes, now=now, free_bytes=self.free_bytes)
        for lane, n in dropped.items():
            self.dropped[lane] += n
        return sum(dropped.values())

    def free_bytes(self) -> int | None:
        """Bytes free on the outbox's disk (None: cannot tell)."""
        try:
            return _free_bytes(self._dir)
        except OSError:
            return None

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
                len(st.held),
            )
        return out

    def in_flight(self) -> int:
        """Records read and not yet acknowledged."""
        return sum(len(st.inflight) for st in self._lanes.values())

    def close(self) -> None:
        """Sync and close files (acknowledgements are persisted too). A full disk loses what
        could not be written now, and says so."""
        failed: OSError | None = None
        try:
            self.sync()
        except OSError as exc:
            failed = exc
        if failed is not None:
            log.error(
                "Outbox: %d measurements could not be written at shutdown (%s): they are lost",
                sum(st.unsynced_records for st in self._lanes.values()), failed,
            )  # fmt: skip
        try:
            self.commit_acks()
        except OSError as exc:
            log.warning(
                "Outbox: acknowledgements not saved at shutdown (%s): the next start sends the "
                "acknowledged records again (the centre drops the copies)", exc,
            )  # fmt: skip
        self._let_go()

    def abandon(self) -> None:
        """Let go of the files without syncing or committing: what a SIGKILL leaves (tests).
        Records not yet synced were only in memory: they are gone, as they would be."""
        self._let_go()

    def _let_go(self) -> None:
        for st in self._lanes.values():
            if st.fd is not None:
                os.close(st.fd)
            if st.reader is not None:
                st.reader.close()
            st.fd, st.reader = None, None
            st.unsynced.clear()
            st.unsynced_records = 0
