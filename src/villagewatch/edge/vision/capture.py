"""Where frames come from: video streams and files, still images over HTTP, a folder of stills.

``source`` decides:

==========================================  ================================================
``rtsp://…``, ``rtmp://…``, ``/dev/video0``  a live stream through ``cv2.VideoCapture``;
                                             reopened with backoff when it drops
``http(s)://…`` with ``still_interval_s``    a JPEG fetched every ``still_interval_s``
``http(s)://…`` without                      an MJPEG stream through ``cv2.VideoCapture``
a file (``.mp4``, ``.avi``, …)               a recorded video, read at the processing rate
a folder                                     stills a camera pushes (FTP): each new image
                                             once, in name order
==========================================  ================================================

Every source is blocking and used from a worker thread; :meth:`Source.next` returns
``(frame, epoch seconds)``, or None when there is nothing now (the caller waits and asks
again) — it never raises for a camera that is away; it logs.

The time is when the picture was taken: a live stream's grab; a still's own time (EXIF or
its file name, see ``capturetime.py``) when the camera's clock agrees with the agent's, else
when it reached the agent (the file's mtime, the fetch); a recording's position from the
start of processing.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import httpx
import numpy as np
import numpy.typing as npt

from villagewatch.edge.durable import replace_durably
from villagewatch.edge.vision.capturetime import CaptureClock
from villagewatch.runtime.backoff import Backoff

__all__ = [
    "IMAGE_SUFFIXES",
    "FolderSource",
    "HttpStillSource",
    "Source",
    "VideoSource",
    "decode_image",
    "open_source",
    "shown",
]

log = logging.getLogger(__name__)
U8 = npt.NDArray[np.uint8]
Frame = tuple[U8, float]
_UPLOAD_GRACE_S = 10.0  # a broken image younger than this may still be arriving
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})  # stills, by file name


class Source(Protocol):
    """A camera's frames."""

    def next(self) -> Frame | None:
        """The next frame to process and its time, or None (nothing now / the source is away)."""
        ...

    def done(self) -> None:
        """The last frame's outputs are in the outbox: a restart goes on after it."""
        ...

    def close(self) -> None:
        """Let go of the camera."""
        ...


def shown(source: str) -> str:
    """``source`` fit for a log: a password in the URL (``rtsp://user:pass@…``) left out."""
    parts = urlsplit(source)
    if "@" not in parts.netloc:
        return source
    return urlunsplit(parts._replace(netloc="…@" + parts.netloc.rpartition("@")[2]))


def open_source(
    source: str,
    *,
    fps: float,
    still_interval_s: float | None,
    position: Path | None = None,
    clock: CaptureClock | None = None,
) -> Source:
    """The source that ``source`` names (see the module doc); a folder remembers how far it
    got in ``position``; stills are timed by ``clock`` (else when they arrived)."""
    if source.startswith(("http://", "https://")) and still_interval_s is not None:
        return HttpStillSource(source, still_interval_s, clock=clock)
    path = Path(source)
    if "://" not in source and path.is_dir():
        return FolderSource(path, position, clock=clock)
    return VideoSource(source, fps=fps, live="://" in source or source.startswith("/dev/"))


