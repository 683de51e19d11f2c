"""Notifications through a real local HTTP server, on a controlled clock: who is told what,
once; flapping, digests, silences, inhibition, escalation; DingTalk and WeCom replies."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from villagewatch.alerts import AlertDatabase, AlertPolicy
from villagewatch.alerts.channels import build_channel, dingtalk_sign
from villagewatch.alerts.metrics import AlertMetrics
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.routing import Router
from villagewatch.alerts.sender import NotificationSender
from villagewatch.config import AlertsSettings, Village
from villagewatch.config.teams import (
    ChannelSettings,
    DingTalkChannel,
    Team,
    WebhookChannel,
    WeComChannel,
)
from villagewatch.transitions import AlertKey, Severity, Transition

from .webhook import Recorder, Reply

T0 = 1_795_000_000_000


def village() -> Village:
    return Village.model_validate(
        {
            "id": "v", "name": "东村", "town": "t", "town_name": "桥头镇",
            "grids": [{"id": "g1", "name": "第一网格", "team": {"channels": ["grid"]}}],
            "devices": [{"id": f"d-{i:03d}", "kind": "water_level", "grid": "g1"} for i in range(60)],
            "team": {"channels": ["village"]},
        }
    )  # fmt: skip


class World:
    """An alert store with routing, a sender, and a clock the test moves."""

    def __init__(self, tmp_path: Path, recorder: Recorder, **settings: Any) -> None:
        self.now = T0
        recorder.clock = lambda: self.now / 1000
        channels: dict[str, ChannelSettings] = settings.pop("channels", None) or {
            name: WebhookChannel.model_validate(
                {
                    "kind": "webhook",
                    "url": f"http://127.0.0.1:{recorder.port}/{name}",
                    "locale": "en",
                }
            )
            for name in ("grid", "village", "town")
        }
        self.settings = AlertsSettings(
            channels=channels, towns={"t": Team(channels=["town"])}, **settings
        )
        self.store = AlertDatabase(
            tmp_path / "alerts.db",
            notifier=Notifier(Router([village()], self.settings.towns), self.settings),
        )
        self.policy = AlertPolicy(
            flap_count=self.settings.flap_count, flap_window_s=self.settings.flap_window_s
        )
        self.sender: NotificationSender | None = None
        self.metrics = AlertMetrics(self.store)
        self._ids = itertools.count()

    def event(
        self, action: Literal["fire", "update", "clear"], device: str = "d-000",
        severity: str = "yellow", *,
        kind: str = "level", detector: str = "water_level", details: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        key = AlertKey(detector, "v", device, kind)
        t = Transition(
            key, action, Severity(severity), self.now, f"{device} {kind} {severity}", details or {}
        )
        self.store.apply(t, f"t{next(self._ids)}", self.policy, self.now)

    def advance(self, seconds: float, step_s: float = 1) -> None:
        """Time passes in steps: the engine ticks and the sender sends at each."""

        async def run() -> None:
            async with httpx.AsyncClient() as client:
                channels = {
                    cid: build_channel(cid, cfg, client)
                    for cid, cfg in self.settings.channels.items()
                }
                if self.sender is None:
                    self.sender = NotificationSender(
                        store=self.store, channels=channels, now_ms=lambda: self.now,
                        monotonic=lambda: self.now / 1000, metrics=self.metrics,
                    )  # fmt: skip
                self.sender._channels = channels
                end = self.now + int(seconds * 1000)
                while True:
                    self.store.tick(self.now)
                    await self.sender.send_due()
                    if self.now >= end:
                        return
                    self.now = min(end, self.now + int(step_s * 1000))

        asyncio.run(run())

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def texts(recorder: Recorder, to: str | None = None) -> list[str]:
    return [r.body["text"] for r in recorder.accepted() if to is None or r.path == f"/{to}"]


def test_fire_worse_acknowledge_resolve_each_told_once(tmp_path: Path, recorder: Recorder) -> None:
    w = World(tmp_path, recorder)
    w.event("fire", severity="yellow")
    w.advance(10)
    assert texts(recorder) == [], "waits for the group window"
    w.advance(30)
    w.event("update", severity="orange")
    w.advance(40)
    w.store.acknowledge(1, "wang", w.now)
    w.advance(40)
    w.event("clear", severity="orange")
    w.advance(2 * 3600, step_s=60)  # long after: no escalation of an acknowledged alert
    assert texts(recorder) == [
        "[黄色 yellow] #1 d-000 level yellow — 第一网格",
        "[橙色 orange] #1 worse: d-000 level orange — 第一网格",
        "[橙色 orange] #1 acknowledged by wang: d-000 level orange — 第一网格",
        "[橙色 orange] #1 resolved: d-000 level orange — 第一网格",
    ]


def test_a_flapping_input_becomes_one_flapping_alert(tmp_path: Path, recorder: Recorder) -> None:
    w = World(tmp_path, recorder, flap_count=4, flap_window_s=600)
    for _ in range(8):  # fire for 20 s, quiet for 40 s, eight times
        w.event("fire")
        w.advance(20)
        w.event("clear")
        w.advance(40)
    w.advance(700, step_s=10)
    events = [t.split("] ", 1)[1] for t in texts(recorder)]
    assert events == [
        "#1 d-000 level yellow — 第一网格", "#1 resolved: d-000 level yellow — 第一网格",
        "#2 d-000 level yellow — 第一网格", "#2 resolved: d-000 level yellow — 第一网格",
        "#3 d-000 level yellow — 第一网格", "#3 resolved: d-000 level yellow — 第一网格",
        "#4 keeps coming and going (flapping): d-000 level yellow — 第一网格",
        "#4 resolved: d-000 level yellow — 第一网格",
    ]  # fmt: skip


def test_fifty_alerts_in_one_place_within_30_s_are_one_digest(
    tmp_path: Path, recorder: Recorder
) -> None:
    w = World(tmp_path, recorder)
    for i in range(50):
        w.event("fire", f"d-{i:03d}")
        w.advance(0.5, step_s=0.5)
    w.advance(120)
    (digest,) = recorder.accepted()
    assert digest.body["title"] == "50 alerts: level fired — grid:v/g1"
    assert len(digest.body["alerts"]) == 50 and digest.body["text"].count("\n") == 49


def test_a_silence_holds_back_one_devices_notifications(tmp_path: Path, recorder: Recorder) -> None:
    w = World(tmp_path, recorder, group_wait_s=0)
    w.store.add_silence(
        {"subject": "d-001"}, w.now, w.now + 3_600_000, created_by="li", reason="gauge cleaning",
        now_ms=w.now,
    )  # fmt: skip
    w.event("fire", "d-000", "red")
    w.event("fire", "d-001", "red")
    w.advance(60)
    assert texts(recorder) == ["[红色 red] #1 d-000 level red — 第一网格"]
    assert [n["state"] for n in w.store.notifications(2)] == ["silenced"]
    assert w.store.get(2) is not None and w.store.get(2).state.value == "firing"  # type: ignore[union-attr]


def test_link_down_inhibits_forty_offline_alerts(tmp_path: Path, recorder: Recorder) -> None:
    w = World(tmp_path, recorder, group_wait_s=0)
    w.event("fire", "v", "orange", kind="link_down", detector="offline")
    for i in range(40):
        w.event("fire", f"d-{i:03d}", "yellow", kind="device_offline", detector="offline")
    w.advance(60)
    assert texts(recorder) == ["[橙色 orange] #1 v link_down orange — 东村"]
    states = {n["state"] for a in range(2, 42) for n in w.store.notifications(a)}
    assert states == {"inhibited"}


def test_escalation_climbs_once_per_level_at_the_configured_time(
    tmp_path: Path, recorder: Recorder
) -> None:
    w = World(tmp_path, recorder, group_wait_s=0, escalate_after_s=900)
    w.event("fire", severity="orange")
    w.advance(899, step_s=1)
    assert [r.path for r in recorder.accepted()] == ["/grid"]
    w.advance(1)
    assert [r.path for r in recorder.accepted()] == ["/grid", "/village"], "at 900 s, not before"
    w.advance(900, step_s=10)
    w.advance(3 * 3600, step_s=60)
    assert [r.path for r in recorder.accepted()] == ["/grid", "/village", "/town"], "once per level"
    w.store.acknowledge(1, "zhao", w.now)
    w.advance(10)
    assert sorted(r.path for r in recorder.accepted()[3:]) == ["/grid", "/town", "/village"]
    audit = [e.action for e in w.store.audit(1)]
    assert audit.count("escalated") == 2


def _robot(recorder: Recorder, failures: dict[int, Reply]) -> None:
    """Answer the n-th request (from 0) with failures[n], otherwise ok."""
    count = itertools.count()
    recorder.answer = lambda _body: failures.get(next(count), (200, {"errcode": 0, "errmsg": "ok"}))


@pytest.mark.parametrize(
    ("kind", "failures"),
    [
        pytest.param(
            "dingtalk",
            {0: (200, {"errcode": 310000, "errmsg": "sign not match"}),
             3: (200, {"errcode": 130101, "errmsg": "send too fast"}),
             4: (500, {}), 7: (200, {"errcode": 130101, "errmsg": "send too fast"})},
            id="dingtalk-errcode-throttle-5xx",
        ),
        pytest.param(
            "wecom",
            {1: (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
             2: (200, {"errcode": 93000, "errmsg": "invalid webhook url"}), 5: (429, {})},
            id="wecom-errcode-throttle-429",
        ),
    ],
)  # fmt: skip
def test_robots_get_every_alert_once_and_never_over_their_rate(
    tmp_path: Path, recorder: Recorder, kind: str, failures: dict[int, Reply]
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("SECabc123\n")
    url = f"http://127.0.0.1:{recorder.port}/robot/send?access_token=t"
    channel: ChannelSettings = (
        DingTalkChannel(kind="dingtalk", url=url, secret_file=secret)  # type: ignore[arg-type]
        if kind == "dingtalk"
        else WeComChannel(kind="wecom", url=url)  # type: ignore[arg-type]
    )
    w = World(tmp_path, recorder, channels={"grid": channel})
    _robot(recorder, failures)
    for i in range(30):  # thirty kinds in one place: thirty messages, no digest
        w.event("fire", "d-000", "red", kind=f"k{i}")
    w.advance(600)
    got = [
        r.body["markdown"].get("text") or r.body["markdown"]["content"] for r in recorder.accepted()
    ]
    assert sorted(got) == sorted(set(got)), "nothing twice"
    for i in range(30):
        assert sum(f"level k{i} " in g or f" k{i} red" in g for g in got) == 1, i
    assert not w.store.due_notifications(w.now + 10**9), "nothing left queued"
    times = [r.at for r in recorder.received]
    assert max(sum(1 for u in times if t - 60 < u <= t) for t in times) <= 20, "over the rate"
    if kind == "dingtalk":
        for r in recorder.received:
            ts = int(r.query["timestamp"][0])
            assert (
                httpx.URL(f"?s={dingtalk_sign('SECabc123', ts)}").params["s"] == r.query["sign"][0]
            )
    failed = [e for a in range(1, 31) for e in w.store.audit(a) if e.action == "notify_failed"]
    assert len(failed) == len(failures), "each failure is in its alert's history"
    assert w.metric(
        "villagewatch_alerts_notifications_total", channel="grid", result="failed"
    ) == len(failures)
    assert w.metric(
        "villagewatch_alerts_notifications_total", channel="grid", result="sent"
    ) == len(got)
    assert w.metric("villagewatch_alerts_outbox_queued") == 0
