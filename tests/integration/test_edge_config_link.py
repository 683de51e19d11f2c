"""The API's link to the edge agents through a real Mosquitto, in both MQTT versions: a desired
config is published retained, an agent's retained report is read back (None before there is
one, the reason when it cannot be read), and a broker that is not there is said plainly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from paho.mqtt import publish, subscribe

from villagewatch.api.edgeconfig import BrokerUnreachable, EdgeConfigLink
from villagewatch.config import MqttSettings
from villagewatch.contract.control import ReportedConfig
from villagewatch.runtime.ports import free_port
from villagewatch_dev.servers import Mosquitto


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_publish_retained_and_read_the_report(
    mosquitto: Mosquitto, protocol: Literal["5", "3.1.1"]
) -> None:
    link = EdgeConfigLink(MqttSettings(port=mosquitto.port, protocol=protocol))
    assert link.reported("v", "edge-1") is None
    link.publish("vw/v1/v/edge-1/config", b'{"v": 1, "version": 4, "config": {}}')
    # retained: a reader that comes later still gets it
    got = subscribe.simple("vw/v1/v/edge-1/config", hostname="127.0.0.1", port=mosquitto.port)
    assert got.retain and got.payload == b'{"v": 1, "version": 4, "config": {}}'
    report = b'{"v": 1, "version": 4, "applied": false, "error": "no such device"}'
    publish.single("vw/v1/v/edge-1/config/reported", report, qos=1, retain=True,
                   hostname="127.0.0.1", port=mosquitto.port)  # fmt: skip
    assert link.reported("v", "edge-1") == ReportedConfig(
        v=1, version=4, applied=False, error="no such device"
    )
    publish.single("vw/v1/v/edge-1/config/reported", b"{not json", qos=1, retain=True,
                   hostname="127.0.0.1", port=mosquitto.port)  # fmt: skip
    unreadable = link.reported("v", "edge-1")
    assert isinstance(unreadable, str) and unreadable.startswith(
        "the agent's report cannot be read"
    )


def test_a_broker_that_is_not_there_is_said_plainly() -> None:
    port = free_port()
    link = EdgeConfigLink(MqttSettings(port=port), timeout_s=2)
    with pytest.raises(BrokerUnreachable, match=f"cannot reach the broker at 127.0.0.1:{port}"):
        link.publish("vw/v1/v/edge-1/config", b"{}")
    with pytest.raises(BrokerUnreachable, match="cannot reach the broker"):
        link.reported("v", "edge-1")


def test_a_missing_password_of_the_config_writer_is_said_plainly(tmp_path: Path) -> None:
    link = EdgeConfigLink(MqttSettings(credentials_dir=tmp_path))
    with pytest.raises(
        BrokerUnreachable, match=r"cannot sign in as vw-config: .*vw-config\.password"
    ):
        link.publish("vw/v1/v/edge-1/config", b"{}")
