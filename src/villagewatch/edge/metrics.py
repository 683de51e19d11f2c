"""The edge agent's Prometheus metrics (``metrics_port``, on 127.0.0.1 only)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

from villagewatch.edge.lanes import Lane
from villagewatch.runtime.diskspace import export_free_space

if TYPE_CHECKING:
    from villagewatch.edge.agent import EdgeAgent

__all__ = ["EdgeMetrics"]


class EdgeMetrics:
    """Counters of what went through, gauges of what waits."""

    def __init__(self, agent: EdgeAgent) -> None:
        self.registry = r = CollectorRegistry()
        lane = ["lane"]
        self.accepted = Counter(
            "villagewatch_edge_accepted", "Measurements accepted into the outbox.", lane, registry=r
        )
        self.sent = Counter(
            "villagewatch_edge_sent",
            "Readings and events published (resends included).",
            ["lane", "historical"],
            registry=r,
        )
        self.acked = Counter(
            "villagewatch_edge_acknowledged",
            "Readings and events the broker took.",
            lane,
            registry=r,
        )
        self.corrupt = Counter(
            "villagewatch_edge_outbox_corrupt",
            "Damaged outbox records found at open (lost).",
            registry=r,
        )
        self._dropped = Gauge(
            "villagewatch_edge_outbox_dropped",
            "Pending records dropped by the size and age policy since start.",
            lane,
            registry=r,
        )
        pending = Gauge("villagewatch_edge_outbox_pending", "Records waiting.", lane, registry=r)
        oldest = Gauge(
            "villagewatch_edge_outbox_oldest_seconds",
            "Age of the oldest waiting records.",
            lane,
            registry=r,
        )
        for ln in Lane:
            name = ln.name.lower()
            pending.labels(name).set_function(partial(_pending, agent, ln))
            oldest.labels(name).set_function(partial(_oldest, agent, ln))
        self.config_refused = Counter(
            "villagewatch_edge_config_refused",
            "Desired configs from the centre refused (the last good one kept running), by reason:"
            " invalid, not_saved, internal_error.",
            ["reason"],
            registry=r,
        )
        self.refused = Counter(
            "villagewatch_edge_refused",
            "Readings, events and pictures the broker refused, by reason (held and retried, or "
            "dead-lettered when permanent).",
            ["lane", "reason"],
            registry=r,
        )
        letters = Gauge(
            "villagewatch_edge_dead_letters",
            "Records in the outbox's dead-letter file.",
            registry=r,
        )
        letters.set_function(lambda: float(agent.outbox.dead_letters.records))
        self.unwritable = Counter(
            "villagewatch_edge_unwritable",
            "Measurements that could not be queued in the outbox (a full disk): lost.",
            lane,
            registry=r,
        )
        self.disk_errors = Counter(
            "villagewatch_edge_disk_errors",
            "Failed writes of the outbox (retried), by what: records, acknowledgements, status, "
            "dead letters.",
            ["what"],
            registry=r,
        )
        export_free_space(r, "edge", [agent.settings.outbox.path])
        trusted = Gauge(
            "villagewatch_edge_clock_trusted",
            "1 while the wall clock is trusted (0: readings wait, alarms leave centre-stamped).",
            registry=r,
        )
        trusted.set_function(lambda: float(agent.clock.trusted()))
        self.connects = Counter(
            "villagewatch_edge_connects",
            "Connections made to the broker (more than a few: the link flaps).",
            registry=r,
        )
        version = Gauge(
            "villagewatch_edge_config_version",
            "Version of the remote config running (-1: edge.yaml alone).",
            registry=r,
        )
        version.set_function(lambda: float(agent.applied.version if agent.applied else -1))
        connected = Gauge(
            "villagewatch_edge_connected", "1 while connected to the broker.", registry=r
        )
        connected.set_function(lambda: float(agent.link.connected.is_set()))
        self._agent = agent

    def refresh_drops(self) -> None:
        """Copy the outbox's drop counts."""
        for ln in Lane:
            self._dropped.labels(ln.name.lower()).set(self._agent.outbox.dropped[ln])


def _pending(agent: EdgeAgent, lane: Lane) -> float:
    return float(agent.outbox.stats()[lane].pending)


def _oldest(agent: EdgeAgent, lane: Lane) -> float:
    return agent.outbox.stats()[lane].oldest_s or 0.0
