"""A service serves its own metrics and the shared ones (the SQLite files') on one port."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, Counter

from villagewatch.alerts import AlertDatabase
from villagewatch.alerts.metrics import AlertMetrics
from villagewatch.db.sqlite import SQLITE_METRICS
from villagewatch.runtime.metrics_http import joined, metrics_served
from villagewatch.runtime.ports import free_port


def test_joined_registries_are_served_together_as_alerts_run_does(tmp_path: Path) -> None:
    store = AlertDatabase(tmp_path / "alerts.db")
    metrics = AlertMetrics(store)
    port = free_port()
    with metrics_served(joined(metrics.registry, SQLITE_METRICS), port):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    store.close()
    assert "villagewatch_alerts_outbox_queued 0.0" in text
    assert "# TYPE villagewatch_sqlite_busy_total counter" in text


def test_a_joined_registry_shows_later_changes_of_its_parts() -> None:
    own = CollectorRegistry()
    hits = Counter("villagewatch_test_hits", "Hits.", registry=own)
    both = joined(own, SQLITE_METRICS)
    hits.inc(3)
    assert both.get_sample_value("villagewatch_test_hits_total") == 3
