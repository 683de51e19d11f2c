# ruff: noqa: RUF001 - the Chinese texts use full-width punctuation on purpose
"""Notifications in each channel's language: the alert's message from its key, the severity,
what happened and the digest's title; villages by their names; an alert without a key keeps
its stored text."""

from __future__ import annotations

from pathlib import Path

from villagewatch.alerts import AlertDatabase, AlertPolicy
from villagewatch.alerts.notify import Notifier
from villagewatch.alerts.routing import Router
from villagewatch.alerts.sender import compose
from villagewatch.catalogue import Said
from villagewatch.config import AlertsSettings, Village
from villagewatch.transitions import AlertKey, Severity, Transition

NOW = 1_800_000_000_000


def store(tmp_path: Path) -> AlertDatabase:
    village = Village.model_validate(
        {"id": "dongcun", "name": "东村", "town": "t", "team": {"channels": ["zh", "en"]},
         "grids": [{"id": "g1", "name": "第一网格", "team": {"channels": ["zh", "en"]}}],
         "devices": [{"id": "wl-1", "kind": "water_level", "grid": "g1", "name": "石桥水位计"}]}
    )  # fmt: skip
    hook = {"kind": "webhook", "url": "http://127.0.0.1:9/"}
    settings = AlertsSettings.model_validate(
        {"channels": {"zh": hook, "en": {**hook, "locale": "en"}}, "group_wait_s": 0}
    )
    notifier = Notifier(Router([village], {}), settings)
    return AlertDatabase(tmp_path / "a.db", notifier=notifier)


def texts(s: AlertDatabase) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"zh": [], "en": []}
    for n in s.notifications():
        out[n["channel"]].append(n["text"])
    return out


def test_each_channel_reads_its_own_language(tmp_path: Path) -> None:
    s = store(tmp_path)
    said = Said(
        "water_level.above_warning", {"label": "石桥水位计", "value": "205", "warning": "200"}
    )
    key = AlertKey("water_level", "dongcun", "wl-1", "level")
    fire = Transition(
        key, "fire", Severity.YELLOW, NOW, said.text, message_key=said.key, params=said.params
    )
    alert = s.apply(fire, "t1", AlertPolicy(), NOW)
    assert alert is not None
    s.acknowledge(alert.id, "wang", NOW + 1000)
    got = texts(s)
    assert got["zh"] == [
        "[黄色] #1 石桥水位计：水位 205 厘米，已达警戒水位（200 厘米） — 第一网格",
        "[黄色] #1 wang 已确认：石桥水位计：水位 205 厘米，已达警戒水位（200 厘米） — 第一网格",
    ]
    assert got["en"][0] == (
        "[黄色 yellow] #1 石桥水位计: water at 205 cm, above the warning level (警戒水位) (200 cm)"
        " — 第一网格"
    )
    (zh_group,) = [g for g in s.due_notifications(NOW + 10**6) if g[0].channel == "zh"][:1]
    assert compose([*zh_group, *zh_group])[0] == "2 条水位告警 — 第一网格"
    s.close()


def test_a_village_by_its_name_and_an_alert_without_a_key_by_its_text(tmp_path: Path) -> None:
    s = store(tmp_path)
    said = Said("offline.village_down", {"village": "dongcun", "count": "9", "total": "12"})
    down = Transition(
        AlertKey("offline", "dongcun", "dongcun", "link_down"), "fire", Severity.RED, NOW,
        said.text, message_key=said.key, params=said.params,
    )  # fmt: skip
    old = Transition(AlertKey("sos", "dongcun", "wl-1", "sos"), "fire", Severity.RED, NOW, "旧文本")
    s.apply(down, "t1", AlertPolicy(), NOW)
    s.apply(old, "t2", AlertPolicy(), NOW)
    got = texts(s)
    assert got["zh"][0] == "[红色] #1 东村：12 台设备中 9 台同时失联，可能是网络或供电故障 — 东村"
    assert got["en"][0].startswith("[红色 red] #1 东村: 9 of 12 devices went silent together")
    assert got["zh"][1] == "[红色] #2 旧文本 — 第一网格" and got["en"][1].endswith(
        "#2 旧文本 — 第一网格"
    )
    s.close()
