"""The serial-line driver: parsing lines, and the driver against a real pty."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.unit.edge.drivers.helpers import until
from villagewatch.edge.drivers import SerialLineConfig
from villagewatch.edge.drivers.serialline import SerialLineWaterLevel, parse_line
from villagewatch.edge.measurement import Measurement

DEFAULT = re.compile(SerialLineConfig.model_fields["pattern"].default)
DIST = re.compile(r"DIST:(?P<value>\d+)mm")
ANY = re.compile(r"(?P<value>\S+)")


@pytest.mark.parametrize(
    ("line", "pattern", "scale", "offset", "level"),
    [
        pytest.param(b"L=123.4cm\r\n", DEFAULT, 1.0, 0.0, 123.4, id="first-number-on-the-line"),
        pytest.param(b"+0123.4\n", DEFAULT, 1.0, 0.0, 123.4, id="signed-zero-padded"),
        pytest.param(b"-5\n", DEFAULT, 1.0, 0.0, -5.0, id="negative"),
        pytest.param(b"1234\n", DEFAULT, 0.1, 10.0, 133.4, id="scale-and-offset"),
        pytest.param(b"DIST:1500mm\n", DIST, 0.1, 0.0, 150.0, id="custom-pattern-mm-to-cm"),
        pytest.param(b"TEMP:21\n", DIST, 0.1, 0.0, None, id="custom-pattern-other-line"),
        pytest.param(b"ERR\n", DEFAULT, 1.0, 0.0, None, id="no-number"),
        pytest.param(b"\xff\xfe\n", DEFAULT, 1.0, 0.0, None, id="binary-noise"),
        pytest.param(b"nan\n", ANY, 1.0, 0.0, None, id="nan-is-not-a-level"),
        pytest.param(b"inf\n", ANY, 1.0, 0.0, None, id="infinity-is-not-a-level"),
        pytest.param(b"12abc\n", ANY, 1.0, 0.0, None, id="value-group-not-a-number"),
    ],
)
def test_parse_line(
    line: bytes, pattern: re.Pattern[str], scale: float, offset: float, level: float | None
) -> None:
    got = parse_line(line, pattern, scale, offset)
    assert got == (pytest.approx(level) if level is not None else None)


def test_serial_driver_reads_a_pty_joins_split_lines_and_reports_malformed_ones_once_a_minute(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    master, slave = os.openpty()
    now = [1000.0]
    cfg = SerialLineConfig(driver="serial_line", device="wl-1", port=os.ttyname(slave), offset=0.5)
    drv = SerialLineWaterLevel(cfg, clock=lambda: now[0])
    opened = threading.Event()
    real_open = drv._open

    def open_and_tell() -> Any:
        port = real_open()
        opened.set()
        return port

    monkeypatch.setattr(drv, "_open", open_and_tell)
    got: list[Measurement] = []
    caplog.set_level(logging.WARNING)

    def malformed_reports() -> int:
        return sum("malformed" in r.getMessage() for r in caplog.records)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(drv.run(got.append, stop))
        await until(opened.is_set, what="the port open")
        os.write(master, b"L=101.0\r\nbogus\r\nL=10")
        await asyncio.sleep(0.7)  # past the read timeout: the line arrives in two reads
        os.write(master, b"2.0\r\n\r\n")
        await until(lambda: len(got) == 2, what="two readings")
        os.write(master, b"junk\r\nmore junk\r\n")
        await until(lambda: drv.malformed == 3, what="three malformed lines")
        assert malformed_reports() == 1
        now[0] += 61
        os.write(master, b"junk again\r\nL=99\r\n")
        await until(lambda: len(got) == 3, what="the third reading")
        stop.set()
        await asyncio.wait_for(task, 5)

    try:
        asyncio.run(scenario())
    finally:
        os.close(master)
        os.close(slave)
    assert [m.data for m in got] == [{"level_cm": 101.5}, {"level_cm": 102.5}, {"level_cm": 99.5}]
    assert drv.malformed == 4
    assert malformed_reports() == 2
    assert "bogus" not in caplog.text  # lines are data: counted, never echoed


def test_serial_driver_waits_for_a_missing_port_warning_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unplugged adapter: retried quietly, nothing emitted, read once it is back."""
    path = tmp_path / "ttyUSB9"
    cfg = SerialLineConfig(driver="serial_line", device="wl-1", port=str(path), reopen_s=0.05)
    drv = SerialLineWaterLevel(cfg)
    got: list[Measurement] = []
    caplog.set_level(logging.DEBUG, logger="villagewatch.edge.drivers.serialline")
    master, slave = os.openpty()

    def attempts(level: int) -> int:
        return sum("cannot open" in r.getMessage() and r.levelno == level for r in caplog.records)

    def plug_in_and_write() -> bool:
        if not path.exists():
            path.symlink_to(os.ttyname(slave))
        os.write(master, b"L=42\r\n")  # again and again: opening the port drops what came before
        return bool(got)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(drv.run(got.append, stop))
        await until(lambda: attempts(logging.DEBUG) >= 3, what="retries")
        assert got == []
        await until(plug_in_and_write, what="a reading once the port is there")
        stop.set()
        await asyncio.wait_for(task, 5)

    try:
        asyncio.run(scenario())
    finally:
        os.close(master)
        os.close(slave)
    assert attempts(logging.WARNING) == 1
    assert "open again" in caplog.text
    assert {m.data["level_cm"] for m in got} == {42.0}
