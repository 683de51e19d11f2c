"""Writes held open — by another process, or inside a store's own transaction — for tests of
what must not wait on them."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from villagewatch.alerts.lifecycle import Alert
from villagewatch.alerts.notify import Draft, Notifier
from villagewatch.alerts.routing import Router
from villagewatch.config import AlertsSettings

T = TypeVar("T")

BOUND_S = 20
"""How long a test waits for a call that must not wait on the writer (far below SQLite's
usual 30 s busy wait, far above what a call takes on a loaded machine)."""

_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute(sys.argv[2])
print("held", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


@contextmanager
def write_lock_held(path: Path, statement: str = "SELECT 1") -> Iterator[None]:
    """While the block runs, another process is inside ``BEGIN IMMEDIATE`` on ``path`` and has
    run ``statement`` (an uncommitted change, if it writes); it rolls back afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), statement],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "held"
        yield
    finally:
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(BOUND_S)
        proc.stdout.close()


def within_bound(fn: Callable[[], T]) -> T:
    """``fn()`` on another thread; TimeoutError if it does not return within BOUND_S (so a
    call that waits on a writer fails the test instead of hanging it)."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(fn).result(timeout=BOUND_S)
    finally:
        pool.shutdown(wait=False)


class SlowNotifier(Notifier):
    """Holds the alert store's write transaction that asks it for drafts (a fire, an
    acknowledgement) until ``release`` is set; ``entered`` tells that one is held."""

    def __init__(self) -> None:
        super().__init__(Router([], {}), AlertsSettings())
        self.entered = threading.Event()
        self.release = threading.Event()

    def drafts(
        self, alert: Alert, event: str, now_ms: int, *, held: str | None = None, by: str = ""
    ) -> list[Draft]:
        """No drafts, after waiting for ``release``."""
        self.entered.set()
        self.release.wait(BOUND_S)
        return []
