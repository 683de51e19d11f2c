"""When a picture was taken: its EXIF, its file name, or when it reached us — checked against
the agent's clock.

A still carries the camera's own time: EXIF ``DateTimeOriginal`` (with
``OffsetTimeOriginal`` when the camera writes it; else the camera file's ``utc_offset_h``),
else a time in the file name when the camera file gives its pattern (``capture.name_time``).
Both come from the camera's clock, which a dead RTC battery sets to 1970 or a bad NTP
setting to hours away. So the camera's time is trusted only within a bound of when the
picture reached the agent (the file's mtime, or the fetch), which is the agent's clock:
no more than ``max_ahead_s`` after it (the centre lets a device clock run 300 s ahead) and
no more than ``max_behind_s`` before it (an upload takes seconds). Outside, or before 2020
or after 2100, the arrival time is used instead and the camera's clock is logged as off —
as the centre treats a device time it cannot believe (receipt time, flagged).
"""

from __future__ import annotations

import functools
import logging
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from pydantic import Field, field_validator

from villagewatch.contract import StrictModel

__all__ = ["CaptureClock", "CaptureSettings", "exif_time", "name_time"]

log = logging.getLogger(__name__)

_EARLIEST = 1_577_836_800.0  # 2020-01-01, as the agent's clock check
_LATEST = 4_102_444_800.0  # 2100-01-01
_MAX_ENTRIES = 512  # an IFD with more is not a camera's: stop reading
# strptime directives a file-name pattern may use, and what each matches
_DIRECTIVES = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "H": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
    "f": r"\d{1,6}",
    "%": "%",
}


class CaptureSettings(StrictModel):
    """How a camera's stills say when they were taken (the camera file's `capture`)."""

    name_time: str | None = Field(
        None,
        description="The time in a still's file name as strptime directives (`%Y %y %m %d %H "
        "%M %S %f`), e.g. `cam-%Y%m%d-%H%M%S` or `*_%Y%m%d%H%M%S*` (`*`: anything); local "
        "time of `utc_offset_h`. Used when a still has no EXIF time.",
    )
    max_behind_s: float = Field(
        900,
        ge=0,
        description="A camera time this much before the picture reached the agent is a wrong "
        "camera clock (raise it for a camera that uploads its backlog late).",
    )
    max_ahead_s: float = Field(
        300, ge=0, description="A camera time this much after the picture arrived is wrong."
    )

    @field_validator("name_time")
    @classmethod
    def _a_pattern(cls, v: str | None) -> str | None:
        if v is not None:
            _name_regex(v)  # raises ValueError with what is wrong
        return v


@functools.lru_cache(maxsize=16)
def _name_regex(pattern: str) -> re.Pattern[str]:
    """A regex finding ``pattern`` (strptime directives, ``*`` for anything) in a name."""
    out, seen, i = [], set(), 0
    while i < len(pattern):
        c = pattern[i]
        if c == "%":
            d = pattern[i + 1 : i + 2]
            if d not in _DIRECTIVES:
                raise ValueError(
                    f"name_time {pattern!r}: %{d} is not one of " + " ".join(
                        "%" + k for k in _DIRECTIVES
                    )
                )  # fmt: skip
            out.append(f"(?P<{d}>{_DIRECTIVES[d]})" if d != "%" and d not in seen else
                       _DIRECTIVES[d])  # fmt: skip
            seen.add(d)
            i += 2
        else:
            out.append(".*?" if c == "*" else re.escape(c))
            i += 1
    if not {"Y", "y"} & seen or not {"m", "d", "H", "M"} <= seen:
        raise ValueError(f"name_time {pattern!r} needs a year (%Y or %y), %m, %d, %H and %M")
    return re.compile("".join(out))


def name_time(name: str, pattern: str, utc_offset_h: float) -> float | None:
    """Epoch seconds of the time ``pattern`` finds in the file name ``name``; None when it
    does not match or is no date."""
    m = _name_regex(pattern).search(name)
    if m is None:
        return None
    g = m.groupdict()
    year = int(g["Y"]) if g.get("Y") else 2000 + int(g["y"])
    try:
        local = datetime(
            year, int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]), int(g.get("S") or 0),
            int((g.get("f") or "0").ljust(6, "0")), tzinfo=timezone(timedelta(hours=utc_offset_h)),
        )  # fmt: skip
    except ValueError:
        return None
    return local.timestamp()


def exif_time(jpeg: bytes, utc_offset_h: float) -> float | None:
    """Epoch seconds of a JPEG's EXIF ``DateTimeOriginal`` (else ``DateTime``), with its
    offset tag when present, else at ``utc_offset_h``; None without one or when the EXIF is
    truncated or malformed (never raises)."""
    try:
        tiff = _exif_tiff(jpeg)
        return None if tiff is None else _tiff_time(tiff, utc_offset_h)
    except (struct.error, ValueError, IndexError):  # cut short or a pointer out of it
        return None


