"""What detect reads, taken from the deployment: its villages' messages (the contract's
decoder, with the ingester's limits) and the data disks it watches."""

from __future__ import annotations

from pathlib import Path

from villagewatch.config import Deployment, local_store_file
from villagewatch.contract import Decoder, TimePolicy

__all__ = ["data_folders", "decoder_for"]


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
