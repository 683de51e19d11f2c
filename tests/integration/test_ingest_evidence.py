"""Evidence JPEGs on ``vw/v1/<village>/<device>/evidence/<id>`` through a real Mosquitto: saved
under ``ingest.evidence_dir`` and acknowledged only then; hostile ones dead-lettered, not saved."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest

from villagewatch.config import Deployment, load_deployment
from villagewatch.contract import RejectReason
from villagewatch.ingest import IngestService
from villagewatch.store import RelationalStore
from villagewatch_dev.servers import Mosquitto
from villagewatch_dev.testing import TINY_JPEG

from .helpers import publish_all, wait_until, write_deployment

R = RejectReason
TOPIC = "vw/v1/testvil/cam-1/evidence/ev-1"


def camera_deployment(directory: Path, port: int, **ingest: object) -> Deployment:
    """The helpers' test village plus a camera ``cam-1``; evidence_dir left at its default."""
    settings = write_deployment(
        directory, mqtt_port=port, store={"kind": "sqlite", "path": "store.db"},
        ingest={"retry_initial_s": 0.05, "retry_max_s": 0.1, **ingest},
    )  # fmt: skip
    village_file = directory / "village.yaml"
    village = orjson.loads(village_file.read_bytes())
    village["devices"].append({"id": "cam-1", "kind": "camera", "grid": "g1"})
    village_file.write_bytes(orjson.dumps(village))
    return load_deployment(settings)


@asynccontextmanager
async def ingesting(deployment: Deployment) -> AsyncIterator[IngestService]:
    """An ingester running in this event loop until the block ends (then stopped cleanly)."""
    store = RelationalStore(deployment.settings.store.path)  # type: ignore[union-attr]
    service = IngestService(deployment=deployment, store=store)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await asyncio.wait_for(service.connected.wait(), 10)
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await store.close()


def mosquitto_pub_file(port: int, topic: str, path: Path) -> None:
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-q", "1",
         "-t", topic, "-f", str(path)],
        check=True, timeout=10,
    )  # fmt: skip


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def until(probe: Callable[[], bool], what: str, within_s: float = 10) -> None:
    await asyncio.to_thread(wait_until, probe, timeout=within_s, what=what)


@pytest.mark.parametrize("share_group", [None, "ingest"])
def test_a_jpeg_from_mosquitto_pub_is_saved_then_acknowledged_and_not_redelivered(
    tmp_path: Path, mosquitto: Mosquitto, share_group: str | None
) -> None:
    deployment = camera_deployment(tmp_path, mosquitto.port, share_group=share_group)
    evidence_dir = tmp_path / "var" / "evidence"
    assert deployment.settings.ingest.evidence_dir == evidence_dir, "relative to the settings"
    snapshot = tmp_path / "snapshot.jpg"
    snapshot.write_bytes(TINY_JPEG)

    async def main() -> None:
        async with ingesting(deployment) as service:
            m = service.metrics
            await asyncio.to_thread(mosquitto_pub_file, mosquitto.port, TOPIC, snapshot)
            await until(lambda: m.value("villagewatch_ingest_evidence_stored_total") == 1, "saved")
            await until(lambda: m.value("villagewatch_ingest_acks_pending") == 0, "acknowledged")
            assert service.evidence.picture("testvil", "cam-1", "ev-1") is not None
        # the same persistent session again: an acknowledged message does not come back
        async with ingesting(deployment) as again:
            await asyncio.sleep(1.0)
            assert again.metrics.value("villagewatch_ingest_messages_received_total") == 0

    asyncio.run(main())
    assert files_under(evidence_dir) == ["testvil/cam-1/ev-1.jpg"]
    assert (evidence_dir / "testvil" / "cam-1" / "ev-1.jpg").read_bytes() == TINY_JPEG


