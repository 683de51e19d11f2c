"""``villagewatch edge status``: what the agent writes to its ``status.json`` every second, and
how a maintainer reads it on the box."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from villagewatch.edge.agent import EdgeAgent

__all__ = ["render", "snapshot"]


def render(status: dict[str, Any], now: float | None = None) -> list[str]:
    """The lines `villagewatch edge status` prints for ``status`` (what ``EdgeAgent.status``
    wrote)."""
    now = time.time() if now is None else now
    age = now - status["at"]
    stale = f"  (written {age:.0f} s ago: the agent is not running?)" if age > 10 else ""
    last = status["last_ack"]
    version = status.get("config_version")
    lines = [
        f"agent {status['agent']}  boot {status['boot']}  pid {status['pid']}{stale}",
        f"link {status['link']}, clock {status['clock']}, last acknowledgement "
        + (f"{now - last:.0f} s ago" if last else "never")
        + (f", remote config version {version}" if version is not None else ", edge.yaml alone"),
    ]
    for lane, s in status["lanes"].items():
        oldest = f"{s['oldest_s']:.0f} s" if s["oldest_s"] is not None else "-"
        held = f"  ({s['held']} refused, tried again)" if s.get("held") else ""
        lines.append(
            f"  {lane:10} {s['pending']:>9} waiting  {s['bytes'] / 1e6:8.1f} MB"
            f"  oldest {oldest:>8}  dropped {s['dropped']}{held}"
        )
    if status.get("clock_problem"):
        lines.append(f"  clock: {status['clock_problem']}")
    for lane, reasons in status.get("refused", {}).items():
        told = ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items()))
        lines.append(f"  refused by the broker ({lane}): {told}")
    letters = status.get("dead_letters")
    if letters and (letters["records"] or letters["dropped"]):
        dropped = f" ({letters['dropped']} older ones deleted)" if letters["dropped"] else ""
        lines.append(f"  dead letters: {letters['records']} in {letters['file']}{dropped}")
    disk = status.get("disk")
    if disk:
        free = disk["free_bytes"]
        lines.append(
            "  disk: " + (f"{free / 1e6:.1f} MB free" if free is not None else "free space unknown")
            + (f", {disk['sync_failures']} failed syncs" if disk["sync_failures"] else "")
            + (f", last error {disk['last_error']}" if disk["last_error"] else "")
        )  # fmt: skip
        lost = {lane: n for lane, n in disk["unwritable"].items() if n}
        if lost:
            told = ", ".join(f"{lane} {n}" for lane, n in lost.items())
            lines.append(f"  lost, could not be queued on the disk: {told}")
    if status["corrupt"]:
        lines.append(f"  damaged records skipped at open: {status['corrupt']}")
    return lines


def snapshot(agent: EdgeAgent) -> dict[str, Any]:
    """What `villagewatch edge status` shows of ``agent``, as the agent writes it to its
    ``status.json`` every second."""
    stats = agent.outbox.stats()
    letters = agent.outbox.dead_letters
    return {
        "agent": agent.settings.id,
        "boot": agent.boot,
        "pid": os.getpid(),
        "at": time.time(),
        "link": "connected" if agent.link.connected.is_set() else "disconnected",
        "clock": "trusted" if agent.clock.trusted() else "not trusted",
        "clock_problem": agent.clock.problem(),
        "last_ack": agent.link.last_ack_s,
        "lanes": {
            lane.name.lower(): {
                "pending": s.pending,
                "held": s.held,
                "bytes": s.bytes,
                "oldest_s": s.oldest_s,
                "dropped": agent.outbox.dropped[lane],
            }
            for lane, s in stats.items()
        },
        "refused": {
            lane.name.lower(): dict(counts)
            for lane, counts in agent.sender.refused.items()
            if counts
        },
        "dead_letters": {
            "records": letters.records,
            "dropped": letters.dropped,
            "file": str(letters.path),
        },
        "disk": {
            "free_bytes": agent.outbox.free_bytes(),
            "sync_failures": agent.sync_failures,
            "last_error": agent.disk_error,
            "unwritable": {lane.name.lower(): n for lane, n in agent.unwritable.items()},
        },
        "corrupt": agent.outbox.corrupt,
        "config_version": agent.applied.version if agent.applied else None,
    }
