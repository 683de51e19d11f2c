"""A camera event's objects and model label: what the contract takes, what it refuses (and
says why), and what a store keeps of them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from villagewatch.contract import Decoded, Decoder, DeviceInfo, DeviceKind
from villagewatch.contract.records import DeadLetter, RejectReason
from villagewatch.store import Batch
from villagewatch.store.relational import RelationalStore

DECODER = Decoder(devices={("v", "cam-1"): DeviceInfo("g", DeviceKind.CAMERA)})
TOPIC = "vw/v1/v/cam-1/event"
TS = 1_796_500_000_000


def _event(**fields: Any) -> dict[str, Any]:
    return {
        "seq": 7, "ts": TS, "clock": "synced", "type": "detection", "detection": "river_debris",
        "zone": "river", "box": [0.1, 0.7, 0.2, 0.1], **fields,
    }  # fmt: skip


def _decode(event: dict[str, Any] | bytes) -> Decoded | DeadLetter:
    body = event if isinstance(event, bytes) else orjson.dumps(
        {"v": 1, "device": "cam-1", "boot": "b1", "event": event}
    )  # fmt: skip
    return DECODER.decode(TOPIC, body, time.time_ns())


def test_objects_and_a_label_are_taken_and_stored(tmp_path: Path) -> None:
    objects = [
        {"box": [0.1, 0.7, 0.2, 0.1], "label": "debris", "score": 0.91},
        {"box": [0.5, 0.75, 0.05, 0.05]},
        {"box": [0.95, 0.9, 0.05, 0.1]},  # ends exactly at the picture's corner
    ]
    got = _decode(_event(objects=objects, label="debris", label_score=0.91))
    assert isinstance(got, Decoded), got
    (event,) = got.events
    assert event.attrs["label"] == "debris" and event.attrs["label_score"] == 0.91
    assert orjson.loads(str(event.attrs["objects"])) == objects

    async def main() -> list[Any]:
        store = RelationalStore(tmp_path / "v.db")
        await store.write(Batch([], got.events))
        history = await store.history(since_ns=0, until_ns=2**62)
        await store.close()
        return history.events

    (stored,) = asyncio.run(main())
    assert orjson.loads(stored.attrs["objects"]) == objects
    assert stored.attrs["label"] == "debris" and stored.attrs["box"] == "0.1,0.7,0.2,0.1"
    assert stored.time_ns // 1_000_000 == TS


def test_an_old_event_without_objects_is_still_taken() -> None:
    got = _decode(_event(score=0.4, dwell_s=60.0))
    assert isinstance(got, Decoded) and "objects" not in got.events[0].attrs


_BOX = {"box": [0.1, 0.1, 0.1, 0.1]}


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"objects": [_BOX] * 33}, "at most 32"),
        ({"objects": []}, "at least 1"),
        ({"objects": [{"box": [0.9, 0.1, 0.2, 0.1]}]}, "outside the picture"),
        ({"objects": [{"box": [0.1, 0.1, 0.0, 0.1]}]}, "empty"),
        ({"objects": [{"box": [-0.1, 0.1, 0.1, 0.1]}]}, "greater than or equal to 0"),
        ({"objects": [{"box": [0.1, 1.5, 0.1, 0.1]}]}, "less than or equal to 1"),
        ({"objects": [{"box": [0.1, 0.1, 0.1]}]}, "objects.0.box"),
        ({"objects": [{"box": ["0.1", 0.1, 0.1, 0.1]}]}, "valid number"),
        ({"objects": [{"box": [0.1, 0.1, 0.1, 0.1], "colour": "red"}]}, "colour"),
        ({"objects": [{"box": [0.1, 0.1, 0.1, 0.1], "score": 2}]}, "objects.0.score"),
        ({"objects": {"box": [0.1, 0.1, 0.1, 0.1]}}, "objects"),
        ({"label": "Person"}, "label"),
        ({"label": "a" * 33}, "label"),
        ({"label": "person<script>"}, "label"),
        ({"label_score": 1.5}, "label_score"),
    ],
    ids=["33-objects", "no-objects", "outside", "empty-box", "negative", "above-1", "3-numbers",
         "string-number", "unknown-field", "score-2", "not-a-list", "upper-case-label",
         "long-label", "markup-label", "label-score-1.5"],
)  # fmt: skip
def test_hostile_objects_are_refused_with_what_is_wrong(fields: dict[str, Any], says: str) -> None:
    got = _decode(_event(**fields))
    assert isinstance(got, DeadLetter), got
    assert got.reason is RejectReason.INVALID_PAYLOAD
    assert says in got.detail, got.detail


def test_a_nan_in_an_objects_box_is_refused() -> None:
    body = orjson.dumps({"v": 1, "device": "cam-1", "boot": "b1", "event": _event(objects=[_BOX])})
    got = _decode(body.replace(b'"box":[0.1,0.1,0.1,0.1]', b'"box":[NaN,0.1,0.1,0.1]'))
    assert isinstance(got, DeadLetter) and got.reason is RejectReason.INVALID_PAYLOAD
    assert got.detail == "event.objects.0.box.0: Input should be a finite number"
