"""A deployment of the demo village in a temp dir with a running ``villagewatch api`` (for the
browser tests and the live-feed tests): users made with the CLI, readings written to its SQLite
store, alerts raised into its alert store as the alert engine raises them."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import httpx

from villagewatch.alerts import AlertDatabase
from villagewatch.alerts.engine import notifier_for
from villagewatch.alerts.lifecycle import Alert
from villagewatch.config import Deployment, load_deployment
from villagewatch.contract import Clock, Reading
from villagewatch.db.configured import alerts_location
from villagewatch.runtime.ports import free_port
from villagewatch.store import Batch, RelationalStore
from villagewatch_dev.testing import TINY_JPEG, fire_alert

REPO = Path(__file__).resolve().parents[1]
VILLAGEWATCH = Path(sys.executable).parent / "villagewatch"
USERS = {
    "op": ("operator", "op-password-1", "*"),
    "viewer": ("viewer", "viewer-password-1", "*"),
    "maint": ("maintainer", "maint-password-1", "*"),
    "g3": ("viewer", "g3-password-1", "grid:dongcun/g3"),
}
"""Who can log in: name -> (role, password, the place they see)."""

_MINUTE_NS = 60 * 1_000_000_000


class ApiDeployment:
    """The files, users, stores and API process of one test deployment under ``root``."""

    def __init__(self, root: Path, *, relational: str = "", users: bool = True) -> None:
        """``relational``: a settings line for the relational stores (PostgreSQL: a second
        node of the same deployment); ``users``: add the users of :data:`USERS` (not again
        on a second node: they are shared)."""
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        shutil.copy(REPO / "config" / "demo" / "dongcun.yaml", root / "dongcun.yaml")
        self.settings_path = root / "settings.yaml"
        self.settings_path.write_text(
            "store: {kind: sqlite, path: readings.db}\n"
            f"api: {{host: 127.0.0.1, port: {self.port}, live_poll_s: 0.1}}\n"
            "villages: [dongcun.yaml]\n"
            f"{relational}\n"
        )
        self.deployment: Deployment = load_deployment(self.settings_path)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.alerts = AlertDatabase(
            alerts_location(self.deployment.settings), notifier=notifier_for(self.deployment)
        )
        for name, (role, password, place) in USERS.items() if users else ():
            subprocess.run(
                [str(VILLAGEWATCH), "users", "add", "-c", str(self.settings_path), name,
                 "--role", role, "--place", place, "--password-stdin"],
                input=f"{password}\n".encode(), check=True, capture_output=True, timeout=60,
            )  # fmt: skip

    @property
    def evidence_dir(self) -> Path:
        """Where the API looks for evidence pictures (``ingest.evidence_dir``)."""
        return self.deployment.settings.ingest.evidence_dir

    # --- the API process -----------------------------------------------------------------

    def start(self) -> None:
        """Start ``villagewatch api`` and wait until /healthz answers."""
        self._log = (self.root / "api.log").open("ab")
        self.proc = subprocess.Popen(
            [str(VILLAGEWATCH), "api", "-c", str(self.settings_path), "--log-level", "warning"],
            cwd=self.root, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"villagewatch api exited {self.proc.returncode}:\n{self.log()}"
                )
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"villagewatch api not answering after 30 s:\n{self.log()}")

    def stop(self, grace_s: float = 10) -> None:
        """Stop the API: terminate, then kill if it lingers ``grace_s``."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop the API and close the alert store."""
        self.stop()
        self.alerts.close()

    def log(self) -> str:
        """What the API process printed."""
        path = self.root / "api.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- data ------------------------------------------------------------------------------

    def raise_alert(self, **kwargs: Any) -> Alert:
        """Fire an alert in village dongcun as a detector would (see ``fire_alert``)."""
        kwargs.setdefault("village", "dongcun")
        return fire_alert(self.alerts, **kwargs)

    def add_evidence(self, device: str, evidence_id: str, picture: bytes = TINY_JPEG) -> Path:
        """Put an evidence picture where ingest would have stored it."""
        path = self.evidence_dir / "dongcun" / device / f"{evidence_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(picture)
        return path

    def token(self, user: str) -> str:
        """A session token of ``user``."""
        reply = httpx.post(
            f"{self.base}/api/auth/login", json={"user": user, "password": USERS[user][1]}
        )
        reply.raise_for_status()
        token = reply.json()["token"]
        assert isinstance(token, str)
        return token

    def write_readings(self) -> None:
        """Seven hours of readings: the bridge gauge rising into a flood, the others steady;
        the south rain gauge went quiet hours ago and a few locks were never heard from."""
        now = time.time_ns()
        readings: list[Reading] = []

        def add(device: str, grid: str, kind: str, at_ns: int, values: dict[str, float]) -> None:
            readings.append(
                Reading(
                    village="dongcun", grid=grid, device=device, kind=kind, time_ns=at_ns,
                    seq=len(readings), boot="test", values=values, clock=Clock.SYNCED,
                    historical=False, rescued=False, device_ts_ms=at_ns // 1_000_000,
                )
            )  # fmt: skip

        for i in range(210):  # every 2 minutes
            at = now - (210 - i) * 2 * _MINUTE_NS + _MINUTE_NS
            rise = max(0.0, (i - 170) / 40) * 135
            wobble = 3 * ((i * 7919) % 11 - 5) / 5
            add("wl-bridge", "g1-bridge", "water_level", at,
                {"level_cm": 82 + rise + wobble, "battery": 88 - i / 100})  # fmt: skip
            add("wl-sluice", "g1", "water_level", at, {"level_cm": 61 + wobble / 2, "battery": 93})
        recent = now - _MINUTE_NS
        add("rain-north", "g1", "rain_gauge", recent, {"mm": 7.5, "battery": 76})
        add("rain-south", "g3", "rain_gauge", now - 180 * _MINUTE_NS, {"mm": 2.0, "battery": 9})
        add("cam-bridge", "g1-bridge", "camera", recent, {"fps": 12, "level_cm": 214})
        add("cam-market", "g2", "camera", recent, {"fps": 15, "free_spaces": 6})
        for sos, grid in (("sos-square", "g2"), ("sos-elder-home", "g2"), ("sos-school", "g1")):
            add(sos, grid, "call_button", recent, {"battery": 97})
        for n in range(1, 7):
            add(f"lock-a0{n}", "g3-a", "smart_lock", recent, {"battery": 64 + n})
            add(f"lock-b0{n}", "g3-b", "smart_lock", recent, {"battery": 15 if n == 3 else 70})

        async def write() -> None:
            store = RelationalStore(self.root / "readings.db")
            try:
                await store.write(Batch(readings=readings))
            finally:
                await store.close()

        # A thread of its own: sync Playwright keeps an event loop running on this one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(lambda: asyncio.run(write())).result()

    def upload_plan(self, picture: bytes) -> None:
        """Upload the village plan as the maintainer."""
        reply = httpx.put(
            f"{self.base}/api/villages/dongcun/plan",
            content=picture,
            headers={
                "Authorization": f"Bearer {self.token('maint')}",
                "Content-Type": "application/octet-stream",
            },
        )
        assert reply.status_code == 204, reply.text


@contextlib.contextmanager
def running_api(root: Path, *, readings: bool = True) -> Iterator[ApiDeployment]:
    """A deployment under ``root`` with its API started (and 7 h of readings); closed after."""
    deployment = ApiDeployment(root)
    try:
        if readings:
            deployment.write_readings()
        deployment.start()
        yield deployment
    finally:
        deployment.close()


def plan_png(width: int = 960, height: int = 600) -> bytes:
    """A plain village plan as a PNG: fields, a river along the north edge, two roads."""
    field, river, road, block = b"\xe8\xe2\xd2", b"\x8c\xb8\xdc", b"\xc9\xc2\xb2", b"\xd6\xcd\xb8"
    rows = []
    for y in range(height):
        fy = y / height
        if 0.04 <= fy <= 0.11:
            row = river * width
        elif 0.46 <= fy <= 0.50:
            row = road * width
        else:
            base = field if fy < 0.6 else block
            x0, x1 = int(0.56 * width), int(0.59 * width)
            row = base * x0 + road * (x1 - x0) + base * (width - x1)
        rows.append(b"\x00" + row)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + chunk(b"IEND", b"")
    )
