"""One browser tab on the console: logging in, finding things by data-testid, screenshots, and
what the page did (JavaScript errors, console errors, every request)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Error, Locator, Page, Request, expect

from tests.api_deployment import REPO, USERS, ApiDeployment

SHOTS = REPO / "test-output" / "console"
"""Screenshots of each test's key moments: <test>-<step>.png."""

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
"""axe-core, vendored from npm (scripts/vendor-npm); put into the page by ConsolePage.axe()."""

_IMPACTS = ("minor", "moderate", "serious", "critical")

_AXE_RUN = """async (root) => {
  const result = await axe.run(root ? document.querySelector(root) : document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    resultTypes: ['violations'],
  });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
  }));
}"""


@dataclass(frozen=True)
class AxeViolation:
    """One rule axe-core found broken, with (up to five of) the elements that break it."""

    id: str
    impact: str
    help: str
    targets: list[str]

    def __str__(self) -> str:
        where = "".join(f"\n    {t}" for t in self.targets)
        return f"{self.impact} {self.id}: {self.help}{where}"


class ConsolePage:
    """A page of the console against ``api``, recording errors and requests as it goes."""

    def __init__(self, page: Page, api: ApiDeployment, test: str) -> None:
        self.page = page
        self.api = api
        self.test = re.sub(r"[^a-z0-9_-]+", "-", test.removeprefix("test_").lower())
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        page.on("pageerror", self._page_error)
        page.on("console", self._console)
        page.on("request", self._request)

    def _page_error(self, error: Error) -> None:
        self.page_errors.append(f"{error.message}\n{error.stack or ''}")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def by(self, testid: str) -> Locator:
        """The elements with this data-testid."""
        return self.page.get_by_test_id(testid)

    def open(self, path: str = "/console/") -> None:
        """Load a console URL."""
        self.page.goto(f"{self.api.base}{path}")

    def login(self, user: str) -> None:
        """Log in on the form and wait until the live feed is connected."""
        expect(self.by("login-user")).to_be_visible()
        self.by("login-user").fill(user)
        self.by("login-password").fill(USERS[user][1])
        self.by("login-submit").click()
        expect(self.by("live-indicator")).to_have_attribute("data-status", "live")

    def feed_item(self, alert_id: int) -> Locator:
        """The feed's entry of an alert."""
        return self.page.locator(f'[data-testid="feed-item"][data-alert-id="{alert_id}"]')

    def open_alert(self, alert_id: int) -> Locator:
        """Click the alert in the feed; its detail panel once it shows that alert."""
        self.feed_item(alert_id).click()
        detail = self.by("alert-detail")
        expect(detail).to_be_visible()
        expect(detail.get_by_text(f"#{alert_id}", exact=True)).to_be_visible()
        return detail

    def shot(self, step: str) -> Path:
        """Save a screenshot as test-output/console/<test>-<step>.png."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.test}-{step}.png"
        self.page.screenshot(path=str(path))
        return path

    def axe(self, *, least: str = "serious", root: str | None = None) -> list[AxeViolation]:
        """axe-core's WCAG 2.1 A/AA and best-practice violations of the page as it is now (or
        of the element ``root``, a CSS selector), of impact ``least`` or worse.

        The source goes in through ``evaluate`` (the console's CSP refuses inline scripts, and
        a test must not loosen it); the page keeps it for later calls."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
        found: list[dict[str, Any]] = self.page.evaluate(_AXE_RUN, root)
        floor = _IMPACTS.index(least)
        return [
            AxeViolation(v["id"], v["impact"] or "minor", v["help"], v["targets"])
            for v in found
            if _IMPACTS.index(v["impact"] or "minor") >= floor
        ]

    def problems(self) -> str:
        """The JavaScript errors, with the console's errors for context; '' when there were none."""
        if not self.page_errors:
            return ""
        return (
            f"JavaScript errors on {self.test}:\n"
            + "\n".join(self.page_errors)
            + "\nconsole errors:\n"
            + "\n".join(self.console_errors)
        )
