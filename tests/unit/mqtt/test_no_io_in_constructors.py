"""The MQTT services build their client when they start, not in their constructors: building
one reads the broker password and TLS files, and a constructor does no I/O."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.unit.detect.test_engine_faults import VILLAGE
from villagewatch.config import Deployment, load_deployment
from villagewatch.detect.service import DetectService
from villagewatch.detect.store import DetectStore
from villagewatch.errors import ConfigError
from villagewatch.ingest.service import IngestService
from villagewatch.store.relational import RelationalStore


def deployment_whose_password_is_gone(directory: Path) -> Deployment:
    """A deployment whose broker password file was there when it was loaded, and is not now."""
    (directory / "village.yaml").write_text(VILLAGE.model_dump_json(), encoding="utf-8")
    password = directory / "mqtt.password"
    password.write_text("secret\n", encoding="utf-8")
    (directory / "settings.yaml").write_text(
        '{"villages": ["village.yaml"], "mqtt": {"port": 9, "username": "vw", '
        '"password_file": "mqtt.password"}}',
        encoding="utf-8",
    )
    deployment = load_deployment(directory / "settings.yaml")
    password.unlink()
    return deployment


def test_an_ingester_is_built_without_its_password_and_refuses_to_start(tmp_path: Path) -> None:
    deployment = deployment_whose_password_is_gone(tmp_path)

    async def main() -> None:
        store = RelationalStore(tmp_path / "ingest.db")
        try:
            service = IngestService(deployment=deployment, store=store)
            with pytest.raises(ConfigError, match=r"mqtt\.password"):
                await service.run(asyncio.Event())
        finally:
            await store.close()

    asyncio.run(main())


def test_a_detector_is_built_without_its_password_and_refuses_to_open(tmp_path: Path) -> None:
    deployment = deployment_whose_password_is_gone(tmp_path)

    async def main() -> None:
        store = DetectStore(tmp_path / "detect.db")
        try:
            service = DetectService(deployment=deployment, store=store)
            with pytest.raises(ConfigError, match=r"mqtt\.password"):
                await service.open()
        finally:
            await store.close()

    asyncio.run(main())
