"""One contract for every evidence store — the folder, and the table on SQLite and PostgreSQL:
a picture saved once is read back, kept once, never replaced; hostile pictures are refused in
words; the table's retention runs on the database's clock; a database outage is retried by
the ingester's writer, never turned into a lost picture."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from villagewatch.contract import MAX_EVIDENCE_BYTES, RejectReason
from villagewatch.db.database import Location, open_database
from villagewatch.errors import StoreUnavailable
from villagewatch.ingest.evidence import EvidenceMessage
from villagewatch.ingest.intake import Intake
from villagewatch.ingest.metrics import IngestMetrics
from villagewatch.ingest.writer import BatchWriter
from villagewatch.store.evidence import Evidence, EvidenceFolder, EvidenceRejected, EvidenceTable
from villagewatch.store.evidence.table import MIGRATIONS
from villagewatch_dev.testing import TINY_JPEG, MemoryStore

OTHER = TINY_JPEG[:100] + TINY_JPEG[-2:]


@pytest.fixture(params=["folder", "table"])
def evidence(
    request: pytest.FixtureRequest, relational: Callable[[str], Location], tmp_path: Path
) -> Iterator[Evidence]:
    """Each store; the folder once per engine too (it ignores the engine)."""
    store: Evidence
    if request.param == "folder":
        store = EvidenceFolder(tmp_path / "evidence")
    else:
        store = EvidenceTable(relational("evidence"), busy_timeout_s=5)
    yield store
    store.close()


def test_a_picture_is_read_back_by_id_and_as_the_devices_newest(evidence: Evidence) -> None:
    assert evidence.picture("dongcun", "cam-1", "ev-1") is None
    assert evidence.newest("dongcun", "cam-1") is None
    evidence.save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    assert evidence.picture("dongcun", "cam-1", "ev-1") == TINY_JPEG
    assert evidence.picture("dongcun", "cam-2", "ev-1") is None, "another device's"
    assert evidence.newest("dongcun", "cam-1") == TINY_JPEG


def test_a_redelivered_picture_is_kept_once_and_other_bytes_never_replace_it(
    evidence: Evidence,
) -> None:
    evidence.save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    evidence.save("dongcun", "cam-1", "ev-1", TINY_JPEG)
    with pytest.raises(EvidenceRejected, match="already stored with other content") as exc:
        evidence.save("dongcun", "cam-1", "ev-1", OTHER)
    assert exc.value.reason is RejectReason.INVALID_PAYLOAD
    assert evidence.picture("dongcun", "cam-1", "ev-1") == TINY_JPEG


@pytest.mark.parametrize(
    ("parts", "jpeg", "reason", "words"),
    [
        (("dongcun", "cam-1", "big"), TINY_JPEG[:-2] + b"\0" * MAX_EVIDENCE_BYTES + b"\xff\xd9",
         RejectReason.TOO_LARGE, "limit"),
        (("dongcun", "cam-1", "png"), b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
         RejectReason.INVALID_PAYLOAD, "not a JPEG"),
        (("dongcun", "cam-1", "../../etc/passwd"), TINY_JPEG, RejectReason.BAD_TOPIC,
         "not identifiers"),
        (("..", "cam-1", "ev-1"), TINY_JPEG, RejectReason.BAD_TOPIC, "not identifiers"),
    ],
    ids=["too-big", "not-a-jpeg", "path-like-id", "path-like-village"],
)  # fmt: skip
def test_hostile_pictures_are_refused_in_words_and_nothing_is_kept(
    evidence: Evidence, parts: tuple[str, str, str], jpeg: bytes, reason: RejectReason,
    words: str,
) -> None:  # fmt: skip
    with pytest.raises(EvidenceRejected, match=words) as exc:
        evidence.save(*parts, jpeg)
    assert exc.value.reason is reason
    assert evidence.picture(*parts) is None
    assert evidence.newest(parts[0], parts[1]) is None


def test_two_ingesters_saving_the_same_picture_at_once_keep_one_row(
    relational: Callable[[str], Location],
) -> None:
    tables = [EvidenceTable(relational("evidence"), busy_timeout_s=10) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            stored = list(
                pool.map(lambda t: t.save("dongcun", "cam-1", "ev-1", TINY_JPEG), tables * 5)
            )
        assert stored.count(True) == 1, "one save stored it; the others found it there"
        db = open_database(
            relational("evidence"), name="check", migrations=MIGRATIONS, busy_timeout_s=5
        )
        assert db.rows("SELECT count(*) FROM pictures") == [(1,)]
        db.close()
    finally:
        for t in tables:
            t.close()


def test_the_table_keeps_to_its_budget_and_ages_pictures_on_the_database_clock(
    relational: Callable[[str], Location],
) -> None:
    size = len(TINY_JPEG)
    table = EvidenceTable(
        relational("evidence"), busy_timeout_s=5, budget_bytes=2 * size, max_age_s=3600,
        prune_every_s=0,
    )  # fmt: skip
    db = open_database(
        relational("evidence"), name="check", migrations=MIGRATIONS, busy_timeout_s=5
    )
    try:
        for n in (1, 2, 3):
            table.save("dongcun", "cam-1", f"ev-{n}", TINY_JPEG)
        assert table.picture("dongcun", "cam-1", "ev-1") is None, "over the budget: oldest went"
        assert table.picture("dongcun", "cam-1", "ev-3") == TINY_JPEG
        # ev-2 stored two hours ago by the database's clock: past the 1 h age limit
        db.write(lambda c: c.execute("UPDATE pictures SET stored_ms = stored_ms - 7200000"
                                     " WHERE evidence_id = 'ev-2'"))  # fmt: skip
        assert table.prune() == (1, size)
        assert table.picture("dongcun", "cam-1", "ev-2") is None
        assert table.newest("dongcun", "cam-1") == TINY_JPEG
    finally:
        db.close()
        table.close()


class FlakyDatabase:
    """An evidence store whose database is down for the first ``down`` saves."""

    def __init__(self, inner: Evidence, down: int) -> None:
        self.inner, self.down = inner, down

    def save(self, village: str, device: str, evidence_id: str, jpeg: bytes) -> object:
        if self.down > 0:
            self.down -= 1
            raise StoreUnavailable("PostgreSQL database vw at 127.0.0.1:5432 is down")
        return self.inner.save(village, device, evidence_id, jpeg)

    def picture(self, village: str, device: str, evidence_id: str) -> bytes | None:
        return self.inner.picture(village, device, evidence_id)

    def newest(self, village: str, device: str) -> bytes | None:
        return self.inner.newest(village, device)

    def close(self) -> None:
        self.inner.close()


def test_a_database_outage_while_a_picture_arrives_is_retried_not_dead_lettered(
    tmp_path: Path,
) -> None:
    """Before: StoreUnavailable fell into the writer's catch-all and the picture was
    dead-lettered as an internal error — lost to the console."""
    flaky = FlakyDatabase(EvidenceFolder(tmp_path / "ev"), down=3)
    store, metrics = MemoryStore(), IngestMetrics()
    acked: list[tuple[int, int]] = []

    async def main() -> None:
        intake = Intake(max_messages=10, max_items=100, max_pending=100, dedupe_window=10)
        writer = BatchWriter(
            store=store, intake=intake, acknowledge=acked.extend,
            metrics=metrics, flush_interval_s=0.02, retry_initial_s=0.01, retry_max_s=0.02,
            evidence=flaky,
        )  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(writer.run(stop))
        topic = "vw/v1/dongcun/cam-1/evidence/ev-1"
        intake.add_evidence(1, 1, 1, EvidenceMessage("dongcun", "cam-1", "ev-1", topic, 1,
                                                     TINY_JPEG))  # fmt: skip
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
    assert store.letters == [], "not dead-lettered"
    assert flaky.down == 0 and flaky.picture("dongcun", "cam-1", "ev-1") == TINY_JPEG
    assert [mid for mid, _ in acked] == [1], "acknowledged once saved"
    assert metrics.value("villagewatch_ingest_evidence_stored_total") == 1
