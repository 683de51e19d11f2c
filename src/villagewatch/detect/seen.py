"""Which (boot, seq) of a device the engine has already processed: a redelivery is dropped."""

from __future__ import annotations

from typing import Any

__all__ = ["Seen", "seen_of"]

_RECENT = 128
"""Items per device and channel remembered so a redelivery is dropped: more than a redelivery
after a restart or a reconnect brings back of one device. A memory of what was seen and never
a highest number, so no sequence number, however large, makes the ones after it look old."""


class Seen:
    """The (boot, seq) of one device's recently processed readings, or of its events.

    Readings and events travel on different topics (and the edge sends alarms before
    backlog), so each channel has its own memory: a lock's old battery readings are not
    duplicates of the events that overtook them. Per boot, the sequence numbers in the order
    they came; past ``_RECENT`` in all, the oldest boot's oldest go first.
    """

    __slots__ = ("boots", "size")

    def __init__(self, boots: dict[str, dict[int, None]] | None = None) -> None:
        self.boots = boots if boots is not None else {}
        self.size = sum(len(seqs) for seqs in self.boots.values())

    def first_time(self, boot: str, seq: int) -> bool:
        seqs = self.boots.get(boot)
        if seqs is None:
            seqs = self.boots[boot] = {}
        elif seq in seqs:
            return False
        seqs[seq] = None
        self.size += 1
        if self.size > _RECENT:
            oldest = next(iter(self.boots))
            first = self.boots[oldest]
            del first[next(iter(first))]
            if not first:
                del self.boots[oldest]
            self.size -= 1
        return True

    def to_json(self) -> dict[str, list[int]]:
        return {boot: list(seqs) for boot, seqs in self.boots.items()}

    @classmethod
    def from_json(cls, raw: dict[str, list[int]]) -> Seen:
        return cls({str(boot): dict.fromkeys(map(int, seqs)) for boot, seqs in raw.items()})


def seen_of(saved: dict[str, Any]) -> tuple[Seen, Seen]:
    """Readings' and events' memories from a saved state (and from the older one-boot form)."""
    if "readings" in saved:
        return Seen.from_json(saved["readings"]), Seen.from_json(saved["events"])
    recent = {str(saved["boot"]): list(saved["recent"])} if saved.get("boot") else {}
    return Seen.from_json(recent), Seen.from_json(recent)
