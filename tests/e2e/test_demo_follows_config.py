"""`villagewatch demo --config DIR` follows an edit to a file in DIR while it runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from villagewatch.demo.run import DemoInfo, run_demo
from villagewatch_dev.servers import free_port

LOWERED = """\
    wl-sluice:
      level: {warning_cm: 1, hold_s: 0, blue_margin_cm: 0, deadband_cm: 0}
"""


async def until(probe: Any, what: str, within_s: float) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {within_s} s waiting for {what}")


def test_the_demo_from_a_config_folder_follows_an_edited_village_file(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    ready: list[DemoInfo] = []

    async def main() -> float:
        stop = asyncio.Event()
        demo = asyncio.create_task(
            run_demo(stop, api_port=free_port(), config_dir=folder, rate=20, view=False,
                     on_ready=ready.append)
        )  # fmt: skip
        try:
            await until(lambda: asyncio.sleep(0, ready), "the demo", 60)
            info = ready[0]
            async with httpx.AsyncClient(base_url=info.api_url, timeout=5) as api:
                login = {"user": info.user, "password": info.password}
                token = (await api.post("/api/auth/login", json=login)).json()["token"]
                api.headers["Authorization"] = f"Bearer {token}"

                async def sluice_read() -> bool:
                    devices = (await api.get("/api/devices")).json()
                    return any(d["id"] == "wl-sluice" and d.get("last") for d in devices)

                async def sluice_alert() -> bool:
                    alerts = (await api.get("/api/alerts")).json()
                    return any(a["subject"] == "wl-sluice" for a in alerts)

                await until(sluice_read, "a reading of the sluice gauge", 60)
                assert not await sluice_alert()
                village = folder / "dongcun.yaml"
                text = village.read_text(encoding="utf-8")
                village.write_text(
                    text.replace("  devices:\n", "  devices:\n" + LOWERED, 1), encoding="utf-8"
                )
                edited = time.monotonic()
                await until(sluice_alert, "the sluice alert after the edit", 15)
                return time.monotonic() - edited
        finally:
            stop.set()
            await demo

    took = asyncio.run(main())
    assert took < 15
