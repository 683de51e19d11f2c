"""The ``detect.partitions`` and ``detect.claim`` settings: villages in named partitions that
several identical detect processes share through leases (:mod:`villagewatch.detect.claim`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import Field

from villagewatch.contract import Identifier, StrictModel

__all__ = ["ClaimSettings", "Partitions", "partition_client_id", "partition_problems"]

Partitions = dict[Identifier, list[Identifier]]
"""Partition name → its villages."""


class ClaimSettings(StrictModel):
    """This detect process competes for ``detect.partitions`` instead of watching fixed
    villages; a partition whose holder dies is taken over within about ``lease_s``."""

    max_partitions: int = Field(
        ..., ge=1, description="Most partitions this process holds at once."
    )
    lease_s: float = Field(
        10,
        ge=1,
        le=600,
        description="A partition whose holder has not renewed its lease for this long is "
        "taken over by another process (renewed every third of it). Take-over after a crash "
        "takes up to 5/3 of lease_s plus connecting.",
    )


def partition_client_id(client_id: str, partition: str) -> str:
    """The MQTT client id of a partition's session: the same in every process that holds it
    in turn, so the broker keeps its messages while nobody does."""
    return f"{client_id}-{partition}"


def partition_problems(
    partitions: Mapping[str, Sequence[str]], villages: Sequence[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Where (a path under ``detect.partitions``) and what is wrong: an empty partition, a
    village in two partitions or twice in one, a village the deployment does not have."""
    known = set(villages)
    first: dict[str, str] = {}
    out: list[tuple[tuple[str | int, ...], str]] = []
    for name, members in partitions.items():
        if not members:
            out.append(((name,), f"partition {name!r} has no villages"))
        for i, village in enumerate(members):
            if village not in known:
                out.append(((name, i), f"no village {village!r} in this deployment's villages"))
            elif village in first:
                where = "earlier in it" if first[village] == name else f"in {first[village]!r}"
                out.append(
                    (
                        (name, i),
                        (
                            f"village {village!r} is also {where}: a village belongs to "
                            "exactly one partition (one process keeps its detectors' state)"
                        ),
                    )
                )
            first.setdefault(village, name)
    return out