def test_hostile_evidence_is_dead_lettered_by_reason_and_never_saved(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    deployment = camera_deployment(tmp_path, mosquitto.port)
    evidence_dir = tmp_path / "var" / "evidence"
    hostile = {
        "vw/v1/testvil/cam-1/evidence/ev-png": (b"\x89PNG\r\n\x1a\n" + bytes(64), R.INVALID_PAYLOAD),
        "vw/v1/testvil/cam-1/evidence/ev-torn": (TINY_JPEG[:200], R.INVALID_PAYLOAD),
        "vw/v1/testvil/cam-1/evidence/ev-tail": (TINY_JPEG + b"<?php", R.INVALID_PAYLOAD),
        "vw/v1/testvil/cam-9/evidence/ev-x": (TINY_JPEG, R.UNKNOWN_DEVICE),
        "vw/v1/elsewhere/cam-1/evidence/ev-x": (TINY_JPEG, R.UNKNOWN_DEVICE),
        "vw/v1/testvil/wl-000/evidence/ev-x": (TINY_JPEG, R.UNEXPECTED_CHANNEL),
        "vw/v1/testvil/cam-1/evidence/..": (TINY_JPEG, R.BAD_TOPIC),
        "vw/v1/testvil/cam-1/evidence/ev-big": (
            b"\xff\xd8\xff" + bytes(1_100_000) + b"\xff\xd9", R.TOO_LARGE,  # < the broker's limit
        ),
    }  # fmt: skip
    messages = [(topic, payload) for topic, (payload, _) in hostile.items()]

    async def main() -> list[tuple[str, str, str]]:
        async with ingesting(deployment) as service:
            m = service.metrics

            def rejected() -> float:
                return sum(
                    m.value("villagewatch_ingest_rejected_total", {"reason": r.value}) for r in R
                )

            await asyncio.to_thread(publish_all, mosquitto.port, [*messages, (TOPIC, TINY_JPEG)])
            await until(lambda: rejected() == len(hostile), "every hostile one dead-lettered")
            await until(lambda: m.value("villagewatch_ingest_evidence_stored_total") == 1, "saved")
            await until(lambda: m.value("villagewatch_ingest_acks_pending") == 0, "acknowledged")
            for reason in {r for _, r in hostile.values()}:
                expected = sum(r is reason for _, r in hostile.values())
                labels = {"reason": reason.value}
                assert m.value("villagewatch_ingest_rejected_total", labels) == expected
        store = RelationalStore(deployment.settings.store.path)  # type: ignore[union-attr]
        try:
            letters = await store.dead_letters()
        finally:
            await store.close()
        return [(d.topic, d.reason.value, d.detail) for d in letters]

    letters = asyncio.run(main())
    assert {(t, r) for t, r, _ in letters} == {(t, r.value) for t, (_, r) in hostile.items()}
    details = {t: d for t, _, d in letters}
    assert "EOI" in details["vw/v1/testvil/cam-1/evidence/ev-tail"]
    assert "SOI" in details["vw/v1/testvil/cam-1/evidence/ev-png"]
    assert files_under(evidence_dir) == ["testvil/cam-1/ev-1.jpg"], "only the good picture"


def test_a_picture_that_cannot_be_written_stays_unacknowledged_until_it_can(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    deployment = camera_deployment(tmp_path, mosquitto.port)
    evidence_dir = tmp_path / "var" / "evidence"
    evidence_dir.parent.mkdir()
    evidence_dir.write_bytes(b"a file where the folder should be")

    async def main() -> None:
        async with ingesting(deployment) as service:
            m = service.metrics
            await asyncio.to_thread(publish_all, mosquitto.port, [(TOPIC, TINY_JPEG)])
            await until(lambda: m.value("villagewatch_ingest_store_retries_total") >= 2, "retries")
            assert m.value("villagewatch_ingest_acks_pending") == 1, "held, not acknowledged"
            assert m.value("villagewatch_ingest_evidence_stored_total") == 0
            evidence_dir.unlink()
            await until(lambda: m.value("villagewatch_ingest_evidence_stored_total") == 1, "saved")
            await until(lambda: m.value("villagewatch_ingest_acks_pending") == 0, "acknowledged")

    asyncio.run(main())
    assert (evidence_dir / "testvil" / "cam-1" / "ev-1.jpg").read_bytes() == TINY_JPEG
