"""Identifiers and topic names of the v1 contract."""

from __future__ import annotations

import pytest

from villagewatch.contract import (
    Channel,
    Topic,
    TopicError,
    is_identifier,
    parse_topic,
    subscription,
    topic_for,
)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        pytest.param("dongcun", True, id="plain"),
        pytest.param("wl-bridge_01", True, id="dash-underscore"),
        pytest.param("0", True, id="single-digit"),
        pytest.param("a" * 64, True, id="64-chars"),
        pytest.param("a" * 65, False, id="65-chars"),
        pytest.param("", False, id="empty"),
        pytest.param("-lead", False, id="leading-dash"),
        pytest.param("Upper", False, id="uppercase"),
        pytest.param("a+b", False, id="plus-wildcard"),
        pytest.param("a#", False, id="hash-wildcard"),
        pytest.param("a/b", False, id="slash"),
        pytest.param("$SYS", False, id="dollar"),
        pytest.param("abc\n", False, id="trailing-newline"),
        pytest.param("村", False, id="non-ascii"),
        pytest.param("a b", False, id="space"),
    ],
)
def test_identifier_rules(value: str, ok: bool) -> None:
    assert is_identifier(value) is ok


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        pytest.param(
            "vw/v1/dongcun/wl-1/telemetry",
            Topic("dongcun", "wl-1", Channel.TELEMETRY),
            id="telemetry",
        ),
        pytest.param(
            "vw/v1/dongcun/lock-1/event", Topic("dongcun", "lock-1", Channel.EVENT), id="event"
        ),
        pytest.param(
            "vw/v1/dongcun/edge-1/status", Topic("dongcun", "edge-1", Channel.STATUS), id="status"
        ),
        pytest.param(
            "vw/v1/dongcun/edge-1/config", Topic("dongcun", "edge-1", Channel.CONFIG), id="config"
        ),
        pytest.param(
            "vw/v1/dongcun/edge-1/config/reported",
            Topic("dongcun", "edge-1", Channel.CONFIG_REPORTED),
            id="config-reported",
        ),
        pytest.param(
            "vw/v1/dongcun/cam-1/evidence/evt-9",
            Topic("dongcun", "cam-1", Channel.EVIDENCE, "evt-9"),
            id="evidence",
        ),
    ],
)
def test_parse_topic_accepts_contract_topics(topic: str, expected: Topic) -> None:
    parsed = parse_topic(topic)
    assert parsed == expected
    assert str(parsed) == topic


@pytest.mark.parametrize(
    ("topic", "why"),
    [
        pytest.param("vw/v2/dongcun/wl-1/telemetry", "not under", id="other-version"),
        pytest.param("vw/v1/dongcun/telemetry", "not under", id="too-short"),
        pytest.param("vw/v1/$sys/wl-1/telemetry", "village", id="dollar-village"),
        pytest.param("vw/v1/dongcun/wl+1/telemetry", "device", id="plus-device"),
        pytest.param("vw/v1/dongcun/WL-1/telemetry", "device", id="upper-device"),
        pytest.param("vw/v1/dongcun/wl-1/metrics", "unknown channel", id="unknown-channel"),
        pytest.param("vw/v1/dongcun/wl-1/telemetry/extra", "unknown channel", id="extra-level"),
        pytest.param("vw/v1/dongcun/cam-1/evidence/a#b", "evidence id", id="hash-evidence"),
        pytest.param("vw/v1/dongcun/cam-1/evidence", "unknown channel", id="evidence-without-id"),
    ],
)
def test_parse_topic_refuses_with_reason(topic: str, why: str) -> None:
    with pytest.raises(TopicError, match=why):
        parse_topic(topic)


def test_topic_for_refuses_wildcard_identities() -> None:
    with pytest.raises(TopicError, match="device"):
        topic_for("dongcun", "#", Channel.TELEMETRY)
    with pytest.raises(TopicError, match="evidence id"):
        topic_for("dongcun", "cam-1", Channel.EVIDENCE)


def test_subscriptions_plain_shared_and_per_village() -> None:
    assert subscription(Channel.TELEMETRY) == "vw/v1/+/+/telemetry"
    assert subscription(Channel.EVENT, group="ingest") == "$share/ingest/vw/v1/+/+/event"
    assert subscription(Channel.STATUS, village="dongcun") == "vw/v1/dongcun/+/status"
    assert subscription(Channel.EVIDENCE) == "vw/v1/+/+/evidence/+"
    with pytest.raises(TopicError):
        subscription(Channel.EVENT, group="a/b")
