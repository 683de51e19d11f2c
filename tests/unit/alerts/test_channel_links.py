"""DingTalk and WeCom messages link each alert to the console (``alerts.console_url``), where a
grid leader's phone opens it after one login; without the setting they carry no link."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from villagewatch.alerts.channels import alert_links, build_channel
from villagewatch.config import AlertsSettings
from villagewatch.config.teams import ChannelSettings, DingTalkChannel, WeComChannel

DINGTALK = DingTalkChannel(kind="dingtalk", url="https://oapi.invalid/robot/send?access_token=t")  # type: ignore[arg-type]
WECOM = WeComChannel(kind="wecom", url="https://qyapi.invalid/webhook/send?key=k")  # type: ignore[arg-type]


def _sent(cfg: ChannelSettings, console_url: str | None, alerts: list[dict[str, Any]]) -> str:
    """The markdown text one send posts to the robot."""
    bodies: list[dict[str, Any]] = []

    def reply(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"errcode": 0})

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as client:
            channel = build_channel("c", cfg, client, console_url=console_url)
            await channel.send("title", "[红色 red] #7 SOS — 第一网格", alerts)

    asyncio.run(go())
    [body] = bodies
    markdown = body["markdown"]
    return str(markdown.get("text") or markdown.get("content"))


@pytest.mark.parametrize("cfg", [DINGTALK, WECOM], ids=["dingtalk", "wecom"])
def test_a_message_links_its_alert_to_the_console(cfg: ChannelSettings) -> None:
    text = _sent(cfg, "https://vw.example.cn/", [{"alert": 7, "severity": "red", "text": "x"}])
    assert "[红色 red] #7 SOS — 第一网格" in text
    assert "(https://vw.example.cn/console/#alert/7)" in text


@pytest.mark.parametrize("cfg", [DINGTALK, WECOM], ids=["dingtalk", "wecom"])
def test_without_a_console_address_a_message_has_no_link(cfg: ChannelSettings) -> None:
    text = _sent(cfg, None, [{"alert": 7, "severity": "red", "text": "x"}])
    assert "http" not in text
    assert "#alert/" not in text


def test_a_console_behind_a_proxy_path_keeps_the_path() -> None:
    links = alert_links("https://gov.example.cn/vw/", [{"alert": 3}])
    assert "(https://gov.example.cn/vw/console/#alert/3)" in links
    settings = AlertsSettings.model_validate({"console_url": "https://gov.example.cn/vw"})
    assert "(https://gov.example.cn/vw/console/#alert/3)" in alert_links(
        str(settings.console_url), [{"alert": 3}]
    )


def test_a_long_digest_links_ten_alerts_and_points_to_the_feed_for_the_rest() -> None:
    links = alert_links("https://vw.example.cn", [{"alert": n} for n in range(1, 13)])
    assert links.count("#alert/") == 10
    assert "#alert/11" not in links
    assert "2 more in the console](https://vw.example.cn/console/)" in links


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("https://vw.example.cn/?token=1", "?query or #fragment"),
        ("https://vw.example.cn/#alerts", "?query or #fragment"),
        ("ftp://vw.example.cn", "URL scheme"),
        ("vw.example.cn", "URL"),
    ],
)
def test_a_console_address_that_cannot_take_a_link_is_refused_in_words(
    value: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        AlertsSettings.model_validate({"console_url": value})
    assert words in str(caught.value)
    assert "console_url" in str(caught.value)
