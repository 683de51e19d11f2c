"""What the API process shows Prometheus of its own (the stores' metrics come from theirs)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["ApiMetrics"]


class ApiMetrics:
    """The API's metrics, in their own registry (served at /metrics with the others)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.feed_skipped = Counter(
            "villagewatch_api_feed_skipped",
            "Alert changes the live feed could not read and left out (a console shows them "
            "when it next loads the list), by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.feed_failures = Counter(
            "villagewatch_api_feed_failures",
            "Polls of the live feed that failed and were tried again, by reason.",
            ["reason"],
            registry=self.registry,
        )
