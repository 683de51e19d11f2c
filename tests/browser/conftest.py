"""Debian's Chromium (driven by Playwright, never a downloaded browser) against a real
``villagewatch api`` over a temp copy of the demo village.

A test asks ``console(...)`` for a tab; when the test ends every tab is closed, and the test
fails with the browser's errors printed if any page threw a JavaScript error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from playwright.sync_api import Browser, BrowserContext, expect, sync_playwright

from tests.api_deployment import ApiDeployment, running_api

from .pages import ConsolePage

CHROMIUM = Path("/usr/bin/chromium")

expect.set_options(timeout=10_000)  # generous: waits end as soon as the page is ready


class OpenConsole(Protocol):
    """Opens a new browser tab (its own context: storage, locale, viewport) on the console."""

    def __call__(
        self,
        *,
        api: ApiDeployment | None = None,
        locale: str = "zh-CN",
        width: int = 1440,
        height: int = 900,
    ) -> ConsolePage: ...


# package scope, not session: while Playwright's sync API is open its event loop counts as
# running in this thread, and every later test's asyncio.run() would refuse to start
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless Chromium from /usr/bin/chromium."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: apt-get install chromium", pytrace=False)
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            headless=True,
        )
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiDeployment]:
    """One running API for the tests that only add alerts (each raises its own)."""
    with running_api(tmp_path_factory.mktemp("console")) as deployment:
        yield deployment


@pytest.fixture
def own_api(tmp_path: Path) -> Iterator[ApiDeployment]:
    """A running API of this test's own, free to stop, restart and upload to."""
    with running_api(tmp_path / "deployment") as deployment:
        yield deployment


@pytest.fixture
def console(
    browser: Browser, api: ApiDeployment, request: pytest.FixtureRequest
) -> Iterator[OpenConsole]:
    """Open console tabs; at the end, close them and fail on any JavaScript error."""
    contexts: list[BrowserContext] = []
    pages: list[ConsolePage] = []

    def open_console(
        *,
        api: ApiDeployment | None = None,
        locale: str = "zh-CN",
        width: int = 1440,
        height: int = 900,
    ) -> ConsolePage:
        context = browser.new_context(
            locale=locale,
            timezone_id="Asia/Shanghai",
            viewport={"width": width, "height": height},
        )
        contexts.append(context)
        page = ConsolePage(context.new_page(), api or default_api, request.node.name)
        pages.append(page)
        return page

    default_api = api
    yield open_console
    for context in contexts:
        context.close()
    problems = [text for page in pages if (text := page.problems())]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