def _exif_tiff(jpeg: bytes) -> bytes | None:
    """The TIFF block of the JPEG's APP1 ``Exif`` segment (segments before the image data)."""
    if jpeg[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        marker = jpeg[i + 1]
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no metadata follows
            return None
        (length,) = struct.unpack_from(">H", jpeg, i + 2)
        body = jpeg[i + 4 : i + 2 + length]
        if marker == 0xE1 and body[:6] == b"Exif\x00\x00":
            return body[6:]
        i += 2 + length
    return None


def _tiff_time(tiff: bytes, utc_offset_h: float) -> float | None:
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or struct.unpack_from(order + "H", tiff, 2)[0] != 42:
        return None
    ifd0 = _ifd(tiff, order, struct.unpack_from(order + "I", tiff, 4)[0])
    exif: dict[int, bytes | int] = {}
    pointer = ifd0.get(0x8769)
    if isinstance(pointer, int):
        exif = _ifd(tiff, order, pointer)
    for when, offset, tags in ((0x9003, 0x9011, exif), (0x0132, 0x9010, ifd0)):
        text = tags.get(when)
        if isinstance(text, bytes):
            zone = exif.get(offset)
            return _parse(text, zone if isinstance(zone, bytes) else None, utc_offset_h)
    return None


def _ifd(tiff: bytes, order: str, at: int) -> dict[int, bytes | int]:
    """The ASCII and LONG entries of the IFD at ``at``: ASCII as bytes, LONG as int."""
    (count,) = struct.unpack_from(order + "H", tiff, at)
    out: dict[int, bytes | int] = {}
    for k in range(min(count, _MAX_ENTRIES)):
        tag, kind, n, value = struct.unpack_from(order + "HHI4s", tiff, at + 2 + 12 * k)
        if kind == 2:  # ASCII: inline when it fits in 4 bytes
            start = struct.unpack(order + "I", value)[0] if n > 4 else None
            raw = value[:n] if start is None else tiff[start : start + min(n, 64)]
            if start is not None and len(raw) < min(n, 64):
                raise ValueError("EXIF truncated")
            out[tag] = raw.rstrip(b"\x00 ")
        elif kind == 4 and n == 1:
            out[tag] = struct.unpack(order + "I", value)[0]
    return out


def _parse(text: bytes, zone: bytes | None, utc_offset_h: float) -> float | None:
    hours, minutes = divmod(round(abs(utc_offset_h) * 60), 60)
    offset = f"{'+' if utc_offset_h >= 0 else '-'}{hours:02d}{minutes:02d}"
    if zone is not None and (m := re.fullmatch(rb"([+-])(\d\d):(\d\d)", zone)):
        offset = (m[1] + m[2] + m[3]).decode()
    try:
        when = datetime.strptime(text.decode("ascii") + offset, "%Y:%m:%d %H:%M:%S%z")
    except (UnicodeDecodeError, ValueError):
        return None  # "0000:00:00 00:00:00" (a camera that never had the time) too
    return when.timestamp()


@dataclass(slots=True)
class CaptureClock:
    """Decides each picture's capture time for one camera and tells when its clock is off."""

    camera: str
    settings: CaptureSettings
    utc_offset_h: float
    off: bool = False
    """The last picture's own time was not believed (its arrival time was used)."""

    def time_of(self, data: bytes, name: str, arrived: float) -> float:
        """The capture time of a picture (its bytes and file name) that reached the agent at
        ``arrived`` (epoch seconds by the agent's clock)."""
        own, said = exif_time(data, self.utc_offset_h), "EXIF"
        if own is None and self.settings.name_time is not None and name:
            own, said = name_time(name, self.settings.name_time, self.utc_offset_h), "file name"
        if own is None:
            return arrived
        s = self.settings
        if _EARLIEST <= own < _LATEST and -s.max_behind_s <= own - arrived <= s.max_ahead_s:
            if self.off:
                log.info("camera %s: its clock agrees with the agent's again", self.camera)
            self.off = False
            return own
        if not self.off:
            log.warning(
                "camera %s: its clock is off (%s %s says %s UTC, the picture arrived %s UTC, "
                "%+.0f s): using the arrival time until it agrees within -%g/+%g s — set the "
                "camera's clock or NTP, or raise capture.max_behind_s for late uploads",
                self.camera, name or "a picture", said, _utc(own), _utc(arrived),
                own - arrived, s.max_behind_s, s.max_ahead_s,
            )  # fmt: skip
        self.off = True
        return arrived


def _utc(t: float) -> str:
    try:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{t:.0f}"
