"""A full data disk (a small tmpfs, filled to the last byte) under real services: detect still
starts and records alerts, says so loudly and raises disk_low; the ingester stores no
evidence into the last free space but keeps storing readings."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.faults import Campaign
from villagewatch_dev.servers import Mosquitto, free_port

from .helpers import NOW_MS, DetectProcess, publish_all, reading, wait_until, write_deployment
from .test_detect_service import transitions

pytestmark = pytest.mark.campaign


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB filesystem of this test's own (tmpfs: needs root, as CI runs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs as root: {done.stderr}")
        pytest.skip(f"cannot mount a tmpfs: {done.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    """Write until the filesystem refuses another byte."""
    with contextlib.suppress(OSError), (disk / "filler").open("wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    with contextlib.suppress(OSError), (disk / "filler-tail").open("wb") as f:
        while True:
            f.write(b"\0" * 512)
            f.flush()


def sos(seq: int) -> tuple[str, bytes]:
    body = {"v": 1, "device": "sos-1", "boot": "b1",
            "event": {"seq": seq, "ts": NOW_MS, "clock": "synced", "type": "sos"}}  # fmt: skip
    return "vw/v1/testvil/sos-1/event", orjson.dumps(body)


def test_detect_starts_and_records_alerts_on_a_full_disk(
    mosquitto: Mosquitto, tmp_path: Path, small_disk: Path, campaign: Campaign
) -> None:
    metrics_port = free_port()
    settings = write_deployment(
        tmp_path, mqtt_port=mosquitto.port, store={"kind": "sqlite", "path": "r.db"},
        detect={"metrics_port": metrics_port, "state_path": str(small_disk / "detect.db"),
                "disk_reserve_mb": 2, "tick_s": 0.5},
        registry={"path": str(small_disk / "registry.db")},
    )  # fmt: skip
    db = small_disk / "detect.db"
    detect = DetectProcess(settings, metrics_port).start()
    try:
        publish_all(mosquitto.port, [reading("wl-000", 1)])
        wait_until((small_disk / "detect.db.reserve").exists, timeout=20, what="the reserve")
    finally:
        assert detect.terminate() == 0
    fill(small_disk)
    assert os.statvfs(small_disk).f_bavail == 0

    detect = DetectProcess(settings, metrics_port).start()  # it used to die here
    try:
        publish_all(mosquitto.port, [sos(1)])
        wait_until(lambda: transitions(db, "sos", "sos-1"), timeout=30, what="the SOS recorded")
        (low,) = wait_until(
            lambda: transitions(db, "disk", f"disk:{small_disk}"), timeout=30, what="disk_low"
        )
        assert low["kind"] == "disk_low" and low["action"] == "fire"
        free = detect.metric("villagewatch_detect_disk_free_bytes", f'path="{small_disk}"')
        assert free is not None and free < 4_000_000
    finally:
        detect.terminate()
    recorded = len(transitions(db, "sos", "sos-1"))
    raised = recorded + len(low_fires(db, small_disk))
    campaign.row(
        "detect restarted on a data disk filled to the last byte: an SOS (and disk_low)",
        offered=1, stored=recorded, alerts_expected=2, alerts_raised=raised,
        lost=1 - recorded, duplicated=max(0, raised - 2),
    )  # fmt: skip
    assert "released the 2 MB reserve" in detect.log_text()


def low_fires(db: Path, disk: Path) -> list[dict[str, object]]:
    return [t for t in transitions(db, "disk", f"disk:{disk}") if t["action"] == "fire"]


def test_a_full_evidence_disk_holds_up_no_reading(
    mosquitto: Mosquitto, tmp_path: Path, small_disk: Path, campaign: Campaign
) -> None:
    """Pictures meet a full disk: they become no_space dead letters; readings are all stored."""
    import asyncio

    from villagewatch.contract import RejectReason
    from villagewatch_dev.testing import TINY_JPEG

    from .test_ingest_evidence import camera_deployment, ingesting

    deployment = camera_deployment(
        tmp_path, mosquitto.port, evidence_dir=str(small_disk / "evidence")
    )
    fill(small_disk)
    pictures = [(f"vw/v1/testvil/cam-1/evidence/ev-{i}", TINY_JPEG) for i in range(5)]
    readings = [reading("wl-000", i) for i in range(50)]

    async def main() -> None:
        async with ingesting(deployment) as service:
            store = service._store
            await asyncio.to_thread(publish_all, mosquitto.port, [*pictures, *readings])
            await asyncio.to_thread(
                wait_until,
                lambda: service.metrics.readings_stored._value.get() == 50,
                timeout=20, what="every reading stored",
            )  # fmt: skip
            letters = await store.dead_letters()
            stored = int(service.metrics.readings_stored._value.get())
            campaign.row(
                "the evidence disk is full: 5 pictures (refused as no_space) and 50 readings",
                offered=len(readings), stored=stored, lost=len(readings) - stored,
            )  # fmt: skip
            assert {d.reason for d in letters} == {RejectReason.NO_SPACE}
            assert len(letters) == 5

    asyncio.run(main())
