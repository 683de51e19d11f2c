"""How long from an alert's transition to an open console showing it, and how the
command-centre wall (big-screen mode) holds up.

A real ``villagewatch api`` (default settings: live_poll_s 0.2) over a copy of
the demo village. Alerts are raised into its alert store the way the alert
engine raises them, at random moments so they fall anywhere in the poll cycle;
the time until (1) the live stream delivers it and (2) Debian's Chromium, with
the console open and logged in, shows it in the feed. The alert engine's own
poll (``alerts.poll_s``, 0.2 s) comes on top in a deployment.

Then the wall (``bench/wallload.py``): with the demo village and generated ones making
2,000 devices and 500 open alerts, a 1920x1080 Chromium tab opens ``/console/?big=1``:
the time from navigation to the wall's first frame with its figures (the page's
``wall-ready`` mark), and the frame times (requestAnimationFrame intervals, and the
Long Animation Frames API) while 20 alerts a second arrive. Figures only: nothing asserts.

    .venv/bin/python bench/console.py [--alerts 30] [--wall-seconds 15]
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from villagewatch.alerts import AlertDatabase
from villagewatch.alerts.engine import notifier_for
from villagewatch.config import load_deployment
from villagewatch.runtime.ports import free_port
from villagewatch_dev.testing import fire_alert
from wallload import (
    CHROMIUM_ARGS,
    measure_wall,
    write_villages,
)  # beside this script, on its sys.path

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway user of a throwaway API


def figures(name: str, ms: list[float]) -> str:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"{name}: {len(ms)} alerts, median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms,"
        f" max {max(ms):.0f} ms"
    )


def stream_ids(
    base: str, token: str, out: queue.Queue[tuple[float, int]], stop: threading.Event
) -> None:
    """Read the live stream; put (arrival time, alert id) for each alert event."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream("GET", f"{base}/api/alerts/stream", headers=headers, timeout=None) as r:  # noqa: S113 - a stream
        event = ""
        for line in r.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "alert":
                out.put((time.perf_counter(), int(json.loads(line[6:])["id"])))


def settings_text(port: int, villages: list[str]) -> str:
    """The bench deployment's settings over these village files."""
    return (
        f"store: {{kind: sqlite, path: readings.db}}\napi: {{port: {port}}}\n"
        f"villages: [{', '.join(villages)}]\n"
    )


def start_api(exe: str, settings: Path, base: str) -> subprocess.Popen[bytes]:
    """``villagewatch api`` over ``settings``, once /healthz answers."""
    api = subprocess.Popen(
        [exe, "api", "-c", str(settings), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=30)
    parser.add_argument("--wall-seconds", type=float, default=15)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vw-bench-console-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    shutil.copy(REPO / "config/demo/dongcun.yaml", root / "dongcun.yaml")
    settings = root / "settings.yaml"
    settings.write_text(settings_text(port, ["dongcun.yaml"]))
    exe = str(Path(sys.executable).parent / "villagewatch")
    subprocess.run(
        [exe, "users", "add", "-c", str(settings), "bench", "--role", "operator", "--place", "*",
         "--password-stdin"],
        input=PASSWORD.encode(), check=True, capture_output=True,
    )  # fmt: skip
    api = start_api(exe, settings, base)
    deployment = load_deployment(settings)
    store = AlertDatabase(deployment.settings.alerts.state_path, notifier=notifier_for(deployment))
    try:
        login = httpx.post(f"{base}/api/auth/login", json={"user": "bench", "password": PASSWORD})
        token = login.json()["token"]
        devices = ["wl-bridge", "wl-sluice", "rain-north", "sos-square", "lock-a01", "lock-b02"]

        arrivals: queue.Queue[tuple[float, int]] = queue.Queue()
        stop = threading.Event()
        reader = threading.Thread(
            target=stream_ids, args=(base, token, arrivals, stop), daemon=True
        )
        reader.start()
        time.sleep(1)
        sse: list[float] = []
        for i in range(args.alerts):
            time.sleep(random.uniform(0.05, 0.5))
            t0 = time.perf_counter()
            alert = fire_alert(store, village="dongcun", subject=devices[i % len(devices)],
                               kind=f"bench{i}", severity="orange", message=f"bench {i}")  # fmt: skip
            while True:
                at, got = arrivals.get(timeout=10)
                if got == alert.id:
                    sse.append((at - t0) * 1000)
                    break
        stop.set()
        print(f"console latency benchmark, {time.strftime('%Y-%m-%d')}, api.live_poll_s 0.2")
        print(figures("live stream (SSE) from transition to event", sse))

        from playwright.sync_api import sync_playwright

        browser_ms: list[float] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{base}/console/")
            page.get_by_test_id("login-user").fill("bench")
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            page.get_by_test_id("feed").wait_for()
            time.sleep(1)
            for i in range(args.alerts):
                time.sleep(random.uniform(0.05, 0.5))
                t0 = time.perf_counter()
                alert = fire_alert(store, village="dongcun", subject=devices[i % len(devices)],
                                   kind=f"web{i}", severity="red", message=f"browser {i}")  # fmt: skip
                page.wait_for_selector(
                    f'[data-testid="feed-item"][data-alert-id="{alert.id}"]', timeout=10_000
                )
                browser_ms.append((time.perf_counter() - t0) * 1000)
            browser.close()
        print(figures("console in Chromium from transition to the feed", browser_ms))

        # the wall: the same store and users, and villages that make 2,000 devices
        api.terminate()
        api.wait(timeout=30)
        store.close()
        settings.write_text(settings_text(port, ["dongcun.yaml", *write_villages(root, 1975)]))
        deployment = load_deployment(settings)
        store = AlertDatabase(
            deployment.settings.alerts.state_path, notifier=notifier_for(deployment)
        )
        api = start_api(exe, settings, base)
        measure_wall(base, "bench", PASSWORD, store, deployment, seconds=args.wall_seconds)
    finally:
        store.close()
        api.terminate()
        api.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
