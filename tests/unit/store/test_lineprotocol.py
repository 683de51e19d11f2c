"""Line protocol encoding: escaping that every InfluxDB version reads back as written."""

from __future__ import annotations

from typing import Any

import pytest

from villagewatch.contract import Clock, Event, Reading, point_time_ns
from villagewatch.store.influxpoints import encode_event, encode_reading
from villagewatch.store.lineprotocol import (
    LineProtocolError,
    encode_point,
    escape_measurement,
    escape_name,
    field_value,
    quote_ident,
    quote_literal,
)


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        pytest.param("plain", "plain", id="plain"),
        pytest.param("a b", "a\\ b", id="space"),
        pytest.param("a,b", "a\\,b", id="comma"),
        pytest.param("a=b", "a\\=b", id="equals"),
        pytest.param('a"b', 'a"b', id="quote-literal"),
        pytest.param("a\\b", "a\\b", id="lone-backslash-literal"),
        pytest.param("水位 站", "水位\\ 站", id="non-ascii"),
    ],
)
def test_names_escape_comma_equals_space(name: str, escaped: str) -> None:
    assert escape_name(name) == escaped


def test_measurement_keeps_equals_sign() -> None:
    assert escape_measurement("m=1 x,y") == "m=1\\ x\\,y"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("a\nb", "line break", id="newline"),
        pytest.param("ends\\", "ends with a backslash", id="trailing-backslash"),
        pytest.param("a\\\\b", "backslash before", id="double-backslash"),
        pytest.param("a\\,b", "backslash before", id="backslash-before-comma"),
        pytest.param("a\\ b", "backslash before", id="backslash-before-space"),
    ],
)
def test_names_that_some_influxdb_would_misread_are_refused(name: str, why: str) -> None:
    with pytest.raises(LineProtocolError, match=why):
        escape_name(name)


def test_comment_measurement_is_refused() -> None:
    with pytest.raises(LineProtocolError, match="#"):
        escape_measurement("#note")


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        pytest.param(True, "true", id="true"),
        pytest.param(False, "false", id="false"),
        pytest.param(42, "42i", id="int"),
        pytest.param(-(2**63), f"{-(2**63)}i", id="int64-min"),
        pytest.param(1.5, "1.5", id="float"),
        pytest.param(1e16, "1e+16", id="float-exponent"),
        pytest.param('say "hi"', '"say \\"hi\\""', id="string-quotes"),
        pytest.param("c:\\dir\\", '"c:\\\\dir\\\\"', id="string-backslashes"),
        pytest.param("two\nlines", '"two\nlines"', id="string-newline"),
    ],
)
def test_field_values(value: str | float | bool, encoded: str) -> None:
    assert field_value(value) == encoded


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**63])
def test_unrepresentable_field_values_are_refused(value: float) -> None:
    with pytest.raises(LineProtocolError):
        field_value(value)


def test_encode_point_sorts_tags_and_leaves_out_empty_ones() -> None:
    line = encode_point("m", [("z", "1"), ("a", "2"), ("e", "")], {"v": 1.0}, 5)
    assert line == "m,a=2,z=1 v=1.0 5"
    with pytest.raises(LineProtocolError, match="at least one field"):
        encode_point("m", [], {}, 5)


def _reading(**kw: Any) -> Reading:
    base = Reading(
        village="dongcun", grid="g1", device="wl-1", kind="water_level",
        time_ns=point_time_ns(1_795_000_000_000, "b1", 3), seq=3, boot="b1",
        values={"level_cm": 12.5}, clock=Clock.SYNCED, historical=False, rescued=False,
        device_ts_ms=1_795_000_000_000,
    )  # fmt: skip
    return base._replace(**kw)


def test_reading_line_carries_only_flags_that_say_something() -> None:
    r = _reading()
    assert encode_reading(r) == (
        f"readings,device=wl-1,grid=g1,kind=water_level,village=dongcun level_cm=12.5,seq=3i {r.time_ns}"
    )
    flagged = encode_reading(_reading(historical=True, clock=Clock.UNSYNCED, rescued=True))
    assert (
        ',historical=true,clock="unsynced",rescued=true,boot="b1",device_ts=1795000000000i'
        in flagged
    )


def test_event_attributes_are_escaped_as_string_fields() -> None:
    e = Event(
        "dongcun", "g3", "lock-1", "smart_lock", 7, 1, "b", "unlock",
        {"credential": "card-1", "method": "card", "battery": 80.0}, Clock.SYNCED, False, False, 0,
    )  # fmt: skip
    assert encode_event(e) == (
        'events,device=lock-1,grid=g3,kind=smart_lock,village=dongcun type="unlock",'
        'credential="card-1",method="card",battery=80.0,seq=1i 7'
    )


def test_influxql_quoting() -> None:
    assert quote_ident('a"b\\c') == '"a\\"b\\\\c"'
    assert quote_literal("it's \\") == "'it\\'s \\\\'"
