"""The processes and stores bench/city.py watches: villagewatch's roles as child processes,
CPU and RSS per process, and what VictoriaMetrics and detect's store hold at the end."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import psutil
import psycopg

from villagewatch_dev.servers import VictoriaMetrics


class Role:
    """``villagewatch ingest|detect`` as a child process, ready once its broker is connected."""

    def __init__(self, name: str, settings: Path) -> None:
        self.name, self.settings = name, settings
        self.role = name.split("-", maxsplit=1)[0]
        self.port = orjson.loads(settings.read_bytes())[self.role]["metrics_port"]
        log = (settings.parent / f"{name}.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "villagewatch", self.role, "--config", str(settings),
             "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        """Block until the process reports its broker connected; exit with its log if not."""
        deadline = time.monotonic() + timeout
        while self.metric(f"villagewatch_{self.role}_broker_connected") != 1:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.settings.parent / f"{self.name}.log").read_text()[-2000:]
                raise SystemExit(f"{self.name} did not connect:\n{log}")
            time.sleep(0.1)

    def metric(self, name: str) -> float:
        """A sample of its /metrics without labels; 0 when absent or unreachable."""
        with contextlib.suppress(httpx.HTTPError):
            for line in httpx.get(
                f"http://127.0.0.1:{self.port}/metrics", timeout=2
            ).text.splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
        return 0

    def kill(self) -> None:
        """SIGKILL the process."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Watch:
    """CPU seconds and peak RSS of named processes (a process and its children)."""

    def __init__(self) -> None:
        self.procs: dict[str, psutil.Process] = {}
        self.cpu0: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.rss: dict[str, int] = {}

    def add(self, name: str, pid: int) -> None:
        """Watch ``pid`` (and its children) as ``name`` from now on."""
        self.procs[name] = psutil.Process(pid)
        self.cpu0[name] = self._cpu(name)
        self.rss[name] = 0

    def _family(self, name: str) -> list[psutil.Process]:
        p = self.procs[name]
        with contextlib.suppress(psutil.Error):
            return [p, *p.children(recursive=True)]
        return []

    def _cpu(self, name: str) -> float:
        total = 0.0
        for p in self._family(name):
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def sample(self) -> None:
        """Take RSS and CPU now (RSS kept at its peak)."""
        for name in self.procs:
            rss = 0
            for p in self._family(name):
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            self.rss[name] = max(self.rss[name], rss)
            if rss:
                self.cpu[name] = self._cpu(name) - self.cpu0[name]

    def lines(self) -> list[str]:
        """One printable line per process."""
        return [f"    {n:12s} CPU {self.cpu.get(n, 0):7.1f} s  peak RSS {self.rss[n] / 2**20:7.0f} MiB"
                for n in self.procs]  # fmt: skip


def vm_rows(vm: VictoriaMetrics) -> float:
    """Rows VictoriaMetrics took over the influx protocol so far (one per sample)."""
    for line in httpx.get(f"{vm.url}/metrics", timeout=5).text.splitlines():
        if line.startswith('vm_rows_inserted_total{type="influx"}'):
            return float(line.split()[-1])
    return 0


def stored_seqs(vm: VictoriaMetrics) -> list[tuple[str, list[int]]]:
    """(device, seq values) of every ``readings_seq`` series, streamed from the export API."""
    vm.settle(timeout=120)
    out = []
    with httpx.stream("POST", f"{vm.url}/api/v1/export",
                      data={"match[]": "readings_seq", "start": "0"}, timeout=600) as reply:  # fmt: skip
        for line in reply.iter_lines():
            if line.strip():
                series = orjson.loads(line)
                out.append((series["metric"]["device"], [int(v) for v in series["values"]]))
    return out


def transitions(paths: dict[str, Path], floods: set[str]) -> list[tuple[float, int]]:
    """Publish→transition latencies (s) of the flood gauges' level transitions, read from
    detect's store where the settings put it: its SQLite file while there is one, else the
    ``detect`` schema of the relational PostgreSQL."""
    query = "SELECT subject, recorded_ns, at_ms FROM {}transitions WHERE kind = 'level'"
    rows: list[tuple[str, int, int]] = []
    for name, path in paths.items():
        if not name.startswith("detect"):
            continue
        settings = orjson.loads(path.read_bytes())
        db = Path(settings["detect"]["state_path"])
        if db.exists():
            with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
                rows += con.execute(query.format("")).fetchall()
        elif name == "detect-1":  # one shared schema for every detect
            with psycopg.connect(settings["relational"]["dsn"]) as con:
                rows += con.execute(query.format("detect.")).fetchall()
    return [(rec / 1e9 - at / 1e3, 1) for dev, rec, at in rows if dev in floods]


def ingest_counts(texts: list[str]) -> str:
    """The ingesters' own counts of what they stored, dropped and dead-lettered, summed: where
    a lost reading went, if they saw it."""
    names = {"readings_stored": "stored", "duplicates": "dropped as copies",
             "rescued_timestamps": "stamped on receipt", "rejected": "dead-lettered"}  # fmt: skip
    sums = dict.fromkeys(names.values(), 0.0)
    for text in texts:
        for line in text.splitlines():
            for name, said in names.items():
                if line.startswith((f"villagewatch_ingest_{name}_total ",
                                    f"villagewatch_ingest_{name}_total{{")):  # fmt: skip
                    sums[said] += float(line.rsplit(" ", 1)[1])
    return ", ".join(f"{v:,.0f} {k}" for k, v in sums.items())
