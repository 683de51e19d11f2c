"""Ctrl-C on `villagewatch demo` with a console's live stream open: it stops without a
traceback, says what became of its data, and starts again on the same port at once (its
connections in TIME_WAIT do not make the port "already in use")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.e2e.test_demo import login_banner, wait_for
from villagewatch_dev.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def _demo(port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "villagewatch", "demo", "--no-view", "--api-port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )  # fmt: skip


def _login(base: str, log: Path) -> dict[str, str]:
    user, password = login_banner(log)
    reply = httpx.post(f"{base}/api/auth/login", json={"user": user, "password": password})
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_ctrl_c_with_a_console_open_stops_cleanly_and_the_demo_starts_again(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first_log = tmp_path / "first.log"
    first = _demo(port, first_log)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(f"{base}/healthz", lambda r: True, 90)
        auth = _login(base, first_log)
        streamed: list[str] = []

        def listen() -> None:  # a console's live feed, held open as a browser does
            # no read timeout: the stream is quiet between keepalives; its end is the test
            with httpx.stream(
                "GET", f"{base}/api/alerts/stream", headers=auth, timeout=httpx.Timeout(5, read=60)
            ) as r:
                streamed.extend(r.iter_lines())

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        deadline = time.monotonic() + 10
        while not any("hello" in line for line in streamed) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert streamed, "the live stream opened"
        stopping = time.monotonic()
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 0
        took = time.monotonic() - stopping
        listener.join(timeout=5)
        text = first_log.read_text()
        assert "Traceback" not in text, text
        assert "timeout graceful shutdown exceeded" not in text, text
        assert "a temporary folder: deleted when the demo stops; --data DIR keeps it" in text
        assert "villagewatch demo stopped; deleted its temporary data in" in text
        assert not listener.is_alive(), "the stream ended when the API stopped"
        assert took < 30, took

        second_log = tmp_path / "second.log"
        second = _demo(port, second_log)  # at once: the first's connections are in TIME_WAIT
        wait_for(f"{base}/healthz", lambda r: True, 90)
        assert "already in use" not in second_log.read_text()
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
