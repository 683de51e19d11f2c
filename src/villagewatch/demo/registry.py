"""A few rental houses and tenants for the demo, so its registry page shows what it is for.

The demo village file lists no houses (tests copy it and start from an empty registry); the
demo adds these to its registry once, when the registry has no house at all — so a house an
operator removed in a kept ``--data`` folder is not seeded back while others remain.
"""

from __future__ import annotations

import time

from villagewatch.config import Deployment
from villagewatch.db.configured import registry_location
from villagewatch.registry import RegistryStore

__all__ = ["DEMO_HOUSES", "seed_demo_registry"]

DEMO_HOUSES = (
    # (house, name, lock, ((tenant, name, phone, verified), ...)); people and phones invented
    ("a01", "A 片 1 号出租房", "lock-a01", (("t-a01-1", "陈晓明", "138 0000 0101", True),)),
    ("a02", "A 片 2 号出租房", "lock-a02", (("t-a02-1", "刘芳", "138 0000 0102", True),
                                           ("t-a02-2", "刘洋", "138 0000 0103", False))),
    ("a03", "A 片 3 号出租房", "lock-a03", ()),
    ("b01", "B 片 1 号出租房", "lock-b01", (("t-b01-1", "王建国", "138 0000 0201", False),)),
)  # fmt: skip
"""The demo's rental houses in its village (dongcun)."""


def seed_demo_registry(deployment: Deployment) -> int:
    """Add the demo houses to an empty registry of the demo's first village; how many."""
    village = deployment.villages[0].id
    locks = {d.id for d in deployment.villages[0].devices}
    registry = RegistryStore(registry_location(deployment.settings))
    try:
        if registry.houses():
            return 0
        now = time.time_ns() // 1_000_000
        added = 0
        for house, name, lock, tenants in DEMO_HOUSES:
            if lock not in locks:  # a demo village edited with --config: skip what it lacks
                continue
            registry.add_house(village, house, name, lock, now)
            for tenant, person, phone, verified in tenants:
                registry.add_tenant(
                    village, house, tenant, name=person, phone=phone, verified=verified,
                    now_ms=now,
                )  # fmt: skip
            added += 1
        return added
    finally:
        registry.close()
