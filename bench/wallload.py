"""The wall's part of ``bench/console.py``: villages generated to make 2,000 devices, 500 open
alerts, then in Chromium at 1920x1080 the time to the wall's first frame and the frame times
while 20 alerts a second arrive. Prints figures; asserts nothing."""

from __future__ import annotations

import random
import statistics
import threading
import time
from pathlib import Path

from villagewatch.alerts import AlertDatabase
from villagewatch.config import Deployment
from villagewatch_dev.testing import fire_alert

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
KINDS = [("sos", "call_button"), ("forced_open", "smart_lock"), ("battery", "smart_lock"),
         ("tamper", "smart_lock"), ("offline", "heartbeat")]  # fmt: skip
SEVERITIES = ["red", "orange", "orange", "yellow", "yellow", "blue", "blue", "info"]
RATE = 20

RECORD = """() => {
  window.__frames = []; window.__loaf = []; window.__recording = true;
  let last = performance.now();
  const tick = (now) => {
    window.__frames.push(now - last); last = now;
    if (window.__recording) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__loaf.push(e.duration);
    }).observe({ type: 'long-animation-frame' });
  } catch { window.__loaf = null; }
}"""

SHOWN = """() => [...document.querySelectorAll('[data-testid^="wall-open-"]')]
  .reduce((n, el) => n + Number(el.dataset.count), 0)"""


def write_villages(root: Path, devices: int, villages: int = 5) -> list[str]:
    """Village files in ``root`` (bench1.yaml …) with ``devices`` call buttons and locks between
    them, in the demo's town; their names."""
    names = []
    for v in range(villages):
        count = devices // villages + (1 if v < devices % villages else 0)
        lines = [
            f"id: bench{v + 1}", f"name: 测试村{v + 1}", "town: qiaotou", "town_name: 桥头镇",
            "grids:", *(f"  - {{id: g{g}, name: 第{g}网格}}" for g in range(1, 5)), "devices:",
        ]  # fmt: skip
        for d in range(count):
            kind = "call_button" if d % 10 == 0 else "smart_lock"
            x, y = 0.03 + 0.94 * (d % 40) / 39, 0.03 + 0.94 * (d // 40) / max(1, count // 40)
            lines.append(
                f"  - {{id: dev-{d:04d}, kind: {kind}, grid: g{d % 4 + 1}, name: 设备 {d},"
                f" position: {{x: {x:.3f}, y: {min(y, 0.97):.3f}}}, interval_s: 3600}}"
            )
        name = f"bench{v + 1}.yaml"
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        names.append(name)
    return names


def _fire(store: AlertDatabase, village: str, device: str, n: int, at_ms: int) -> None:
    kind, detector = KINDS[n % len(KINDS)]
    # a subject of its own (device:zone, as a camera's): a device picked twice is a new alert
    fire_alert(store, village=village, subject=f"{device}:b{n}", kind=kind, detector=detector,
               severity=random.choice(SEVERITIES), message=f"bench {n}", at_ms=at_ms)  # fmt: skip


def _devices(deployment: Deployment) -> list[tuple[str, str]]:
    return [(v.id, d.id) for v in deployment.villages for d in v.devices]


def raise_open(store: AlertDatabase, deployment: Deployment, count: int) -> None:
    """``count`` open alerts on distinct devices, fired over the last 20 hours."""
    now = time.time_ns() // 1_000_000
    for n, (village, device) in enumerate(random.sample(_devices(deployment), count)):
        _fire(store, village, device, n, now - random.randint(0, 20 * 3_600_000))


def _stats(name: str, ms: list[float]) -> str:
    if not ms:
        return f"{name}: none"
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"{name}: {len(ms)}, median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms,"
        f" max {max(ms):.1f} ms"
    )


def measure_wall(
    base: str,
    user: str,
    password: str,
    store: AlertDatabase,
    deployment: Deployment,
    *,
    seconds: float,
) -> None:
    """Raise 500 open alerts, open the wall three times (first frame), then record frames
    while ``RATE`` alerts a second arrive for ``seconds``; print the figures."""
    from playwright.sync_api import sync_playwright

    raise_open(store, deployment, 500)
    devices = len(_devices(deployment))
    print(f"wall: {devices} devices in {len(deployment.villages)} villages, "
          f"{len(store.open_alerts())} open alerts, 1920x1080")  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{base}/console/")
        page.get_by_test_id("login-user").fill(user)
        page.get_by_test_id("login-password").fill(password)
        page.get_by_test_id("login-submit").click()
        page.wait_for_selector('[data-testid="live-indicator"][data-status="live"]')
        ready: list[float] = []
        for _ in range(3):
            page.goto(f"{base}/console/?big=1")  # the session is kept in the tab
            page.wait_for_selector('[data-testid="wall-tiles"][data-ready="true"]', timeout=30_000)
            ready.append(page.evaluate("performance.getEntriesByName('wall-ready')[0].startTime"))
        print(
            "wall first frame with its figures, from navigation: "
            + ", ".join(f"{ms:.0f} ms" for ms in ready)
        )
        page.wait_for_selector('[data-testid="live-indicator"][data-status="live"]')
        page.wait_for_selector("#wall-daily canvas")
        time.sleep(2)

        pool = _devices(deployment)
        stop = threading.Event()

        def arrive() -> None:
            start = time.perf_counter()
            for n in range(int(seconds * RATE)):
                time.sleep(max(0.0, start + n / RATE - time.perf_counter()))
                if stop.is_set():
                    return
                village, device = random.choice(pool)
                _fire(store, village, device, 1000 + n, time.time_ns() // 1_000_000)

        page.evaluate(RECORD)
        sender = threading.Thread(target=arrive, daemon=True)
        sender.start()
        sender.join(timeout=seconds + 60)
        stop.set()
        time.sleep(1.5)  # the last ones through the stream
        frames = page.evaluate("() => { window.__recording = false; return window.__frames; }")
        loaf = page.evaluate("() => window.__loaf")
        shown, open_now = page.evaluate(SHOWN), len(store.open_alerts())
        browser.close()
    print(f"wall under {RATE} alerts/s for {seconds:.0f} s:")
    print("  " + _stats("frame time (requestAnimationFrame intervals)", frames[1:]))
    slow = sum(1 for ms in frames if ms > 50)
    print(f"  frames over 50 ms: {slow} of {len(frames)}")
    print("  " + (_stats("long animation frames (>50 ms of work)", loaf) if loaf is not None
                  else "long animation frames: not reported by this Chromium"))  # fmt: skip
    print(f"  open alerts on the tiles at the end: {shown} (store: {open_now})")