class VideoSource:
    """A stream or file through ``cv2.VideoCapture``, ``fps`` frames a second passed on."""

    def __init__(self, url: str, *, fps: float, live: bool) -> None:
        self._url = url
        self._shown = shown(url)
        self._period = 1.0 / fps
        self._live = live
        self._cap: cv2.VideoCapture | None = None
        self._backoff = Backoff(initial_s=1.0, max_s=60.0)
        self._retry_at = 0.0
        self._next_at = 0.0
        self._file_t = 0.0
        self._file_start = time.time()
        self.ended = False
        """A file reached its end (a live source never ends)."""

    def _open(self) -> cv2.VideoCapture | None:
        if self._cap is not None:
            return self._cap
        now = time.monotonic()
        if now < self._retry_at:
            return None
        cap = cv2.VideoCapture(self._url)
        if not cap.isOpened():
            cap.release()
            delay = self._backoff.next_delay()
            self._retry_at = now + delay
            log.warning("camera %s cannot be opened; retrying in %.0f s", self._shown, delay)
            return None
        self._backoff.reset()
        self._cap = cap
        return cap

    def next(self) -> Frame | None:
        """Live: drain the stream, hand on a frame every period. File: every period of video."""
        if self.ended:
            return None
        cap = self._open()
        if cap is None:
            return None
        if not self._live:
            return self._next_from_file(cap)
        # keep reading so the stream's buffer never goes stale; decode only what is used
        while True:
            if not cap.grab():
                self._lost("the stream dropped")
                return None
            grabbed = time.time()  # the capture time: decoding comes later
            now = time.monotonic()
            if now >= self._next_at:
                self._next_at = max(self._next_at + self._period, now)
                ok, frame = cap.retrieve()
                if not ok:
                    self._lost("a frame could not be decoded")
                    return None
                return np.asarray(frame, np.uint8), grabbed

    def _next_from_file(self, cap: cv2.VideoCapture) -> Frame | None:
        video_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        skip = max(1, round(video_fps * self._period))
        for _ in range(skip - 1):
            if not cap.grab():
                break
        ok, frame = cap.read()
        if not ok:
            self.ended = True
            log.info("camera %s: end of the recording", self._shown)
            return None
        self._file_t += skip / video_fps
        return np.asarray(frame, np.uint8), self._file_start + self._file_t

    def _lost(self, why: str) -> None:
        log.warning("camera %s: %s; reopening", self._shown, why)
        if self._cap is not None:
            self._cap.release()
        self._cap = None
        self._retry_at = time.monotonic() + self._backoff.next_delay()

    def done(self) -> None:
        """Nothing to remember: a stream goes on from now."""

    def close(self) -> None:
        """Release the capture."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class HttpStillSource:
    """A camera that serves a JPEG at a URL: fetched every ``interval_s``."""

    def __init__(
        self,
        url: str,
        interval_s: float,
        *,
        timeout_s: float = 10.0,
        clock: CaptureClock | None = None,
    ) -> None:
        self._url = url
        self._clock = clock
        self._shown = shown(url)
        self._interval = interval_s
        self._next_at = 0.0
        self._http = httpx.Client(timeout=timeout_s, follow_redirects=True)

    def next(self) -> Frame | None:
        """The picture, when it is time for the next one and the camera answers."""
        now = time.monotonic()
        if now < self._next_at:
            return None
        self._next_at = now + self._interval
        asked = time.time()
        try:
            r = self._http.get(self._url)
            r.raise_for_status()
        except httpx.HTTPStatusError as exc:  # its text names the URL, password and all
            why = f"HTTP {exc.response.status_code}"
            log.warning("camera %s: %s; trying again in %.0f s", self._shown, why, self._interval)
            return None
        except httpx.HTTPError as exc:
            why = type(exc).__name__
            log.warning("camera %s: %s; trying again in %.0f s", self._shown, why, self._interval)
            return None
        frame = decode_image(r.content)
        if frame is None:
            log.warning(
                "camera %s: the answer is not an image (%d bytes)", self._shown, len(r.content)
            )
            return None
        if self._clock is None:
            return frame, asked
        return frame, self._clock.time_of(r.content, "", asked)

    def done(self) -> None:
        """Nothing to remember: the next picture is the camera's current one."""

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()


class FolderSource:
    """Images a camera drops into a folder, each once, in name order (names sort by time).

    With ``position``, the name of the last image whose outputs reached the outbox is kept
    there (replaced atomically), so a restart neither repeats nor skips a picture.
    """

    def __init__(
        self, folder: Path, position: Path | None = None, *, clock: CaptureClock | None = None
    ) -> None:
        self._folder = folder
        self._clock = clock
        self._position = position
        self._last = ""
        if position is not None:
            try:
                self._last = position.read_text(encoding="utf-8").strip()
            except FileNotFoundError:
                pass
            except (OSError, UnicodeDecodeError) as exc:
                log.warning("camera folder %s: position file unreadable (%s); from the start",
                            folder, exc)  # fmt: skip

    def next(self) -> Frame | None:
        """The next image after the last one handed on; None when there is none yet."""
        try:
            names = sorted(
                p.name
                for p in self._folder.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and p.name > self._last
            )
        except OSError as exc:
            log.warning("camera folder %s: %s", self._folder, exc)
            return None
        for name in names:
            path = self._folder / name
            try:
                mtime = path.stat().st_mtime
                data = path.read_bytes()
                frame = decode_image(data)
            except OSError as exc:
                log.warning("camera folder %s: %s", self._folder, exc)
                self._last = name
                continue
            if frame is None:
                if time.time() - mtime < _UPLOAD_GRACE_S:
                    return None  # probably still being uploaded: look again later
                log.warning("camera folder %s: %s is not an image; skipped", self._folder, name)
                self._last = name
                continue
            self._last = name
            return frame, mtime if self._clock is None else self._clock.time_of(data, name, mtime)
        return None

    def done(self) -> None:
        """Remember the last image handed on (its outputs are in the outbox now)."""
        if self._position is not None and self._last:
            replace_durably(self._position, self._last.encode())

    def close(self) -> None:
        """Nothing to let go of."""


def decode_image(data: bytes) -> U8 | None:
    """A BGR image from JPEG/PNG bytes, or None if they are not one."""
    if not data:
        return None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if img is None else np.asarray(img, np.uint8)
