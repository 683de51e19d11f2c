"""Evidence pictures: checked at receipt, saved atomically and durably, idempotently, under
identifiers only; the writer saves them before it acknowledges their batch."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from villagewatch.contract import (
    MAX_EVIDENCE_BYTES,
    DeadLetter,
    DeviceInfo,
    DeviceKind,
    RejectReason,
)
from villagewatch.ingest.evidence import EvidenceMessage, decode_evidence
from villagewatch.ingest.intake import Intake
from villagewatch.ingest.metrics import IngestMetrics
from villagewatch.ingest.writer import BatchWriter
from villagewatch.store.evidence import (
    EvidenceFolder,
    EvidenceRejected,
    jpeg_refusal,
)
from villagewatch_dev.testing import TINY_JPEG, MemoryStore

R = RejectReason


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- what counts as a JPEG ---------------------------------------------------------------

PAYLOADS = [
    pytest.param(b"", R.INVALID_PAYLOAD, "SOI", id="empty"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(100), R.INVALID_PAYLOAD, "SOI", id="png"),
    pytest.param(b'{"v": 1}', R.INVALID_PAYLOAD, "SOI", id="json"),
    pytest.param(TINY_JPEG[1:], R.INVALID_PAYLOAD, "SOI", id="first-byte-missing"),
    pytest.param(TINY_JPEG[:-1], R.INVALID_PAYLOAD, "EOI", id="torn-last-byte"),
    pytest.param(TINY_JPEG[:200], R.INVALID_PAYLOAD, "EOI", id="torn-half"),
    pytest.param(TINY_JPEG[:2], R.INVALID_PAYLOAD, "SOI", id="soi-only"),
    pytest.param(b"\xff\xd8\xff\xd9", R.INVALID_PAYLOAD, "EOI", id="soi-eoi-overlapping"),
    pytest.param(TINY_JPEG + b"\x00", R.INVALID_PAYLOAD, "EOI", id="trailing-byte"),
    pytest.param(TINY_JPEG + b"PK\x03\x04zip", R.INVALID_PAYLOAD, "EOI", id="appended-zip"),
    pytest.param(
        b"\xff\xd8\xff" + bytes(MAX_EVIDENCE_BYTES) + b"\xff\xd9", R.TOO_LARGE, "limit",
        id="over-1-mib",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "reason", "says"), PAYLOADS)
def test_a_payload_that_is_not_a_whole_jpeg_is_refused_with_a_reason(
    tmp_path: Path, payload: bytes, reason: RejectReason, says: str
) -> None:
    refusal = jpeg_refusal(payload)
    assert refusal is not None and refusal[0] is reason and says in refusal[1]
    store = EvidenceFolder(tmp_path / "ev")
    with pytest.raises(EvidenceRejected) as caught:
        store.save("dongcun", "cam-1", "ev-1", payload)
    assert caught.value.reason is reason and says in caught.value.detail
    assert not (tmp_path / "ev").exists(), "nothing written, not even a folder"


def test_a_whole_jpeg_up_to_1_mib_is_accepted() -> None:
    assert jpeg_refusal(TINY_JPEG) is None
    biggest = b"\xff\xd8\xff" + bytes(MAX_EVIDENCE_BYTES - 5) + b"\xff\xd9"
    assert len(biggest) == MAX_EVIDENCE_BYTES and jpeg_refusal(biggest) is None


# --- saving ---------------------------------------------------------------------------------


def test_save_lands_at_root_village_device_id_jpg_with_the_exact_bytes(tmp_path: Path) -> None:
    store = EvidenceFolder(tmp_path / "ev")
    path = store.save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    assert path == tmp_path / "ev" / "dongcun" / "cam-1" / "ev-1.jpg"
    assert path.read_bytes() == TINY_JPEG
    assert files_under(tmp_path) == ["ev/dongcun/cam-1/ev-1.jpg"], "no temporary file left"
    assert not stat.S_IMODE(path.stat().st_mode) & 0o007, "personal data: not world-readable"


def test_save_fsyncs_a_temp_file_in_the_same_folder_then_renames_it_then_fsyncs_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, ...]] = []
    real_fsync, real_replace = os.fsync, os.replace
    final = tmp_path / "dongcun" / "cam-1" / "ev-1.jpg"

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        assert not final.exists(), "the final name appears only by the rename"
        calls.append(("replace", str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    EvidenceFolder(tmp_path).save("dongcun", "cam-1", "ev-1", TINY_JPEG)

    (i,) = [n for n, c in enumerate(calls) if c[0] == "replace"]
    _, tmp, dst = calls[i]
    assert dst == str(final)
    assert Path(tmp).parent == final.parent and Path(tmp).name.startswith(".ev-1.")
    assert ("fsync", tmp) in calls[:i], "the data is on disk before the rename"
    assert calls[i + 1 :] == [("fsync", str(final.parent))], "then the rename itself"
    for folder in (final.parent, final.parent.parent, tmp_path):
        assert ("fsync", str(folder)) in calls[:i], f"new folder {folder} made durable"


def test_a_failed_rename_leaves_neither_the_picture_nor_a_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def replace(src: str | Path, dst: str | Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", replace)
    store = EvidenceFolder(tmp_path)
    with pytest.raises(OSError, match="Input/output"):
        store.save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    assert files_under(tmp_path) == []
    assert store.path("dongcun", "cam-1", "ev-1") is None


def test_a_redelivery_with_the_same_bytes_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EvidenceFolder(tmp_path)
    first = store.save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    replaced: list[object] = []
    monkeypatch.setattr(os, "replace", lambda *a: replaced.append(a))
    assert store.save("dongcun", "cam-1", "ev-1", bytes(TINY_JPEG)) == first
    assert replaced == [] and first.read_bytes() == TINY_JPEG
    # a fresh process (empty folder cache) finds it too
    assert EvidenceFolder(tmp_path).save("dongcun", "cam-1", "ev-1", TINY_JPEG) == first


def test_other_bytes_under_a_stored_id_are_refused_and_the_first_picture_kept(
    tmp_path: Path,
) -> None:
    store = EvidenceFolder(tmp_path)
    path = store.save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    other = TINY_JPEG[:-3] + b"\x00\xff\xd9"
    for different in (other, TINY_JPEG[:100] + TINY_JPEG[-2:]):  # same size, other size
        with pytest.raises(EvidenceRejected, match="already stored") as caught:
            store.save("dongcun", "cam-1", "ev-1", different)
        assert caught.value.reason is R.INVALID_PAYLOAD
    assert path.read_bytes() == TINY_JPEG
    assert files_under(tmp_path) == ["dongcun/cam-1/ev-1.jpg"]


def test_concurrent_saves_of_one_picture_leave_one_whole_file(tmp_path: Path) -> None:
    store = EvidenceFolder(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        paths = set(
            pool.map(lambda _: store.save("dongcun", "cam-1", "ev-1", TINY_JPEG), range(32))
        )
    assert len(paths) == 1 and paths.pop().read_bytes() == TINY_JPEG
    assert files_under(tmp_path) == ["dongcun/cam-1/ev-1.jpg"]


def test_a_folder_removed_while_running_is_made_again(tmp_path: Path) -> None:
    store = EvidenceFolder(tmp_path)
    store.save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    (tmp_path / "dongcun" / "cam-1" / "ev-1.jpg").unlink()
    (tmp_path / "dongcun" / "cam-1").rmdir()
    assert store.save("dongcun", "cam-1", "ev-2", TINY_JPEG).is_file()


NOT_IDENTIFIERS = [
    "", ".", "..", "../x", "a/b", "/etc", ".hidden", "Cam", "cam 1", "+", "#", "$sys",
    "ev-1\n", "ev\x00", "é", "x" * 65, "-ev",
]  # fmt: skip


@pytest.mark.parametrize("bad", NOT_IDENTIFIERS)
@pytest.mark.parametrize("where", ["village", "device", "evidence_id"])
def test_anything_but_an_identifier_is_refused_by_save_path_and_find(
    tmp_path: Path, bad: str, where: str
) -> None:
    root = tmp_path / "ev"
    store = EvidenceFolder(root)
    store.save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    parts = {"village": "dongcun", "device": "cam-1", "evidence_id": "ev-1", where: bad}
    with pytest.raises(EvidenceRejected) as caught:
        store.save(parts["village"], parts["device"], parts["evidence_id"], TINY_JPEG)
    assert caught.value.reason is R.BAD_TOPIC
    assert store.path(parts["village"], parts["device"], parts["evidence_id"]) is None
    if where != "device":
        assert store.find(parts["village"], parts["evidence_id"]) is None
    assert files_under(tmp_path) == ["ev/dongcun/cam-1/ev-1.jpg"]


def test_path_and_find_reach_only_stored_pictures(tmp_path: Path) -> None:
    store = EvidenceFolder(tmp_path / "ev")
    assert store.path("dongcun", "cam-1", "ev-1") is None, "nothing stored, no root yet"
    assert store.find("dongcun", "ev-1") is None
    a = store.save("dongcun", "cam-b", "ev-1", TINY_JPEG)
    b = store.save("dongcun", "cam-a", "ev-2", TINY_JPEG)
    store.save("xicun", "cam-a", "ev-3", TINY_JPEG)
    (tmp_path / "ev" / "dongcun" / "cam-a" / ".ev-9.0123.tmp").write_bytes(b"partial")
    assert store.path("dongcun", "cam-b", "ev-1") == a
    assert store.path("dongcun", "cam-a", "ev-1") is None
    assert store.find("dongcun", "ev-1") == a and store.find("dongcun", "ev-2") == b
    assert store.find("dongcun", "ev-3") is None, "another village's picture"
    assert store.find("dongcun", "ev-9") is None, "a temporary file is never a picture"
    assert store.find("nowhere", "ev-1") is None


# --- checking a message at receipt ------------------------------------------------------------

DEVICES = {
    ("dongcun", "cam-1"): DeviceInfo("g1", DeviceKind.CAMERA),
    ("dongcun", "wl-1"): DeviceInfo("g1", DeviceKind.WATER_LEVEL),
}
MESSAGES = [
    pytest.param("vw/v1/dongcun/cam-9/evidence/ev-1", TINY_JPEG, R.UNKNOWN_DEVICE, id="unknown-device"),
    pytest.param("vw/v1/xicun/cam-1/evidence/ev-1", TINY_JPEG, R.UNKNOWN_DEVICE, id="unknown-village"),
    pytest.param("vw/v1/dongcun/wl-1/evidence/ev-1", TINY_JPEG, R.UNEXPECTED_CHANNEL, id="not-a-camera"),
    pytest.param("vw/v1/dongcun/cam-1/evidence/..", TINY_JPEG, R.BAD_TOPIC, id="dotdot-id"),
    pytest.param("vw/v1/dongcun/cam-1/evidence/EV", TINY_JPEG, R.BAD_TOPIC, id="upper-case-id"),
    pytest.param("vw/v1/dongcun/cam-1/evidence/a/b", TINY_JPEG, R.BAD_TOPIC, id="two-levels"),
    pytest.param("vw/v1/dongcun/cam-1/telemetry", TINY_JPEG, R.UNEXPECTED_CHANNEL, id="telemetry"),
    pytest.param("vw/v1/dongcun/cam-1/evidence/ev-1", b"GIF89a", R.INVALID_PAYLOAD, id="gif"),
    pytest.param("vw/v1/dongcun/cam-1/evidence/ev-1", TINY_JPEG[:-7], R.INVALID_PAYLOAD, id="torn"),
    pytest.param("vw/v1/dongcun/cam-1/evidence/ev-1", b"\xff" * (MAX_EVIDENCE_BYTES + 1), R.TOO_LARGE, id="too-large"),
]  # fmt: skip


@pytest.mark.parametrize(("topic", "payload", "reason"), MESSAGES)
def test_a_bad_evidence_message_becomes_a_dead_letter_with_its_reason(
    topic: str, payload: bytes, reason: RejectReason
) -> None:
    letter = decode_evidence(topic, payload, 7, DEVICES)
    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.topic, letter.received_ns) == (reason, topic, 7)
    assert letter.payload == payload[:512], "kept like every dead letter: the first 512 bytes"


def test_a_camera_picture_is_accepted_with_its_ids() -> None:
    topic = "vw/v1/dongcun/cam-1/evidence/ev-1"
    assert decode_evidence(topic, TINY_JPEG, 7, DEVICES) == EvidenceMessage(
        "dongcun", "cam-1", "ev-1", topic, 7, TINY_JPEG
    )


# --- batching and writing ----------------------------------------------------------------------


def evidence(evidence_id: str, jpeg: bytes = TINY_JPEG) -> EvidenceMessage:
    return EvidenceMessage(
        "dongcun", "cam-1", evidence_id, f"vw/v1/dongcun/cam-1/evidence/{evidence_id}", 1, jpeg
    )


def test_pictures_close_a_batch_by_bytes_and_pause_reading_until_released() -> None:
    async def main() -> None:
        calls: list[str] = []
        intake = Intake(
            max_messages=100, max_items=100, max_pending=100, dedupe_window=10,
            max_batch_evidence_bytes=1000, max_pending_evidence_bytes=1500,
            pause=lambda: calls.append("pause"), resume=lambda: calls.append("resume"),
        )  # fmt: skip
        big = b"\xff\xd8\xff" + bytes(595) + b"\xff\xd9"  # 600 bytes
        for mid in (1, 2, 3):
            assert intake.add_evidence(mid, 1, 1, evidence(f"ev-{mid}", big))
        assert calls == ["pause"], "1800 bytes pending: stop reading"
        batch = await asyncio.wait_for(intake.take(10.0, asyncio.Event()), 5)
        assert batch is not None
        assert [a for a, _ in batch.acks] == [1, 2] and batch.evidence_bytes == 1200
        intake.release(batch)
        assert calls == ["pause", "resume"] and intake.pending == 1

    asyncio.run(main())


class Recorder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.acked: list[int] = []
        self.files_when_acked: list[list[str]] = []

    def __call__(self, acks: list[tuple[int, int]]) -> None:
        self.acked.extend(mid for mid, _ in acks)
        self.files_when_acked.append(files_under(self.root) if self.root.exists() else [])


def run_writer(
    root: Path, fill: Callable[[Intake], object], *, unblock: Callable[[], None] | None = None
) -> tuple[MemoryStore, IngestMetrics, Recorder]:
    store, metrics, acks = MemoryStore(), IngestMetrics(), Recorder(root)

    async def main() -> None:
        intake = Intake(max_messages=10, max_items=100, max_pending=100, dedupe_window=10)
        writer = BatchWriter(
            store=store, intake=intake, acknowledge=acks, metrics=metrics,
            flush_interval_s=0.02, retry_initial_s=0.01, retry_max_s=0.02,
            evidence=EvidenceFolder(root),
        )  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(writer.run(stop))
        fill(intake)
        if unblock is not None:
            await asyncio.sleep(0.3)
            assert acks.acked == [], "not saved: not acknowledged"
            unblock()
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    return store, metrics, acks


def test_the_writer_saves_pictures_before_it_acknowledges_them(tmp_path: Path) -> None:
    root = tmp_path / "ev"

    def fill(intake: Intake) -> None:
        intake.add_evidence(1, 1, 1, evidence("ev-1"))
        intake.add_evidence(2, 0, 1, evidence("ev-2"))  # QoS 0: saved, nothing to acknowledge
        intake.add_evidence(3, 1, 1, evidence("ev-1"))  # a redelivery

    store, metrics, acks = run_writer(root, fill)
    assert acks.acked == [1, 3]
    assert acks.files_when_acked == [["dongcun/cam-1/ev-1.jpg", "dongcun/cam-1/ev-2.jpg"]]
    assert metrics.value("villagewatch_ingest_evidence_stored_total") == 3
    assert store.letters == []


def test_a_picture_the_store_refuses_is_dead_lettered_counted_and_acknowledged(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ev"
    EvidenceFolder(root).save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    other = TINY_JPEG[:100] + TINY_JPEG[-2:]

    store, metrics, acks = run_writer(
        root, lambda intake: intake.add_evidence(1, 1, 1, evidence("ev-1", other))
    )
    assert acks.acked == [1]
    (letter,) = store.letters
    assert letter.reason is R.INVALID_PAYLOAD and "already stored" in letter.detail
    assert letter.topic == "vw/v1/dongcun/cam-1/evidence/ev-1"
    assert metrics.value("villagewatch_ingest_rejected_total", {"reason": "invalid_payload"}) == 1
    assert metrics.value("villagewatch_ingest_evidence_stored_total") == 0
    assert (root / "dongcun" / "cam-1" / "ev-1.jpg").read_bytes() == TINY_JPEG


def test_a_disk_failure_is_retried_and_nothing_acknowledged_until_the_picture_is_saved(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "ev"
    blocker.write_bytes(b"a file where the folder should be")

    _, metrics, acks = run_writer(
        blocker,
        lambda intake: intake.add_evidence(1, 1, 1, evidence("ev-1")),
        unblock=blocker.unlink,
    )
    assert acks.acked == [1] and acks.files_when_acked == [["dongcun/cam-1/ev-1.jpg"]]
    assert metrics.value("villagewatch_ingest_store_retries_total") >= 1
    assert metrics.value("villagewatch_ingest_evidence_stored_total") == 1


# --- space: a budget of their own, never the readings' room ---------------------------------


def _aged(store: EvidenceFolder, ids: list[str], start: float) -> None:
    for i, evidence_id in enumerate(ids):
        path = store.save("dongcun", "cam-1", evidence_id, TINY_JPEG)
        os.utime(path, (start + i, start + i))


def test_pictures_past_the_budget_or_the_age_limit_go_oldest_first(tmp_path: Path) -> None:
    from villagewatch.runtime.diskspace import Space

    size = len(TINY_JPEG)
    now = [1_800_000_000.0]
    store = EvidenceFolder(
        tmp_path, budget_bytes=3 * size, max_age_s=86400, prune_every_s=1e9,
        now=lambda: now[0], space=lambda _p: Space(10**12, 10**12),
    )  # fmt: skip
    _aged(store, ["ev-0", "ev-1", "ev-2", "ev-3", "ev-4"], now[0] - 100)
    assert store.prune() == (2, 2 * size)
    assert files_under(tmp_path) == [f"dongcun/cam-1/ev-{i}.jpg" for i in (2, 3, 4)]
    now[0] += 86400 - 96.5  # ev-2 and ev-3 are now older than a day
    assert store.prune()[0] == 2
    assert files_under(tmp_path) == ["dongcun/cam-1/ev-4.jpg"]


def test_a_picture_that_would_eat_the_readings_room_is_refused_after_old_ones_made_way(
    tmp_path: Path,
) -> None:
    from villagewatch.runtime.diskspace import Space

    free = [0]
    store = EvidenceFolder(
        tmp_path, min_free_share=0.10, prune_every_s=1e9,
        space=lambda _p: Space(free[0], 10_000_000),
    )  # fmt: skip
    free[0] = 5_000_000
    _aged(store, ["ev-0", "ev-1"], 1_700_000_000)
    free[0] = 900_000  # 9 % free: another picture would go below the floor
    with pytest.raises(EvidenceRejected) as caught:
        store.save("dongcun", "cam-1", "ev-2", TINY_JPEG)
    assert caught.value.reason is R.NO_SPACE and "readings" in caught.value.detail
    assert files_under(tmp_path) == [], "the old pictures were deleted first, to no avail"


def test_a_full_disk_refuses_the_picture_instead_of_holding_the_batch(tmp_path: Path) -> None:
    import errno

    class FullDisk(EvidenceFolder):
        def _write(self, folder: Path, final: Path, evidence_id: str, jpeg: bytes) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(EvidenceRejected) as caught:
        FullDisk(tmp_path).save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    assert caught.value.reason is R.NO_SPACE
