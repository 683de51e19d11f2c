"""The demo's rental registry starts with a few houses and tenants, seeded once."""

from __future__ import annotations

from pathlib import Path

from villagewatch.demo.registry import DEMO_HOUSES, seed_demo_registry
from villagewatch.demo.run import demo_deployment
from villagewatch.registry import RegistryStore


def test_the_demo_registry_shows_houses_and_is_seeded_only_when_empty(tmp_path: Path) -> None:
    deployment = demo_deployment(tmp_path, broker_port=1884, api_port=8081, rate=5)
    assert seed_demo_registry(deployment) == len(DEMO_HOUSES)
    registry = RegistryStore(deployment.settings.registry.path)
    try:
        houses = registry.houses("dongcun")
        assert {h.id for h in houses} == {h[0] for h in DEMO_HOUSES}
        assert sum(len(h.tenants) for h in houses) == 4
        registry.end_tenant("dongcun", "a01", "t-a01-1", 1)
    finally:
        registry.close()
    assert seed_demo_registry(deployment) == 0  # kept --data: the operator's registry stays
