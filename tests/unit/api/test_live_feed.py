"""The live feed goes on whatever one change does: an alert that cannot be read is counted,
logged once and left out; a poll that fails is retried; the poller never dies silently."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from villagewatch.alerts import Alert, AlertDatabase
from villagewatch.api.live import AlertFeed, FeedChange
from villagewatch.api.metrics import ApiMetrics
from villagewatch_dev.testing import fire_alert

_WAIT_S = 20  # bounds each wait for an event; never reached when the feed works


class _Poisoned(AlertDatabase):
    """An alert store one of whose alerts cannot be read (a row a newer version wrote, a
    bug): reading it raises, as often as it is read."""

    poisoned: set[int]
    broken_polls = 0

    def get(self, alert_id: int) -> Alert | None:
        if alert_id in self.poisoned:
            raise ValueError(f"'purple' is not a valid Severity (alert {alert_id})")
        return super().get(alert_id)

    def changes_since(self, audit_id: int, limit: int = 500) -> list[tuple[int, int]]:
        if self.broken_polls:
            self.broken_polls -= 1
            raise KeyError("a bug in the poll itself")
        return super().changes_since(audit_id, limit)


def _fire(store: AlertDatabase, subject: str) -> Alert:
    return fire_alert(store, village="v", subject=subject, kind="level")


async def _next(queue: asyncio.Queue[FeedChange | None]) -> FeedChange:
    got = await asyncio.wait_for(queue.get(), _WAIT_S)
    assert got is not None, "the feed was closed"
    return got


def test_an_alert_that_cannot_be_read_is_counted_logged_once_and_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _Poisoned(tmp_path / "alerts.db")
    store.poisoned = set()
    metrics = ApiMetrics()
    feed = AlertFeed(store, 0.01, metrics)

    async def main() -> list[int]:
        async with feed.subscribe() as queue:
            bad = _fire(store, "wl-bad")
            store.poisoned.add(bad.id)
            good = _fire(store, "wl-good")
            store.broken_polls = 3  # the poll itself fails a few times, then works again
            first = await _next(queue)
            bad_again = _fire(store, "wl-bad2")
            store.poisoned.add(bad_again.id)
            later = _fire(store, "wl-later")
            second = await _next(queue)
            assert first.alert is not None and second.alert is not None
            return [first.alert.id, second.alert.id, good.id, later.id]

    with caplog.at_level(logging.WARNING, logger="villagewatch.api.live"):
        got_first, got_second, good, later = asyncio.run(main())
    assert (got_first, got_second) == (good, later)
    skipped = metrics.registry.get_sample_value(
        "villagewatch_api_feed_skipped_total", {"reason": "ValueError"}
    )
    assert skipped == 2
    failed = metrics.registry.get_sample_value(
        "villagewatch_api_feed_failures_total", {"reason": "KeyError"}
    )
    assert failed == 3
    said = [r.getMessage() for r in caplog.records]
    assert sum("left out" in m for m in said) == 1, said
    assert sum("KeyError" in m for m in said) == 1, said
    store.close()
