"""What detect reads, taken from the deployment: its villages' messages (the contract's
decoder, with the ingester's limits) and the data disks it watches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paho.mqtt.subscribeoptions import SubscribeOptions

from villagewatch.config import Deployment, local_store_file
from villagewatch.contract import Channel, Decoder, TimePolicy, subscription

__all__ = ["data_folders", "decoder_for", "subscriptions"]

_SEND, _SKIP = SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE, SubscribeOptions.RETAIN_DO_NOT_SEND


def data_folders(deployment: Deployment) -> list[Path]:
    """Where the deployment's services keep data, as seen from this machine: detect's state,
    the alert store, the evidence pictures, the API's and the registry's files, and the
    readings when they are in SQLite."""
    s = deployment.settings
    folders = [
        s.detect.state_path.parent, s.alerts.state_path.parent, s.ingest.evidence_dir,
        s.api.state_dir, s.registry.path.parent,
    ]  # fmt: skip
    if (store_file := local_store_file(s.store)) is not None:
        folders.append(store_file.parent)
    return list(dict.fromkeys(folders))


def decoder_for(deployment: Deployment, villages: list[str]) -> Decoder:
    """The contract's decoder for ``villages``, with the ingester's limits (the same verdicts)."""
    registry = {k: v for k, v in deployment.device_registry().items() if k[0] in villages}
    ing = deployment.settings.ingest
    return Decoder(
        devices=registry,
        max_bytes=ing.max_message_bytes,
        time_policy=TimePolicy(ing.earliest_ms, int(ing.max_clock_ahead_s * 1000)),
    )


def subscriptions(villages: list[str], protocol: str) -> list[tuple[str, Any]]:
    """Detect's subscriptions (QoS 1) to the telemetry, event and status topics of
    ``villages``. Under MQTT 5 statuses are retained on purpose (who is down now), while
    readings and events a device retained would come again at every subscribe: never those."""
    filters = [
        subscription(channel, village=village)
        for village in villages
        for channel in (Channel.TELEMETRY, Channel.EVENT, Channel.STATUS)
    ]
    if protocol != "5":
        return [(f, 1) for f in filters]
    return [
        (f, SubscribeOptions(qos=1, retainHandling=_SEND if f.endswith("/status") else _SKIP))
        for f in filters
    ]
