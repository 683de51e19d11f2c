"""Benchmark of the alert engine (prints figures; not a test).

throughput — transitions applied to the SQLite alert store with routing and the
  notification outbox, the way `villagewatch alerts run` applies detect's
  records: batches of 500 in one transaction (and, for comparison, one
  transaction each). 2,000 devices in 20 grids, each grid's team with a
  channel; fire → update → clear cycles. One thread.

storm — 10,000 transitions within one minute across 20 places (grids), three
  kinds, on a controlled clock: each simulated second the engine applies that
  second's transitions, ticks, and the sender delivers to a real HTTP server
  on loopback (one webhook channel per place). Counts the messages per team
  (channel), kind and event within any group window (target: at most 1).

    .venv/bin/python bench/alerts.py
    .venv/bin/python bench/alerts.py --only storm
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx

from villagewatch.alerts import AlertDatabase, AlertPolicy
from villagewatch.alerts.channels import build_channel
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.routing import Router
from villagewatch.alerts.sender import NotificationSender
from villagewatch.config import AlertsSettings, Village
from villagewatch.config.teams import ChannelSettings, WebhookChannel
from villagewatch.transitions import AlertKey, Severity, Transition

PLACES = 20
DEVICES = 2000
T0 = 1_795_000_000_000


def setup(directory: Path, port: int) -> tuple[AlertDatabase, AlertsSettings]:
    village = Village.model_validate(
        {
            "id": "v", "name": "bench", "town": "t",
            "grids": [{"id": f"g{p}", "name": f"grid {p}", "team": {"channels": [f"c{p}"]}}
                      for p in range(PLACES)],
            "devices": [{"id": f"d{i}", "kind": "water_level", "grid": f"g{i % PLACES}"}
                        for i in range(DEVICES)],
        }
    )  # fmt: skip
    channels: dict[str, ChannelSettings] = {
        f"c{p}": WebhookChannel.model_validate(
            {"kind": "webhook", "url": f"http://127.0.0.1:{port}/c{p}", "rate_per_minute": 6000}
        )
        for p in range(PLACES)
    }
    settings = AlertsSettings(channels=channels)
    notifier = Notifier(Router([village], {}), settings)
    return AlertDatabase(directory / "alerts.db", notifier=notifier), settings


def transition(i: int, at_ms: int, kinds: int = 1) -> Transition:
    """The i-th of fire → update → clear cycles over the devices."""
    device, cycle = i % DEVICES, i // DEVICES
    action: Literal["fire", "update", "clear"] = ("fire", "update", "clear")[cycle % 3]
    severity = (Severity.YELLOW, Severity.ORANGE, Severity.ORANGE)[cycle % 3]
    kind = ("level", "rise", "flat")[(i // DEVICES // 3) % kinds] if kinds > 1 else "level"
    key = AlertKey("water_level", "v", f"d{device}", kind)
    return Transition(key, action, severity, at_ms, f"d{device} {kind} {severity}")


def run_throughput(count: int) -> None:
    policy = AlertPolicy(flap_count=4, flap_window_s=600)
    print(f"throughput: {count:,} transitions, {DEVICES:,} devices in {PLACES} places")
    for batch in (500, 1):
        n = count if batch > 1 else count // 10
        with tempfile.TemporaryDirectory(prefix="vw-bench-alerts-") as tmp:
            store, _ = setup(Path(tmp), 9)
            items = [(transition(i, T0 + i), f"t{i}", policy) for i in range(n)]
            t0, cpu0 = time.perf_counter(), time.process_time()
            for start in range(0, n, batch):
                store.apply_many(items[start : start + batch], T0 + start)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            queued = len(store.notifications())
            store.close()
        print(
            f"  batches of {batch:<4} {n / wall:>8,.0f} transitions/s  ({n / cpu:,.0f} per CPU-second,"
            f" {n:,} in {wall:.2f} s; {queued:,} notifications decided)"
        )


class _Inbox(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[str, dict[str, Any], float]]] = []
    clock: ClassVar[list[float]] = [0.0]
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with self.lock:
            self.got.append((self.path, body, self.clock[0]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def run_storm(count: int, seconds: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    policy = AlertPolicy(flap_count=4, flap_window_s=600)
    with tempfile.TemporaryDirectory(prefix="vw-bench-alerts-") as tmp:
        store, settings = setup(Path(tmp), port)
        now = [T0]
        _Inbox.clock[0] = T0 / 1000
        per_second = count // seconds
        started = time.perf_counter()

        async def go() -> None:
            async with httpx.AsyncClient() as client:
                channels = {
                    c: build_channel(c, cfg, client) for c, cfg in settings.channels.items()
                }
                sender = NotificationSender(store=store, channels=channels, now_ms=lambda: now[0],
                                monotonic=lambda: now[0] / 1000)  # fmt: skip
                i = 0
                for second in range(seconds + 600):  # the storm, then ten quiet minutes
                    if second < seconds:
                        batch = [(transition(i + k, now[0], kinds=3), f"s{i + k}", policy)
                                 for k in range(per_second)]  # fmt: skip
                        i += per_second
                        await asyncio.to_thread(store.apply_many, batch, now[0])
                    await asyncio.to_thread(store.tick, now[0])
                    await sender.send_due()
                    now[0] += 1000
                    _Inbox.clock[0] = now[0] / 1000

        asyncio.run(go())
        elapsed = time.perf_counter() - started
        opened = len(store.recent(10**6))
        left = sum(len(g) for g in store.due_notifications(now[0] + 10**9))
        store.close()
    server.shutdown()
    window = settings.group_wait_s
    by_group: dict[tuple[str, str], list[float]] = defaultdict(list)
    for path, body, at in _Inbox.got:
        by_group[(path, body["title"].split(" — ")[0].split(": ", 1)[-1])].append(at)
    worst = max(
        sum(1 for u in times if t - window < u <= t) for times in by_group.values() for t in times
    )
    print(
        f"storm: {count:,} transitions in {seconds} s across {PLACES} places, 3 kinds "
        f"({opened:,} alerts); {len(_Inbox.got):,} messages sent, {left} left queued; "
        f"most per team, kind and event in any {window:.0f} s window: {worst} "
        f"(run took {elapsed:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["throughput", "storm"])
    parser.add_argument(
        "--count", type=int, default=30_000, help="transitions in the throughput run"
    )
    args = parser.parse_args()
    if args.only != "storm":
        run_throughput(args.count)
    if args.only != "throughput":
        run_storm(10_000, 60)


if __name__ == "__main__":
    main()
