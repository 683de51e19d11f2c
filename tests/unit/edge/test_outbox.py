"""The edge outbox: durable before sent, gone only when acknowledged, opens by itself after
torn writes and damaged bytes, and drops by its documented policy only."""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import math
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from villagewatch.edge import durable, outbox
from villagewatch.edge.lanes import Lane
from villagewatch.edge.outbox import Outbox


@pytest.fixture(autouse=True)
def _close_outboxes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every outbox a test opens is let go at its end (as a crash would)."""
    opened: list[Outbox] = []
    real_init = Outbox.__init__

    def init(self: Outbox, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(Outbox, "__init__", init)
    yield
    for box in opened:
        box.abandon()


def payloads(n: int, prefix: str = "r", start: int = 0) -> list[bytes]:
    return [f"{prefix}{i:06d}".encode() * 3 for i in range(start, start + n)]


def drain(box: Outbox, lane: Lane, *, ack: bool = True) -> list[bytes]:
    got = []
    while batch := box.read(lane, 100, now=math.inf):
        got += [e.payload for e in batch]
        if ack:
            box.ack(lane, [e.recno for e in batch])
    box.commit_acks()
    return got


def test_only_synced_records_are_read_and_acknowledged_ones_never_return(tmp_path: Path) -> None:
    box = Outbox(tmp_path, segment_bytes=1000).open()
    box.append(Lane.TELEMETRY, payloads(10))
    assert box.read(Lane.TELEMETRY, 100) == [], "not durable yet: not sent"
    box.sync()
    first = box.read(Lane.TELEMETRY, 4)
    box.ack(Lane.TELEMETRY, [e.recno for e in first])
    box.commit_acks()
    box.close()
    again = Outbox(tmp_path, segment_bytes=1000).open()
    assert again.stats()[Lane.TELEMETRY].pending == 6, "counted at open"
    assert drain(again, Lane.TELEMETRY) == payloads(10)[4:]
    assert again.stats()[Lane.TELEMETRY].pending == 0


def test_in_flight_records_are_read_again_after_a_reconnect_or_a_crash(tmp_path: Path) -> None:
    box = Outbox(tmp_path, segment_bytes=300).open()
    box.append(Lane.ALARM, payloads(30))
    box.sync()
    batch = box.read(Lane.ALARM, 20)
    box.ack(Lane.ALARM, [e.recno for e in batch[5:10]])  # out of order: 5 to 9 acknowledged
    box.rewind()
    assert [e.payload for e in box.read(Lane.ALARM, 100)] == payloads(5) + payloads(20, start=10)
    box.commit_acks()
    box.abandon()  # a crash now: everything unacknowledged comes back, 5 to 9 do not
    crashed = Outbox(tmp_path, segment_bytes=300).open()
    assert drain(crashed, Lane.ALARM) == payloads(5) + payloads(20, start=10)


def test_fully_acknowledged_segments_are_deleted(tmp_path: Path) -> None:
    box = Outbox(tmp_path, segment_bytes=200).open()
    box.append(Lane.TELEMETRY, payloads(100))
    box.sync()
    segments = len(list((tmp_path / "telemetry").glob("*.seg")))
    assert segments > 10
    drain(box, Lane.TELEMETRY)
    assert len(list((tmp_path / "telemetry").glob("*.seg"))) == 1, "only the one being written"


def test_a_torn_tail_costs_the_torn_record_only(tmp_path: Path) -> None:
    box = Outbox(tmp_path, segment_bytes=1 << 20).open()
    box.append(Lane.TELEMETRY, payloads(50))
    box.close()
    (seg,) = (tmp_path / "telemetry").glob("*.seg")
    data = seg.read_bytes()
    seg.write_bytes(data[:-7])  # the power went mid-write
    again = Outbox(tmp_path).open()
    assert again.corrupt == 1
    again.append(Lane.TELEMETRY, [b"after"])
    again.sync()
    assert drain(again, Lane.TELEMETRY) == [*payloads(49), b"after"]


def test_flipped_bytes_cost_exactly_the_records_they_hit(tmp_path: Path) -> None:
    box = Outbox(tmp_path, segment_bytes=1 << 20).open()
    records = payloads(200)
    box.append(Lane.ALARM, records)
    box.close()
    (seg,) = (tmp_path / "alarm").glob("*.seg")
    data = bytearray(seg.read_bytes())
    size = len(data) // 200  # records are all the same size
    rng = random.Random(7)
    hit = sorted(rng.sample(range(200), 12))
    for i in hit:
        data[i * size + rng.randrange(size)] ^= 0xFF
    seg.write_bytes(bytes(data))
    again = Outbox(tmp_path).open()
    assert again.corrupt == len(hit)
    assert again.stats()[Lane.ALARM].pending == 200 - len(hit)
    assert drain(again, Lane.ALARM) == [r for i, r in enumerate(records) if i not in hit]


def test_a_damaged_acknowledgement_file_means_resending_not_losing(tmp_path: Path) -> None:
    box = Outbox(tmp_path).open()
    box.append(Lane.ALARM, payloads(10))
    box.sync()
    drain(box, Lane.ALARM)
    box.append(Lane.ALARM, payloads(5, start=10))
    box.close()
    acks = tmp_path / "alarm" / "acks"
    acks.write_bytes(acks.read_bytes().replace(b'"off":', b'"off":9'))
    again = Outbox(tmp_path).open()
    assert drain(again, Lane.ALARM)[-5:] == payloads(5, start=10)


def test_over_budget_evidence_then_telemetry_go_oldest_first_alarms_stay(tmp_path: Path) -> None:
    box = Outbox(tmp_path, segment_bytes=2000, budget_bytes=20_000).open()
    box.append(Lane.ALARM, payloads(300, "a"))  # ~9 kB of alarms
    box.append(Lane.TELEMETRY, payloads(300, "t"))
    box.append(Lane.EVIDENCE, payloads(100, "e"))
    box.sync()
    dropped = box.enforce()
    assert box.size_bytes() <= 20_000
    assert box.dropped[Lane.EVIDENCE] == 100, "evidence went first, all of it"
    assert box.dropped[Lane.ALARM] == 0
    assert dropped == box.dropped[Lane.EVIDENCE] + box.dropped[Lane.TELEMETRY]
    telemetry = drain(box, Lane.TELEMETRY)
    assert telemetry == payloads(300, "t")[-len(telemetry) :], "the newest telemetry kept"
    assert len(telemetry) + box.dropped[Lane.TELEMETRY] == 300
    assert drain(box, Lane.ALARM) == payloads(300, "a")


def test_old_telemetry_goes_by_age(tmp_path: Path) -> None:
    box = Outbox(tmp_path, segment_bytes=500, max_age_s=3600).open()
    box.append(Lane.TELEMETRY, payloads(40))
    box.append(Lane.ALARM, payloads(5))
    box.sync()
    box.enforce(now=10**10)
    assert box.dropped[Lane.TELEMETRY] == 40 and box.dropped[Lane.ALARM] == 0
    assert drain(box, Lane.ALARM) == payloads(5)


@pytest.mark.parametrize("segment_bytes", [150, 4096])
@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from("asrkhwcxf"), st.integers(1, 20)), max_size=60))
def test_whatever_happens_every_synced_record_is_acknowledged_or_still_pending(  # noqa: PLR0912 - a branch per operation
    tmp_path_factory: pytest.TempPathFactory, segment_bytes: int, ops: list[tuple[str, int]]
) -> None:
    """a: append, s: sync, r: read (held ones due a few reads later), k: ack some in flight,
    h: hold some in flight (refused), w: rewind (reconnect), c: commit, x: crash and reopen,
    f: the disk fills up, or has room again."""
    path = tmp_path_factory.mktemp("box")
    disk = {"full": False}

    def write(fd: int, data: memoryview) -> int:
        return full_disk(fd, data) if disk["full"] else os.write(fd, data)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(durable, "_write", write)
        box = Outbox(path, segment_bytes=segment_bytes).open()
        synced: list[bytes] = []
        unsynced: list[bytes] = []  # accepted, not yet durable (kept in memory)
        acked: set[bytes] = set()
        inflight: list[tuple[int, bytes]] = []
        n = 0
        clock = 0.0
        for op, k in ops:
            if op == "a":
                for p in payloads(k, start=n):
                    n += 1
                    try:
                        box.append(Lane.TELEMETRY, [p])
                    except OSError:
                        continue  # not accepted: the caller counts it lost
                    unsynced.append(p)
            elif op == "s":
                try:
                    box.sync()
                except OSError:
                    continue
                synced += unsynced
                unsynced = []
            elif op == "r":
                clock += 1
                inflight += [(e.recno, e.payload) for e in box.read(Lane.TELEMETRY, k, now=clock)]
            elif op == "k":
                done = inflight[::2][:k]
                inflight = [x for x in inflight if x not in done]
                box.ack(Lane.TELEMETRY, [r for r, _ in done])
                acked |= {p for _, p in done}
            elif op == "h":
                held = inflight[1::2][:k]
                inflight = [x for x in inflight if x not in held]
                box.hold(Lane.TELEMETRY, [r for r, _ in held], now=clock)
            elif op == "w":
                box.rewind()
                inflight = []
            elif op == "c":
                with contextlib.suppress(OSError):
                    box.commit_acks()
            elif op == "f":
                disk["full"] = not disk["full"]
            else:
                box.abandon()  # a crash: nothing synced or committed on the way out
                disk["full"] = False
                box = Outbox(path, segment_bytes=segment_bytes).open()
                unsynced, inflight = [], []  # unsynced appends may or may not have survived
        disk["full"] = False
        box.sync()
        synced += unsynced
        box.rewind()
        rest = drain(box, Lane.TELEMETRY)
        assert len(rest) == len(set(rest)), "nothing read twice in one pass"
        missing = [p for p in synced if p not in acked and p not in rest]
        assert missing == [], "an accepted record was lost"
        assert box.corrupt == 0


# --- refused by the broker: held, or dead letters ------------------------------------------


def test_a_held_record_waits_its_delay_without_blocking_those_behind_it(tmp_path: Path) -> None:
    box = Outbox(tmp_path).open()
    box.append(Lane.ALARM, payloads(5))
    box.sync()
    first = box.read(Lane.ALARM, 1, now=0)
    delay = box.hold(Lane.ALARM, [first[0].recno], now=0)
    assert 0.5 <= delay <= 1.0
    assert [e.payload for e in box.read(Lane.ALARM, 100, now=0)] == payloads(5)[1:]
    assert box.stats()[Lane.ALARM].pending == 5, "held is not acknowledged"
    assert box.stats()[Lane.ALARM].held == 1
    box.rewind()  # a reconnect reads the rest again, but not the held one
    assert [e.payload for e in box.read(Lane.ALARM, 100, now=0.1)] == payloads(5)[1:]
    again = box.read(Lane.ALARM, 100, now=delay)
    assert [e.payload for e in again] == payloads(1), "read again once its hold expired"
    second = box.hold(Lane.ALARM, [again[0].recno], now=delay)
    assert 1.0 <= second <= 2.0, "each refusal of the record doubles its delay"


def test_a_held_record_survives_a_crash_and_is_sent_again(tmp_path: Path) -> None:
    box = Outbox(tmp_path, segment_bytes=100).open()
    box.append(Lane.ALARM, payloads(10))
    box.sync()
    batch = box.read(Lane.ALARM, 100, now=0)
    box.hold(Lane.ALARM, [batch[2].recno], now=0)
    box.ack(Lane.ALARM, [e.recno for e in batch if e.recno != batch[2].recno])
    box.commit_acks()
    box.abandon()
    again = Outbox(tmp_path, segment_bytes=100).open()
    assert again.stats()[Lane.ALARM].pending == 1
    assert drain(again, Lane.ALARM) == [payloads(10)[2]]


def test_a_held_record_read_again_is_not_read_twice_after_a_rewind(tmp_path: Path) -> None:
    box = Outbox(tmp_path).open()
    box.append(Lane.ALARM, payloads(4))
    box.sync()
    batch = box.read(Lane.ALARM, 100, now=0)
    box.hold(Lane.ALARM, [batch[1].recno], now=0)
    box.rewind()  # cursor back to the first in flight, before the held one
    assert [e.payload for e in box.read(Lane.ALARM, 1, now=0)] == payloads(1)
    box.read(Lane.ALARM, 0, now=10)  # nothing read, nothing due-checked
    due = box.read(Lane.ALARM, 100, now=10)
    assert [e.payload for e in due] == [payloads(4)[1], *payloads(4)[2:]]


def test_refused_for_good_moves_to_the_dead_letter_file_durably(tmp_path: Path) -> None:
    box = Outbox(tmp_path).open()
    box.append(Lane.EVIDENCE, [b'{"d":"cam-1"}\n\xff\xd8jpeg\xff\xd9'])
    box.append(Lane.ALARM, [b'{"d":"sos-1"}'])
    box.sync()
    (pic,) = box.read(Lane.EVIDENCE, 10)
    (sos,) = box.read(Lane.ALARM, 10)
    assert box.dead_letter(Lane.EVIDENCE, [pic.recno], {"reason": "too_large"}) == 1
    assert box.dead_letter(Lane.ALARM, [sos.recno], {"reason": "topic_invalid"}) == 1
    assert box.stats()[Lane.EVIDENCE].pending == box.stats()[Lane.ALARM].pending == 0
    lines = [json.loads(x) for x in (tmp_path / "dead-letters.jsonl").read_text().splitlines()]
    assert [(x["lane"], x["reason"]) for x in lines] == [
        ("evidence", "too_large"),
        ("alarm", "topic_invalid"),
    ]
    assert base64.b64decode(lines[0]["payload_b64"]) == pic.payload
    assert lines[1]["payload"] == '{"d":"sos-1"}'
    assert Outbox(tmp_path).open().dead_letters.records == 2, "counted again at open"


def test_dead_letters_are_bounded_and_what_goes_is_counted(tmp_path: Path) -> None:
    box = Outbox(tmp_path, dead_letter_bytes=4000).open()
    box.append(Lane.ALARM, payloads(60))
    box.sync()
    for e in box.read(Lane.ALARM, 100):
        box.dead_letter(Lane.ALARM, [e.recno], {"reason": "payload_format_invalid"})
    files = [tmp_path / "dead-letters.jsonl", tmp_path / "dead-letters.1.jsonl"]
    assert sum(f.stat().st_size for f in files) <= 4000
    kept = sum(len(f.read_text().splitlines()) for f in files)
    assert box.dead_letters.dropped > 0
    assert (
        kept + box.dead_letters.dropped == 60 == box.dead_letters.records + box.dead_letters.dropped
    )


def test_a_dead_letter_that_cannot_be_written_leaves_the_record_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Outbox(tmp_path).open()
    box.append(Lane.ALARM, payloads(1))
    box.sync()
    (e,) = box.read(Lane.ALARM, 1)
    monkeypatch.setattr(durable, "_write", full_disk)
    with pytest.raises(OSError, match="No space"):
        box.dead_letter(Lane.ALARM, [e.recno], {"reason": "too_large"})
    assert box.stats()[Lane.ALARM].pending == 1
    assert (tmp_path / "dead-letters.jsonl").read_bytes() == b"", "no half line"


# --- a full disk ------------------------------------------------------------------------------


def full_disk(fd: int, data: memoryview) -> int:
    """Writes the first half of what it is given, then says the disk is full."""
    if len(data) > 1:
        os.write(fd, data[: len(data) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_sync_that_fails_leaves_no_torn_record_and_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Outbox(tmp_path).open()
    box.append(Lane.TELEMETRY, payloads(10))
    box.sync()
    box.append(Lane.TELEMETRY, payloads(10, start=10))
    box.append(Lane.ALARM, payloads(3, "a"))
    monkeypatch.setattr(durable, "_write", full_disk)
    with pytest.raises(OSError, match="No space"):
        box.sync()
    assert [e.payload for e in box.read(Lane.TELEMETRY, 100)] == payloads(10), (
        "only what is durable is read"
    )
    box.abandon()  # a crash while the disk is full: the first ten, whole
    crashed = Outbox(tmp_path).open()
    assert crashed.corrupt == 0
    assert drain(crashed, Lane.TELEMETRY) == payloads(10)
    crashed.close()


def test_records_wait_in_memory_while_the_disk_is_full_then_all_become_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Outbox(tmp_path, segment_bytes=1000).open()
    box.append(Lane.TELEMETRY, payloads(5))
    monkeypatch.setattr(durable, "_write", full_disk)
    for _ in range(3):
        with pytest.raises(OSError, match="No space"):
            box.sync()
    # the segment is full: starting the next needs the disk, so the next append fails
    with pytest.raises(OSError, match="No space"):
        box.append(Lane.TELEMETRY, payloads(100, start=5))
    queued = box.stats()[Lane.TELEMETRY].pending
    assert 5 < queued < 105
    monkeypatch.setattr(durable, "_write", os.write)  # space again
    box.sync()
    box.append(Lane.TELEMETRY, payloads(1, start=queued))
    box.close()
    again = Outbox(tmp_path, segment_bytes=1000).open()
    assert again.corrupt == 0
    assert drain(again, Lane.TELEMETRY) == payloads(queued + 1)


def test_short_of_free_space_evidence_then_telemetry_go_alarms_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Outbox(tmp_path, segment_bytes=500, reserve_bytes=10_000).open()
    box.append(Lane.ALARM, payloads(50, "a"))
    box.append(Lane.TELEMETRY, payloads(50, "t"))
    box.append(Lane.EVIDENCE, payloads(50, "e"))
    box.sync()
    # 3,000 bytes short of the reserve; deleting segments frees what they held
    start = box.size_bytes()
    monkeypatch.setattr(outbox, "_free_bytes", lambda _d: 7_000 + start - box.size_bytes())
    box.enforce()
    assert box.dropped[Lane.EVIDENCE] == 50
    assert 0 < box.dropped[Lane.TELEMETRY] < 50, "telemetry only until the reserve is free"
    assert box.dropped[Lane.ALARM] == 0
    monkeypatch.setattr(outbox, "_free_bytes", lambda _d: 0)
    box.enforce()
    assert box.dropped[Lane.TELEMETRY] == 50
    assert drain(box, Lane.ALARM) == payloads(50, "a"), "the reserve is the alarms'"
    assert box.free_bytes() == 0


def test_constructing_touches_no_file_open_reads_the_lanes(tmp_path: Path) -> None:
    written = Outbox(tmp_path / "box").open()
    written.append(Lane.ALARM, payloads(3))
    written.sync()
    written.close()
    box = Outbox(tmp_path / "new" / "box")
    assert not (tmp_path / "new").exists(), "the constructor made the directory"
    again = Outbox(tmp_path / "box")
    assert again.stats() == {}, "the constructor read the lanes"
    again.open()
    assert again.stats()[Lane.ALARM].pending == 3
    box.open()
    assert (tmp_path / "new" / "box" / "alarm").is_dir()
