"""Prometheus metrics of one ingester, in a registry of its own (several may share a process)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from villagewatch.contract import RejectReason

__all__ = ["IngestMetrics"]

_LATENCY_BUCKETS = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip


class IngestMetrics:
    """Counters, gauges and histograms named ``villagewatch_ingest_*``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = 0
        """Messages received; a plain int bumped by the MQTT thread, read at scrape time
        (a prometheus Counter takes a lock per increment, ~1 µs on the hot path)."""
        r.register(_ReceivedCollector(self))
        self.readings_stored = Counter(
            "villagewatch_ingest_readings_stored", "Readings durably stored.", registry=r
        )
        self.events_stored = Counter(
            "villagewatch_ingest_events_stored", "Events durably stored.", registry=r
        )
        self.evidence_stored = Counter(
            "villagewatch_ingest_evidence_stored",
            "Evidence pictures durably stored (new, or already there from an earlier delivery).",
            registry=r,
        )
        self.config_applied = Counter(
            "villagewatch_ingest_config_applied",
            "Config changes followed without a restart (devices added or removed).",
            registry=r,
        )
        self.config_refused = Counter(
            "villagewatch_ingest_config_refused",
            "Config changes refused (they do not load); the running config stays.",
            registry=r,
        )
        self.rejected = Counter(
            "villagewatch_ingest_rejected",
            "Messages or points dead-lettered, by reason.",
            ["reason"],
            registry=r,
        )
        for reason in RejectReason:
            self.rejected.labels(reason.value)
        self.duplicates = Counter(
            "villagewatch_ingest_duplicates",
            "Readings and events dropped because they were already received or stored.",
            registry=r,
        )
        self.rescued = Counter(
            "villagewatch_ingest_rescued_timestamps",
            "Items stamped on receipt: their device time was implausible, or they had none (less "
            "the age an alarm sent without a trusted clock carries).",
            registry=r,
        )
        self.batch_write_seconds = Histogram(
            "villagewatch_ingest_batch_write_seconds",
            "Time to write one batch durably, retries included.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.store_lag_seconds = Histogram(
            "villagewatch_ingest_store_lag_seconds",
            "Device time to durably stored, for live readings from synced clocks.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.acks_pending = Gauge(
            "villagewatch_ingest_acks_pending",
            "Messages received and not yet acknowledged to the broker.",
            registry=r,
        )
        self.store_retries = Counter(
            "villagewatch_ingest_store_retries",
            "Failed batch writes that were retried.",
            registry=r,
        )
        self.retained_cleared = Counter(
            "villagewatch_ingest_retained_cleared",
            "Evidence pictures a device published retained, whose retained copy was removed "
            "from the broker.",
            registry=r,
        )
        self.connected = Gauge(
            "villagewatch_ingest_broker_connected", "1 while connected to the broker.", registry=r
        )

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of a sample, e.g. ``"villagewatch_ingest_readings_stored_total"``."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0


class _ReceivedCollector(Collector):
    def __init__(self, metrics: IngestMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "villagewatch_ingest_messages_received",
            "MQTT messages received.",
            value=self._metrics.received,
        )
