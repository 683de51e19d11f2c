"""`villagewatch demo` in a fresh virtualenv, with no mosquitto or influxd reachable: it serves
/healthz, /metrics, the console and (to its operator) readings, and Ctrl-C stops it with
everything published in its database."""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from villagewatch_dev.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def login_banner(log: Path, timeout: float = 60) -> tuple[str, str]:
    """The user and password the demo printed in ``log``: its banner comes once every part
    has started, which may be after the API already answers /healthz."""
    deadline = time.monotonic() + timeout
    while not (said := re.search(r"user (\S+)  password (\S+)", log.read_text())):
        assert time.monotonic() < deadline, f"the demo prints how to log in:\n{log.read_text()}"
        time.sleep(0.1)
    return said.group(1), said.group(2)


def wait_for(
    url: str, check: object, timeout: float, headers: dict[str, str] | None = None
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(url, timeout=2, headers=headers)
            if reply.status_code == 200 and check(reply):  # type: ignore[operator]
                return reply
            last = reply.text[:300]
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready after {timeout} s: {last}")


def test_demo_in_a_fresh_virtualenv_without_servers(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(REPO)],
        check=True, timeout=900,
    )  # fmt: skip
    path = str(venv / "bin")  # nothing else on PATH: no mosquitto, no influxd
    assert (
        shutil.which("mosquitto", path=path) is None and shutil.which("influxd", path=path) is None
    )
    port = free_port()
    data = tmp_path / "data"
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [str(venv / "bin" / "villagewatch"), "demo", "--no-view", "--api-port", str(port), "--data", str(data), "--log-level", "info"],
        env={"PATH": path, "HOME": str(tmp_path), "LANG": "C.UTF-8"},
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(f"{base}/healthz", lambda r: True, 60).json() == {"status": "ok"}
        console = httpx.get(f"{base}/", follow_redirects=True)
        assert console.status_code == 200 and "<html" in console.text.lower()
        assert httpx.get(f"{base}/api/devices").status_code == 401
        docs = httpx.get(f"{base}/docs", follow_redirects=True)  # Swagger UI in the wheel
        assert docs.status_code == 200 and "swagger-ui/swagger-ui-bundle.js" in docs.text
        for asset in ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css", "start.js"):
            assert httpx.get(f"{base}/docs/{asset}").status_code == 200, asset
        user, password = login_banner(tmp_path / "demo.log")
        login = httpx.post(f"{base}/api/auth/login", json={"user": user, "password": password})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['token']}"}
        readings = wait_for(
            f"{base}/api/readings?device=wl-bridge&buckets=10", lambda r: r.json()["buckets"], 60,
            headers=auth,
        ).json()  # fmt: skip
        assert readings["metric"] == "level_cm" and readings["buckets"][0]["count"] >= 1
        metrics = wait_for(
            f"{base}/metrics", lambda r: "villagewatch_ingest_readings_stored_total" in r.text, 10
        ).text
        stored = re.search(
            r"^villagewatch_ingest_readings_stored_total (\S+)$", metrics, re.MULTILINE
        )
        assert stored is not None and float(stored.group(1)) > 0
        devices = httpx.get(f"{base}/api/devices", headers=auth).json()
        assert any(d["id"] == "wl-bridge" and "level_cm" in d["last"] for d in devices)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert code == 0, output
    published = re.search(r"Demo stopped: (\d+) messages published, (\d+) acknowledged", output)
    assert published, output
    with sqlite3.connect(data / "villagewatch.db") as conn:
        items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    assert items == int(published.group(1)) == int(published.group(2)), (
        "Ctrl-C flushed everything published"
    )
