"""``villagewatch_detect_*`` metrics of one detect process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["DetectMetrics"]


class DetectMetrics:
    """``villagewatch_detect_*`` metrics, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.messages = Counter("villagewatch_detect_messages", "Messages received.", registry=r)
        self.rejected = Counter(
            "villagewatch_detect_rejected",
            "Messages refused by the contract.",
            ["reason"],
            registry=r,
        )
        self.transitions = Counter(
            "villagewatch_detect_transitions", "Alert transitions recorded.", ["action"], registry=r
        )
        self.commit_seconds = Histogram(
            "villagewatch_detect_commit_seconds",
            "Time to commit state and transitions.",
            registry=r,
        )
        self.duplicates = Counter(
            "villagewatch_detect_duplicates",
            "Readings and events already processed (redelivered after a restart).",
            registry=r,
        )
        self.failed = Counter(
            "villagewatch_detect_failed",
            "Messages or timer passes whose detectors raised: kept as dead letters, "
            "acknowledged, skipped (by where it happened: message, tick, restore).",
            ["stage"],
            registry=r,
        )
        self.status_ignored = Counter(
            "villagewatch_detect_status_ignored",
            "Edge agents' statuses, or devices they listed, left out: from no agent of the "
            "village (unknown_agent), or devices the village config gives to another agent "
            "(not_its_device).",
            ["why"],
            registry=r,
        )
        self.unsaved = Gauge(
            "villagewatch_detect_unsaved_seconds",
            "How long detect has been unable to save its state and transitions (0: saving).",
            registry=r,
        )
        self.clock_skew = Gauge(
            "villagewatch_detect_clock_skew_seconds",
            "How far the system clock moved since detect started (silence and timers go by "
            "elapsed time, not by it).",
            registry=r,
        )
        self.config_applied = Counter(
            "villagewatch_detect_config_applied",
            "Changed village files detect took on while running.",
            registry=r,
        )
        self.config_refused = Counter(
            "villagewatch_detect_config_refused",
            "Changed village files detect refused (invalid): it kept the config it had.",
            registry=r,
        )
        self.connected = Gauge(
            "villagewatch_detect_broker_connected", "1 while connected to the broker.", registry=r
        )
