"""axe-core (vendored) finds no serious or critical accessibility violation on the console's main
pages — login, the feed with the plan and devices, an alert's detail, the rental registry, the
detector settings — on a desktop and a phone, in Chinese and English."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment

from .conftest import OpenConsole
from .pages import AxeViolation, ConsolePage

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


def check(c: ConsolePage, page: str, found: dict[str, list[AxeViolation]]) -> None:
    """Run axe on the page as it is now, keep a screenshot, note what it found."""
    c.shot(page)
    found[page] = c.axe()


def report(found: dict[str, list[AxeViolation]]) -> str:
    return "\n".join(f"{page}:\n  " + "\n  ".join(map(str, v)) for page, v in found.items() if v)


@pytest.mark.parametrize(
    ("locale", "size"),
    [("zh-CN", "desktop"), ("en", "desktop"), ("zh-CN", "phone"), ("en", "phone")],
)
def test_the_main_pages_have_no_serious_accessibility_violations(
    api: ApiDeployment, console: OpenConsole, locale: str, size: str
) -> None:
    alert = api.raise_alert(subject=f"wl-sluice:axe-{locale}-{size}", kind="level",
                            severity="orange", message="闸口水位超过警戒线")  # fmt: skip
    for severity in ("red", "yellow", "blue", "info"):  # every badge colour is on the page
        api.raise_alert(subject=f"wl-sluice:axe-{severity}-{locale}-{size}", kind="level",
                        severity=severity, message="闸口水位")  # fmt: skip
    width, height = SIZES[size]
    c = console(locale=locale, width=width, height=height)
    found: dict[str, list[AxeViolation]] = {}
    c.open()
    expect(c.by("login-user")).to_be_visible()
    check(c, f"{size}-{locale}-login", found)

    c.login("maint")
    expect(c.feed_item(alert.id)).to_be_visible()
    expect(c.by("device-row").first).to_be_visible()
    check(c, f"{size}-{locale}-feed-plan-devices", found)

    c.open_alert(alert.id)
    expect(c.by("ack-button")).to_be_visible()
    check(c, f"{size}-{locale}-alert-detail", found)
    c.by("detail-close").click()

    c.by("nav-registry").click()
    expect(c.by("registry")).not_to_be_empty()
    check(c, f"{size}-{locale}-registry", found)

    c.by("nav-config").click()
    expect(c.by("config")).not_to_be_empty()
    expect(c.by("cfg-status")).to_have_attribute("data-state", "ok")  # loaded and checked
    check(c, f"{size}-{locale}-config", found)

    assert not any(found.values()), report(found)
