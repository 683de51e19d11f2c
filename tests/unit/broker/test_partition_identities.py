"""Each detect partition's session signs in as an identity of its own, reading only its
villages (``detect.partitions``)."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.unit.config.test_load import VILLAGE
from villagewatch.broker.identities import identities_of
from villagewatch.config import load_deployment


def test_each_partition_has_an_identity_reading_its_villages(tmp_path: Path) -> None:
    for vid in ("dongcun", "xicun"):
        (tmp_path / f"{vid}.yaml").write_text(VILLAGE.replace("dongcun", vid), encoding="utf-8")
    settings = {
        "villages": ["dongcun.yaml", "xicun.yaml"],
        "detect": {
            "client_id": "vw-detect",
            "partitions": {"east": ["dongcun"], "west": ["xicun"]},
            "claim": {"max_partitions": 2},
        },
    }
    (tmp_path / "s.yaml").write_bytes(orjson.dumps(settings))
    found = {i.name: i for i in identities_of(load_deployment(tmp_path / "s.yaml"))}
    assert found["vw-detect-east"].read == (
        "vw/v1/dongcun/+/telemetry", "vw/v1/dongcun/+/event", "vw/v1/dongcun/+/status",
    )  # fmt: skip
    assert found["vw-detect-west"].read[0] == "vw/v1/xicun/+/telemetry"
    assert found["vw-detect-west"].write == ()
