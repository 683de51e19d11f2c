"""A detect service is built without touching its files; ``open()`` restores its state and
seeds the rental registry, before it runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from villagewatch.config import load_deployment
from villagewatch.detect.service import DetectService
from villagewatch.detect.store import DetectStore
from villagewatch.registry import RegistryStore

from .test_engine_faults import VILLAGE


class CountingStore(DetectStore):
    """Detect's store, counting how often its saved states are read."""

    loads = 0

    def load_states(self) -> list[tuple[str, dict[str, Any]]]:
        self.loads += 1
        return super().load_states()


def test_the_constructor_reads_nothing_and_open_restores_and_seeds(tmp_path: Path) -> None:
    (tmp_path / "village.yaml").write_text(VILLAGE.model_dump_json(), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text('{"villages": ["village.yaml"]}', encoding="utf-8")
    deployment = load_deployment(tmp_path / "settings.yaml")
    registry = RegistryStore(tmp_path / "registry.db")

    async def main() -> None:
        store = CountingStore(tmp_path / "detect.db", reserve_bytes=0)
        try:
            service = DetectService(deployment=deployment, store=store, registry=registry)
            assert store.loads == 0, "no saved state read while building"
            assert registry.lock_credentials("v") == {}, "the registry not seeded while building"
            await service.open()
            assert store.loads == 1
            assert registry.lock_credentials("v") != {}, "the village file's house seeded"
        finally:
            await store.close()
            registry.close()

    asyncio.run(main())
