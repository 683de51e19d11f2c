"""The live feed of a real ``villagewatch api``: each user gets the changes of their places,
and a client that reconnects with Last-Event-ID gets what it missed."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api_deployment import ApiDeployment, running_api
from villagewatch.alerts.resolution import ResolutionReason
from villagewatch_dev.testing import fire_alert

Event = tuple[str, str, dict[str, object]]


def listen(api: ApiDeployment, user: str, last_event_id: str | None = None) -> queue.Queue[Event]:
    """Events of ``user``'s stream (id, type, data) as they come, read in a thread."""
    out: queue.Queue[Event] = queue.Queue()
    headers = {"Authorization": f"Bearer {api.token(user)}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id

    def read() -> None:
        url = f"{api.base}/api/alerts/stream"
        fields: dict[str, str] = {}
        try:
            with httpx.stream("GET", url, headers=headers, timeout=30) as reply:
                for line in reply.iter_lines():
                    if line == "":
                        if "event" in fields:
                            data = json.loads(fields["data"])
                            out.put((fields["id"], fields["event"], data))
                        fields = {}
                    elif not line.startswith(":"):
                        key, _, value = line.partition(": ")
                        fields[key] = value
        except httpx.HTTPError:
            return  # the API stopped at the end of the test

    threading.Thread(target=read, daemon=True).start()
    return out


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiDeployment]:
    with running_api(tmp_path, readings=False) as running:
        yield running


def next_alert(events: queue.Queue[Event]) -> Event:
    """The next ``alert`` event (10 s at most)."""
    while True:
        event = events.get(timeout=10)
        if event[1] == "alert":
            return event


def test_each_user_gets_the_changes_of_their_places(api: ApiDeployment) -> None:
    op, g3 = listen(api, "op"), listen(api, "g3")
    assert op.get(timeout=10)[1] == "hello" and g3.get(timeout=10)[1] == "hello"
    river = fire_alert(api.alerts, village="dongcun", subject="wl-bridge", kind="level",
                       severity="red")  # fmt: skip
    lock = fire_alert(api.alerts, village="dongcun", subject="lock-a01", kind="forced_open",
                      detector="smart_lock")  # fmt: skip
    assert next_alert(op)[2]["id"] == river.id
    assert next_alert(op)[2]["id"] == lock.id
    assert next_alert(g3)[2]["id"] == lock.id, "the river alert is not in g3"
    api.alerts.acknowledge(lock.id, "someone", int(time.time() * 1000))
    changed = next_alert(g3)[2]
    assert changed["id"] == lock.id and changed["state"] == "acknowledged"
    assert changed["acknowledged_by"] == "someone"


def test_a_client_that_reconnects_gets_what_it_missed(api: ApiDeployment) -> None:
    first = listen(api, "op")
    assert first.get(timeout=10)[1] == "hello"
    seen = fire_alert(api.alerts, village="dongcun", subject="wl-bridge", kind="level")
    last_id, _, data = next_alert(first)
    assert data["id"] == seen.id
    # the console lost its connection; meanwhile two changes
    missed = fire_alert(api.alerts, village="dongcun", subject="sos-square", kind="sos",
                        detector="sos", severity="red")  # fmt: skip
    api.alerts.resolve(
        seen.id, "op", int(time.time() * 1000), "done", ResolutionReason.HANDLED_ON_SITE
    )
    again = listen(api, "op", last_event_id=last_id)
    assert again.get(timeout=10)[1] == "hello"
    got = {}
    for _ in range(2):
        data = next_alert(again)[2]
        got[data["id"]] = data["state"]
    assert got == {missed.id: "firing", seen.id: "resolved"}


@pytest.mark.parametrize(
    "last_event_id", ["9" * 5000, "99999999999999999999999", "²", "-1"], ids=str.__len__
)
def test_a_last_event_id_this_api_never_sent_is_ignored(
    api: ApiDeployment, last_event_id: str
) -> None:
    """Not an audit id (too long for an int, beyond SQLite, not ASCII digits): the stream
    starts as a fresh one instead of failing."""
    headers = {
        b"Authorization": f"Bearer {api.token('op')}".encode(),
        b"Last-Event-ID": last_event_id.encode("latin-1"),  # as raw bytes, as any client may
    }
    with httpx.stream("GET", f"{api.base}/api/alerts/stream", headers=headers, timeout=30) as r:
        assert r.status_code == 200
        assert next(r.iter_lines()).startswith("id: ")
