"""A running service follows its config files: what it takes, what waits for a restart, and
what it refuses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from villagewatch.config import Deployment, load_deployment
from villagewatch.errors import ConfigError, ConfigIssue
from villagewatch.runtime.follow import ConfigFollower, followed, restart_needed

VILLAGE = """\
id: dongcun
name: 东村
town: qiaotou
grids:
  - {id: g1, name: one, team: {channels: [%s]}}
devices:
  - {id: wl-1, kind: water_level, grid: g1}
"""

SETTINGS = """\
mqtt: {port: %d}
alerts:
  group_wait_s: %s
  channels:
    grid: {kind: webhook, url: "http://127.0.0.1:9/grid"}
    duty: {kind: webhook, url: "http://127.0.0.1:9/duty"}
villages: [village.yaml]
"""


def replace(path: Path, text: str) -> None:
    """A new file renamed over the old one, as an apply writes it."""
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def files(tmp_path: Path, *, channel: str = "grid", port: int = 1883, wait: str = "30") -> Path:
    replace(tmp_path / "village.yaml", VILLAGE % channel)
    replace(tmp_path / "settings.yaml", SETTINGS % (port, wait))
    return tmp_path / "settings.yaml"


def channels(d: Deployment) -> list[str]:
    team = d.villages[0].grids[0].team
    assert team is not None
    return team.channels


def test_followed_takes_villages_and_the_alert_settings_a_service_follows(tmp_path: Path) -> None:
    running = load_deployment(files(tmp_path))
    loaded = load_deployment(files(tmp_path, channel="duty", port=1999, wait="5"))
    new = followed(running, loaded)
    assert channels(new) == ["duty"]
    assert new.settings.alerts.group_wait_s == 5
    assert new.settings.mqtt.port == 1883  # the broker: at the next restart
    assert restart_needed(running, loaded) == ["mqtt"]
    assert restart_needed(running, running) == []


def test_a_village_file_added_to_the_settings_keeps_paths_and_villages_in_step(
    tmp_path: Path,
) -> None:
    """A service finds a village's file by its place in the list (the API's apply writes
    ``settings.villages[i]`` for ``villages[i]``): a followed list must stay in step."""
    running = load_deployment(files(tmp_path))
    replace(tmp_path / "xicun.yaml", (VILLAGE % "grid").replace("dongcun", "xicun"))
    text = (tmp_path / "settings.yaml").read_text(encoding="utf-8")
    replace(
        tmp_path / "settings.yaml", text.replace("[village.yaml]", "[xicun.yaml, village.yaml]")
    )
    new = followed(running, load_deployment(tmp_path / "settings.yaml"))
    assert [v.id for v in new.villages] == ["xicun", "dongcun"]
    assert [p.name for p in new.settings.villages] == ["xicun.yaml", "village.yaml"]


class Run:
    """A follower over the files in a folder, run in the background of a test."""

    def __init__(self, settings: Path, *, apply: Callable[[Deployment], None] | None = None):
        self.applied: list[Deployment] = []
        self.refused: list[list[ConfigIssue]] = []
        self.follower = ConfigFollower(
            load_deployment(settings),
            apply=apply or self.applied.append,
            refused=lambda issues: self.refused.append(list(issues)),
            service="the test",
            poll_s=0.02,
        )

    def during(self, steps: Callable[[], Awaitable[None]]) -> None:
        """Run the follower, let it take its first look, do ``steps``, stop it."""

        async def main() -> None:
            stop = asyncio.Event()
            self.task = asyncio.create_task(self.follower.run(stop))
            await asyncio.sleep(0.1)
            await steps()
            stop.set()
            await self.task

        asyncio.run(main())

    async def until(self, done: Callable[[], bool]) -> None:
        for _ in range(250):
            if done():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the follower did not get there")


def test_a_changed_village_file_is_applied_and_a_broken_one_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = files(tmp_path)
    run = Run(settings)

    async def steps() -> None:
        assert run.applied == []  # nothing changed since the start
        replace(tmp_path / "village.yaml", VILLAGE % "duty")
        await run.until(lambda: len(run.applied) == 1)
        assert channels(run.applied[0]) == ["duty"]
        replace(tmp_path / "village.yaml", VILLAGE % "nowhere")  # names no channel
        await run.until(lambda: len(run.refused) == 1)
        assert "no channel 'nowhere'" in str(run.refused[0][0])
        assert channels(run.follower.running) == ["duty"]  # the running one stays
        (tmp_path / "village.yaml").unlink()  # a careless operator
        await run.until(lambda: len(run.refused) == 2)
        replace(tmp_path / "village.yaml", VILLAGE % "grid")  # back: applied again
        await run.until(lambda: len(run.applied) == 2)
        assert channels(run.applied[1]) == ["grid"]

    with caplog.at_level(logging.ERROR):
        run.during(steps)
    assert "refused" in caplog.text and "keeps running" in caplog.text


def test_a_change_only_a_restart_takes_is_logged_not_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = files(tmp_path)
    run = Run(settings)

    async def steps() -> None:
        files(tmp_path, port=1999)
        await run.until(lambda: "next restart" in caplog.text)

    with caplog.at_level(logging.WARNING):
        run.during(steps)
    assert run.applied == [] and "mqtt" in caplog.text


def test_a_service_that_cannot_follow_a_change_refuses_it_whole(tmp_path: Path) -> None:
    settings = files(tmp_path)

    def cannot(_d: Deployment) -> None:
        raise ConfigError([ConfigIssue("settings.yaml", "villages", "not this one")])

    run = Run(settings, apply=cannot)
    before = run.follower.running

    async def steps() -> None:
        replace(tmp_path / "village.yaml", VILLAGE % "duty")
        await run.until(lambda: len(run.refused) == 1)

    run.during(steps)
    assert run.follower.running is before


def test_a_failure_while_following_is_logged_and_the_service_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = files(tmp_path)

    def broken(_d: Deployment) -> None:
        raise RuntimeError("a bug")

    run = Run(settings, apply=broken)

    async def steps() -> None:
        replace(tmp_path / "village.yaml", VILLAGE % "duty")
        await run.until(lambda: len(run.refused) == 1)
        assert not run.task.done()  # still following

    with caplog.at_level(logging.ERROR):
        run.during(steps)
    assert "next restart" in caplog.text and "a bug" in caplog.text
