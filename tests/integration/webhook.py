"""A real HTTP server on a free loopback port that records what it is sent, and answers as
told: like a JSON webhook, a DingTalk or WeCom robot (errcode in the body), or broken."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Reply = tuple[int, dict[str, Any]]


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any]
    reply: Reply
    at: float = 0.0
    """The test's clock when it arrived."""


@dataclass
class Recorder:
    """What the server got; ``answer(body) -> (status, json)`` decides each reply."""

    answer: Callable[[dict[str, Any]], Reply] = lambda _body: (200, {"errcode": 0, "errmsg": "ok"})
    clock: Callable[[], float] = lambda: 0.0
    received: list[Received] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/robot/send?access_token=t"

    def accepted(self) -> list[Received]:
        """Requests answered 2xx with errcode 0 (what the platform took)."""
        return [
            r for r in self.received
            if 200 <= r.reply[0] < 300 and r.reply[1].get("errcode", 0) == 0
        ]  # fmt: skip


@contextmanager
def recording_server(recorder: Recorder) -> Iterator[Recorder]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            reply = recorder.answer(body)
            parts = urlsplit(self.path)
            with recorder.lock:
                recorder.received.append(
                    Received(parts.path, parse_qs(parts.query), body, reply, recorder.clock())
                )
            data = json.dumps(reply[1]).encode()
            self.send_response(reply[0])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            # the client may have died waiting (a test killed it): it never saw the reply
            with contextlib.suppress(BrokenPipeError):
                self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
