"""The MQTT contract, v1: topics, identifiers, payload models, their one encoder and the records
they decode to.

Shared by the edge agent and every central service; see ``docs/contract.md``.
"""

from villagewatch.contract.decode import Decoded, Decoder, DeviceInfo, TimePolicy, decode_status
from villagewatch.contract.encode import encode_items, encode_status
from villagewatch.contract.identifiers import Identifier, is_identifier
from villagewatch.contract.payloads import (
    MAX_EVIDENCE_BYTES,
    MAX_OBJECTS,
    Clock,
    DeviceKind,
    metric_names,
)
from villagewatch.contract.records import (
    DeadLetter,
    DedupeKey,
    Event,
    Reading,
    RejectReason,
    point_time_ns,
)
from villagewatch.contract.strict import StrictModel
from villagewatch.contract.topics import (
    Channel,
    Topic,
    TopicError,
    parse_topic,
    subscription,
    topic_for,
)

__all__ = [
    "MAX_EVIDENCE_BYTES",
    "MAX_OBJECTS",
    "Channel",
    "Clock",
    "DeadLetter",
    "Decoded",
    "Decoder",
    "DedupeKey",
    "DeviceInfo",
    "DeviceKind",
    "Event",
    "Identifier",
    "Reading",
    "RejectReason",
    "StrictModel",
    "TimePolicy",
    "Topic",
    "TopicError",
    "decode_status",
    "encode_items",
    "encode_status",
    "is_identifier",
    "metric_names",
    "parse_topic",
    "point_time_ns",
    "subscription",
    "topic_for",
]
