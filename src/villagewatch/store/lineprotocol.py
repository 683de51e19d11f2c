"""InfluxDB line protocol and InfluxQL quoting.

Escaping follows what InfluxDB 1.x, 2.x and 3.x all read the same way:

* measurement: ``,`` and space are escaped;
* tag keys, tag values, field keys: ``,``, ``=`` and space are escaped;
* string field values: ``\\`` and ``"`` are escaped; newlines are fine.

A backslash in a name is kept literally by every version only when it is not
doubled, not last, and not followed by a character that would be escaped:
1.x cannot store a name ending in a backslash at all, and 1.x and 2.x read
``\\\\`` differently. Such names are refused with :class:`LineProtocolError`
rather than stored as something else. Newlines are refused in names, and so are
empty names and a measurement starting with ``#`` (a comment line).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = [
    "FieldValue",
    "LineProtocolError",
    "encode_point",
    "escape_measurement",
    "escape_name",
    "field_value",
    "quote_ident",
    "quote_literal",
]

FieldValue = str | float | int | bool

_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ "})
_NAME = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_STRING = str.maketrans({"\\": "\\\\", '"': '\\"'})
_SPECIAL = frozenset(",= \\\n\r")


class LineProtocolError(ValueError):
    """A name or value that line protocol cannot carry faithfully."""


def _check_name(name: str, what: str) -> None:
    if not name:
        raise LineProtocolError(f"{what} is empty")
    if "\n" in name or "\r" in name:
        raise LineProtocolError(f"{what} {name[:40]!r} contains a line break")
    if "\\" in name:
        if name.endswith("\\"):
            raise LineProtocolError(f"{what} {name[:40]!r} ends with a backslash")
        for i, ch in enumerate(name[:-1]):
            if ch == "\\" and name[i + 1] in _SPECIAL:
                raise LineProtocolError(
                    f"{what} {name[:40]!r} has a backslash before {name[i + 1]!r}"
                )


def escape_measurement(name: str) -> str:
    """Escape a measurement name."""
    _check_name(name, "measurement")
    if name.startswith("#"):
        raise LineProtocolError(f"measurement {name[:40]!r} starts with '#'")
    return name.translate(_MEASUREMENT)


def escape_name(name: str, what: str = "name") -> str:
    """Escape a tag key, tag value or field key."""
    _check_name(name, what)
    return name.translate(_NAME)


def field_value(value: FieldValue) -> str:
    """Encode a field value: bool, integer (``i`` suffix), finite float, or string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise LineProtocolError(f"integer {value} does not fit in 64 bits")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineProtocolError(f"float {value} is not finite")
        return repr(value)
    return '"' + value.translate(_STRING) + '"'


def encode_point(
    measurement: str,
    tags: Iterable[tuple[str, str]],
    fields: Mapping[str, FieldValue],
    time_ns: int,
) -> str:
    """One line of line protocol; empty tag values are left out (line protocol has none)."""
    if not fields:
        raise LineProtocolError("a point needs at least one field")
    head = escape_measurement(measurement)
    tag_part = "".join(
        f",{escape_name(k, 'tag key')}={escape_name(v, 'tag value')}"
        for k, v in sorted(tags)
        if v != ""
    )
    field_part = ",".join(
        f"{escape_name(k, 'field key')}={field_value(v)}" for k, v in fields.items()
    )
    return f"{head}{tag_part} {field_part} {time_ns}"


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_literal(value: str) -> str:
    """An InfluxQL string literal in single quotes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
