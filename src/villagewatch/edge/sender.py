"""The agent's sending side: outbox records → contract messages → link, and what the broker
answers → outbox (acknowledged, held, or dead-lettered).

Lanes in order (an SOS made during a backlog leaves before that backlog), records grouped per
device into messages of at most ``batch_max`` items, at most ``max_inflight`` messages
unacknowledged. A record older than ``live_window_s`` when sent (made during an outage, or
before a restart) is ``historical`` — backlog — and backlog is paced at ``drain_rate``
readings a second so a village coming back does not flatten the broker.

A record leaves the outbox only when the broker took it. One it refused is held and tried
again, alone (so it cannot keep others from leaving), with a growing delay; or, when no retry
can help, moved to the dead-letter file (``refusals.py``). Refusals are counted per lane and
reason and logged once per device and reason.

Alarms never wait for the clock: an event made while the clock is not trusted leaves without
a device time, with its age by the monotonic clock (``age_ms``), and the centre stamps it; it
keeps that form when resent, so every copy is the same item to the centre. Telemetry waits
for a trusted clock and leaves with corrected times: readings are stored and compared by their
time, and a centre-stamped time costs the store a look-up per write to find copies. Evidence
pictures carry no time and never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from villagewatch.contract import Channel, encode_items, topic_for
from villagewatch.contract.payloads import MAX_AGE_MS
from villagewatch.edge.clock import EdgeClock
from villagewatch.edge.lanes import Entry, Lane
from villagewatch.edge.link import EdgeLink, TooLargeForBroker
from villagewatch.edge.metrics import EdgeMetrics
from villagewatch.edge.outbox import Outbox
from villagewatch.edge.refusals import TOO_LARGE, Refusal, refusal_of
from villagewatch.edge.settings import EdgeSettings

__all__ = ["Sender"]

log = logging.getLogger(__name__)

_SEND_IDLE_S = 0.02
_EVIDENCE_BATCH = 4  # snapshots of up to 200 KB: a few at a time, not batch_max of them


@dataclass(slots=True)
class _Sent:
    lane: Lane
    recnos: list[int]
    items: int
    device: str
    topic: str
    size: int


class Sender:
    """Sends an agent's outbox over its link (see the module doc)."""

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        outbox: Outbox,
        link: EdgeLink,
        clock: EdgeClock,
        metrics: EdgeMetrics,
        on_disk_error: Callable[[str, OSError], None],
    ) -> None:
        self.settings = settings
        """The agent's settings now (a remote config replaces them)."""
        self._outbox, self._link, self._clock, self._metrics = outbox, link, clock, metrics
        self.machine = ""
        """This machine boot's id (the agent sets it when it opens): a record stamped on
        another boot has no monotonic age here."""
        self._on_disk_error = on_disk_error
        self._sent: dict[int, _Sent] = {}
        self._tokens = float(settings.drain_rate)
        self._tokens_at = time.monotonic()
        self._wake = asyncio.Event()
        self.refused = {lane: dict[str, int]() for lane in Lane}
        """Records the broker refused, per lane and reason, since start."""
        self._told: set[tuple[str, str]] = set()  # (device, reason) logged

    async def run(self, stop: asyncio.Event) -> None:
        """Send while connected, until ``stop``."""
        while not stop.is_set():
            sent = 0
            if self._link.connected.is_set():
                sent = self._send_some()
            if not sent:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), _SEND_IDLE_S)
            else:
                await asyncio.sleep(0)

    def wake(self) -> None:
        """Something new may be sendable (records synced, an acknowledgement freed a slot)."""
        self._wake.set()

    def _send_some(self) -> int:
        """Send from the first lane with something to send; returns messages sent. Telemetry
        waits for a trusted clock; alarms and evidence do not."""
        if len(self._sent) >= self.settings.max_inflight or self._pacing_wait() > 0:
            return 0
        trusted = self._clock.trusted()
        for lane in Lane:
            if lane is Lane.TELEMETRY and not trusted:
                continue
            count = _EVIDENCE_BATCH if lane is Lane.EVIDENCE else self.settings.batch_max
            entries = self._outbox.read(lane, count)
            if entries:
                return self._publish(lane, entries)
        return 0

    def _publish(self, lane: Lane, entries: list[Entry]) -> int:
        if lane is Lane.EVIDENCE:
            return self._publish_evidence(entries)
        # one message per device, channel and boot (the boot the records were made in: a
        # resend after a restart keeps its dedupe key), live or backlog; a record the broker
        # refused before goes alone
        groups: dict[tuple[str, str, str, bool, int], list[tuple[int, dict[str, Any]]]] = {}
        now_mono = self._clock.mono_ms()
        for e in entries:
            rec = orjson.loads(e.payload)
            item, historical = self._item(rec, now_mono)
            key = (rec["d"], rec["c"], rec["b"], historical, e.recno if e.retried else -1)
            groups.setdefault(key, []).append((e.recno, item))
        messages = 0
        for (device, channel, boot, historical, _), items in groups.items():
            kind = Channel(channel)
            payload = encode_items(
                device=device, boot=boot, channel=kind, items=[i for _, i in items],
                historical=historical,
            )  # fmt: skip
            topic = topic_for(self.settings.village, device, kind)
            sent = _Sent(lane, [r for r, _ in items], len(items), device, topic, len(payload))
            outcome = self._send(sent, payload)
            if outcome == "link down":
                return messages
            if outcome == "refused":
                continue
            if historical:
                self._tokens -= len(items)
            self._metrics.sent.labels(lane.name.lower(), str(historical).lower()).inc(len(items))
            messages += 1
        return messages

    def _publish_evidence(self, entries: list[Entry]) -> int:
        """One message per snapshot: the JPEG itself on ``…/<device>/evidence/<id>``."""
        messages = 0
        for e in entries:
            header, _, jpeg = e.payload.partition(b"\n")
            rec = orjson.loads(header)
            topic = topic_for(
                self.settings.village, rec["d"], Channel.EVIDENCE, evidence_id=rec["x"]["id"]
            )
            outcome = self._send(
                _Sent(Lane.EVIDENCE, [e.recno], 1, rec["d"], topic, len(jpeg)), jpeg
            )
            if outcome == "link down":
                return messages
            if outcome == "refused":
                continue
            self._metrics.sent.labels("evidence", "false").inc()
            messages += 1
        return messages

    def _send(self, sent: _Sent, payload: bytes) -> Literal["sent", "refused", "link down"]:
        """Publish one message. Refused: over the broker's announced size, not sent. Link down:
        everything read is read again later."""
        try:
            mid = self._link.publish(sent.topic, payload)
        except TooLargeForBroker as exc:
            sent.size = exc.size
            self._refused(sent, TOO_LARGE)  # as the broker would have, without losing the link
            return "refused"
        if mid is None:
            self._outbox.rewind()
            return "link down"
        self._sent[mid] = sent
        return "sent"

    def _item(self, rec: dict[str, Any], now_mono: int) -> tuple[dict[str, Any], bool]:
        same_machine = rec["mb"] == self.machine
        age_ms = now_mono - rec["m"] if same_machine else None
        historical = age_ms is None or age_ms > self.settings.live_window_s * 1000
        item: dict[str, Any] = {"seq": rec["s"]}
        if rec["t"] is not None:
            item["ts"] = rec["t"]
        elif rec["c"] == "event":
            # an alarm made before the clock was trusted never waits for it, and never gets a
            # ts when resent: every copy must be the same item to the centre, which stamps it
            # receive time less its age (unknown across a reboot of the box, or past a year)
            if age_ms is not None and age_ms <= MAX_AGE_MS:
                item["age_ms"] = age_ms
        else:  # made before the clock was trusted, sent now that it is (_send_some): correct
            # it (made before a reboot: no better bound than this machine boot's start)
            item["ts"] = self._clock.wall_at(rec["m"] if same_machine else 0)
        item["clock"] = "synced" if rec["t"] is not None else "unsynced"
        return {**item, **rec["x"]}, historical

    def _pacing_wait(self) -> float:
        now = time.monotonic()
        rate = self.settings.drain_rate
        self._tokens = min(float(rate), self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        return 0.0 if self._tokens > 0 else -self._tokens / rate

    # --- what the broker answered -------------------------------------------------------------

    def acked(self, mid: int, code: int) -> None:
        """The broker's PUBACK for ``mid`` with its reason code."""
        sent = self._sent.pop(mid, None)
        if sent is None:
            return
        refusal = refusal_of(code)
        if refusal is not None:
            self._refused(sent, refusal)
        else:
            self._outbox.ack(sent.lane, sent.recnos)
            self._metrics.acked.labels(sent.lane.name.lower()).inc(sent.items)
            told = {(d, r) for d, r in self._told if d == sent.device}
            if told:
                log.info("The broker takes %s's records again", sent.device)
                self._told -= told
        self._wake.set()

    def _refused(self, sent: _Sent, refusal: Refusal) -> None:
        """The broker refused a message: its records wait to be tried again (alone), or go to
        the dead-letter file when no retry can help."""
        lane = sent.lane.name.lower()
        counts = self.refused[sent.lane]
        counts[refusal.reason] = counts.get(refusal.reason, 0) + sent.items
        self._metrics.refused.labels(lane, refusal.reason).inc(sent.items)
        fate = "they wait in the outbox and are tried again, alone, every few minutes at most"
        if refusal.permanent and len(sent.recnos) == 1:
            note = {"topic": sent.topic, "reason": refusal.reason, "detail": refusal.says}
            try:
                self._outbox.dead_letter(sent.lane, sent.recnos, note)
            except OSError as exc:
                self._on_disk_error("dead letters", exc)
                self._outbox.hold(sent.lane, sent.recnos)
            else:
                fate = f"moved to the dead-letter file {self._outbox.dead_letters.path}"
        else:  # for now; or a batch refused whole, whose records may pass alone
            self._outbox.hold(sent.lane, sent.recnos)
        if (sent.device, refusal.reason) not in self._told:
            self._told.add((sent.device, refusal.reason))
            size = f" ({sent.size} bytes)" if refusal is TOO_LARGE else ""
            log.warning(
                "The broker refused %s's %s on %s: %s%s — %s",
                sent.device, lane, sent.topic, refusal.says, size, fate,
            )  # fmt: skip

    def link_up(self) -> None:
        """Connected (again): whatever was in flight is read again."""
        self._outbox.rewind()
        self._wake.set()

    def link_down(self) -> None:
        """The link went: nothing in flight will be acknowledged."""
        self._sent.clear()
        self._outbox.rewind()
