"""JPEG stills with an EXIF capture time, written the way cameras write them (APP1 after
SOI, a TIFF block with IFD0 → Exif IFD → DateTimeOriginal / OffsetTimeOriginal)."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import numpy.typing as npt


def exif_block(when: str, offset: str | None = None, *, order: str = "<") -> bytes:
    """The APP1 segment (marker and length included) saying ``when`` ("YYYY:MM:DD HH:MM:SS")."""
    tags = [(0x9003, when.encode() + b"\x00")]
    if offset is not None:
        tags.append((0x9011, offset.encode() + b"\x00"))
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    # IFD0 at 8: one entry, the Exif IFD pointer; Exif IFD right after; strings after it
    ifd0 = struct.pack(order + "H", 1)
    exif_at = 8 + 2 + 12 + 4
    ifd0 += struct.pack(order + "HHII", 0x8769, 4, 1, exif_at) + struct.pack(order + "I", 0)
    data_at = exif_at + 2 + 12 * len(tags) + 4
    entries, data = b"", b""
    for tag, text in tags:
        if len(text) <= 4:
            entries += struct.pack(order + "HHI", tag, 2, len(text)) + text.ljust(4, b"\x00")
        else:
            entries += struct.pack(order + "HHII", tag, 2, len(text), data_at + len(data))
            data += text
    exif_ifd = struct.pack(order + "H", len(tags)) + entries + struct.pack(order + "I", 0)
    body = b"Exif\x00\x00" + head + ifd0 + exif_ifd + data
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def exif_jpeg(
    frame: npt.NDArray[np.uint8], when: str, offset: str | None = None, *, order: str = "<"
) -> bytes:
    """``frame`` as a JPEG whose EXIF says it was taken ``when`` (local time, ``offset``)."""
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    jpeg = buf.tobytes()
    return jpeg[:2] + exif_block(when, offset, order=order) + jpeg[2:]
