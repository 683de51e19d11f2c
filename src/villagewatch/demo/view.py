"""The demo's live terminal view: what the ingester received, stored and rejected, per second."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.live import Live
from rich.table import Table

from villagewatch.contract import RejectReason
from villagewatch.ingest import IngestMetrics
from villagewatch.runtime.waiting import sleep_or_stop

__all__ = ["LiveView"]

_ROWS = (
    ("received", "villagewatch_ingest_messages_received_total"),
    ("readings stored", "villagewatch_ingest_readings_stored_total"),
    ("events stored", "villagewatch_ingest_events_stored_total"),
    ("duplicates", "villagewatch_ingest_duplicates_total"),
)


class LiveView:
    """Redraws a small table once a second until stopped."""

    def __init__(
        self, metrics: IngestMetrics, *, header: str, console: Console | None = None
    ) -> None:
        self._metrics = metrics
        self._header = header
        self._console = console or Console()

    def _rejected(self) -> float:
        return sum(
            self._metrics.value("villagewatch_ingest_rejected_total", {"reason": r.value})
            for r in RejectReason
        )

    def _snapshot(self) -> dict[str, float]:
        values = {label: self._metrics.value(name) for label, name in _ROWS}
        values["rejected"] = self._rejected()
        values["acks pending"] = self._metrics.value("villagewatch_ingest_acks_pending")
        return values

    def _table(self, now: dict[str, float], before: dict[str, float]) -> Table:
        table = Table(title=self._header, title_justify="left")
        table.add_column("")
        table.add_column("per second", justify="right")
        table.add_column("total", justify="right")
        for label, value in now.items():
            rate = "" if label == "acks pending" else f"{value - before.get(label, 0):,.0f}"
            table.add_row(label, rate, f"{value:,.0f}")
        return table

    async def run(self, stop: asyncio.Event) -> None:
        """Redraw every second until ``stop`` is set."""
        before = self._snapshot()
        with Live(self._table(before, before), console=self._console, refresh_per_second=4) as live:
            while not stop.is_set():
                await sleep_or_stop(stop, 1.0)
                now = self._snapshot()
                live.update(self._table(now, before))
                before = now
