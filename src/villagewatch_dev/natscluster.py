"""A throwaway three-node NATS JetStream cluster on 127.0.0.1, for tests and benchmarks.

Each node has its own client, route, MQTT and monitoring ports and its own store directory,
named ``n1``…``n3`` (JetStream and NATS's MQTT listener both need a ``server_name``). A node
can be stopped, SIGKILLed and started again on the same ports and store, so a test can take
one away mid-run. :meth:`NatsCluster.start` returns once the cluster has elected its
JetStream meta leader: before that, creating a stream fails.

``users`` (user name → password) makes every node refuse a client, NATS or MQTT, that does not
sign in as one of them; ``tls`` (a test CA's files, :func:`~villagewatch_dev.servers.make_test_tls`)
makes the client port TLS only. Routes between the nodes stay plain: they are loopback here.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from villagewatch.runtime.ports import free_port
from villagewatch_dev.servers import TlsFiles, _binary, _Server

__all__ = ["NatsCluster", "NatsNode"]

_CONF = """\
server_name: {name}
listen: 127.0.0.1:{port}
http: 127.0.0.1:{monitor}
jetstream {{
  store_dir: "{store}"
}}
cluster {{
  name: vw
  listen: 127.0.0.1:{route}
  routes: [{routes}]
}}
mqtt {{
  listen: 127.0.0.1:{mqtt}
  # the MQTT sessions, retained messages and QoS 1 deliveries live in JetStream streams of
  # their own: replicated on every node, so losing one node loses no session
  stream_replicas: 3
}}
"""

_USERS = """\
authorization {{
  users: [{users}]
}}
"""

_TLS = """\
tls {{
  cert_file: "{cert}"
  key_file: "{key}"
  ca_file: "{ca}"
  timeout: 5
}}
"""


class NatsNode(_Server):
    """One ``nats-server`` of the cluster (config written by :class:`NatsCluster`)."""

    def __init__(
        self, directory: Path, name: str, *, users: dict[str, str], tls: TlsFiles | None
    ) -> None:
        super().__init__(directory)
        self.name = name
        self.users, self.tls = users, tls
        self.port, self.route_port = free_port(), free_port()
        self.mqtt_port, self.monitor_port = free_port(), free_port()
        self.conf = self.dir / "nats.conf"

    @property
    def url(self) -> str:
        """The node's NATS client URL."""
        return f"{'tls' if self.tls else 'nats'}://127.0.0.1:{self.port}"

    def write_conf(self, peers: list[NatsNode]) -> None:
        """The node's config, with routes to ``peers`` (the other nodes)."""
        routes = ", ".join(f"nats-route://127.0.0.1:{p.route_port}" for p in peers)
        self.conf.write_text(
            _CONF.format(
                name=self.name, port=self.port, monitor=self.monitor_port,
                store=self.dir / "js", route=self.route_port, routes=routes, mqtt=self.mqtt_port,
            )
            + self._security()
        )  # fmt: skip

    def _security(self) -> str:
        text = ""
        if self.users:
            entries = ", ".join(
                f"{{user: {json.dumps(u)}, password: {json.dumps(p)}}}"
                for u, p in self.users.items()
            )
            text += _USERS.format(users=entries)
        if self.tls is not None:
            text += _TLS.format(cert=self.tls.cert, key=self.tls.key, ca=self.tls.ca)
        return text

    def start(self) -> NatsNode:
        """Start (or restart) on the same ports and store."""
        try:
            self._spawn([_binary("nats-server") or "nats-server", "-c", str(self.conf)], self.port)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; {self.name} logged:\n{self.log_text()[-2000:]}") from exc
        return self

    def jsz(self) -> dict[str, Any]:
        """The node's JetStream report (``/jsz``)."""
        reply = httpx.get(f"http://127.0.0.1:{self.monitor_port}/jsz", timeout=2)
        reply.raise_for_status()
        body: dict[str, Any] = reply.json()
        return body

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None


class NatsCluster:
    """Three JetStream nodes routed to each other, each with an MQTT listener."""

    def __init__(
        self,
        directory: Path,
        *,
        size: int = 3,
        users: dict[str, str] | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.users = users or {}
        self.nodes = [
            NatsNode(directory / f"n{i + 1}", f"n{i + 1}", users=self.users, tls=tls)
            for i in range(size)
        ]
        for node in self.nodes:
            node.write_conf([p for p in self.nodes if p is not node])

    @property
    def urls(self) -> list[str]:
        """Every node's client URL (a client given them all fails over between them)."""
        return [n.url for n in self.nodes]

    def start(self, timeout: float = 30) -> NatsCluster:
        """Start every node not running and wait until JetStream has a meta leader."""
        for node in self.nodes:
            if not node.running:
                node.start()
        self.wait_for_leader(timeout)
        self._greet_mqtt()
        return self

    def _greet_mqtt(self) -> None:
        """Connect one MQTT client once: NATS makes its MQTT streams (``$MQTT_msgs``, which an
        ingester with ``capture: mqtt`` reads) at the first MQTT connection, and an ingester
        started before any device waits for them."""
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="vw-greet", protocol=paho.MQTTv311
        )
        if self.users:
            client.username_pw_set(*next(iter(self.users.items())))
        deadline = time.monotonic() + 30
        while True:
            try:
                client.connect("127.0.0.1", self.nodes[0].mqtt_port)
                client.loop_start()
                while not client.is_connected() and time.monotonic() < deadline:
                    time.sleep(0.05)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        client.loop_stop()
        client.disconnect()
        if time.monotonic() > deadline:
            raise TimeoutError("NATS's MQTT listener did not accept a connection")

    def wait_for_leader(self, timeout: float = 30) -> str:
        """Block until a running node reports a JetStream meta leader that all running nodes
        agree on; its name."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = set()
            for node in self.nodes:
                if not node.running:
                    continue
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    leaders.add(node.jsz().get("meta_cluster", {}).get("leader") or "")
            if len(leaders) == 1 and "" not in leaders:
                return leaders.pop()
            time.sleep(0.1)
        raise TimeoutError(f"the NATS cluster has no JetStream meta leader after {timeout} s")

    def node(self, name: str) -> NatsNode:
        """The node called ``name``."""
        return next(n for n in self.nodes if n.name == name)

    def close(self) -> None:
        """Kill every node."""
        for node in self.nodes:
            node.kill()
