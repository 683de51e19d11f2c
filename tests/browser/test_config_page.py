"""The config page: a maintainer changes a warning level in the form generated from the typed
models, sees both thresholds and the replay's would-be alerts on the gauge's chart, sees each
problem on its field in their language, applies with a note after the diff, and finds the new
version listed; an operator gets no config tab."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment

from .conftest import OpenConsole

_LEVEL = "detect.devices.wl-bridge.level"


def test_a_maintainer_tunes_a_warning_level_replays_it_and_applies_it_with_a_note(
    own_api: ApiDeployment, console: OpenConsole
) -> None:
    c = console(api=own_api)
    c.open()
    c.login("maint")
    c.by("nav-config").click()
    warning = c.page.locator(f'[data-path="{_LEVEL}.warning_cm"]')
    expect(warning).to_contain_text("警戒水位")  # the label, in the user's language
    expect(warning).to_contain_text("cm")  # the unit, from the field's name
    expect(warning.locator("input")).to_have_value("200")
    expect(c.by("cfg-status")).to_have_attribute("data-state", "ok")

    warning.locator("input").fill("150")
    chart = c.by("cfg-chart")
    expect(chart.locator('[data-testid="chart-line"][data-kind="current"][data-value="200"]'))
    expect(chart.locator('[data-testid="chart-line"][data-kind="candidate"][data-value="150"]'))
    expect(chart.locator('[data-testid="chart-line"][data-kind="current"]')).to_have_count(3)
    expect(chart.locator('[data-testid="chart-line"][data-kind="candidate"]')).to_have_count(3)
    expect(c.by("cfg-status")).to_have_attribute("data-state", "ok")
    c.by("cfg-replay").click()
    expect(
        chart.locator('[data-testid="chart-mark"][data-kind="candidate"]').first
    ).to_be_attached()
    expect(chart.locator('[data-testid="chart-mark"][data-kind="today"]').first).to_be_attached()
    expect(c.by("cfg-replay-summary")).to_contain_text("试算")
    c.shot("01-replayed")

    margin = c.page.locator(f'[data-path="{_LEVEL}.blue_margin_cm"]')
    margin.locator("input").fill("-5")  # below the field's bound (ge=0)
    expect(margin.get_by_test_id("field-error")).to_have_text("不能小于 0")
    expect(c.by("cfg-status")).to_have_attribute("data-state", "problems")
    expect(c.by("cfg-issue")).to_have_count(0)  # every problem sits on its field
    c.shot("02-field-error")
    margin.locator("input").fill("20")
    warning.locator("input").fill("300")  # above the guaranteed level: the family's problem
    family = c.page.locator(f'fieldset[data-path="{_LEVEL}"]')
    expect(family.locator(":scope > .cfg-error")).to_contain_text("水位须逐级升高")
    expect(margin.get_by_test_id("field-error")).to_have_text("")
    warning.locator("input").fill("150")
    expect(c.by("cfg-status")).to_have_attribute("data-state", "ok")

    c.by("cfg-mode-yaml").click()  # the whole file as text, with the form's change in it
    yaml = c.by("cfg-yaml")
    expect(yaml).to_have_value(re.compile(r"level: \{warning_cm: 150,"))
    text = yaml.input_value()
    yaml.fill("grids: [")
    expect(c.by("cfg-issue")).to_contain_text("行")  # where, as a line of the file
    c.by("cfg-mode-form").click()  # refused: the form needs a valid file
    expect(c.by("cfg-message")).to_contain_text("处问题")
    yaml.fill(text.replace("warning_cm: 150", "warning_cm: 160"))
    c.by("cfg-mode-form").click()
    expect(warning.locator("input")).to_have_value("160")

    c.by("cfg-apply").click()
    expect(c.by("cfg-diff")).to_contain_text("warning_cm: 160")
    c.by("cfg-apply-confirm").click()
    expect(c.by("cfg-apply-panel").get_by_test_id("field-error")).to_have_text("请填写修改原因")
    c.by("cfg-note").fill("汛期提前预警")
    c.by("cfg-apply-confirm").click()
    # version 1 is the file as it was on disk before its first apply
    expect(c.by("cfg-message")).to_contain_text("已应用为第 2 版")
    version = c.page.locator('[data-testid="cfg-version"][data-n="2"]')
    expect(version).to_contain_text("maint")
    expect(version).to_contain_text("汛期提前预警")
    expect(warning.locator("input")).to_have_value("160")
    assert "warning_cm: 160" in (own_api.root / "dongcun.yaml").read_text(encoding="utf-8")
    c.shot("03-applied")

    first = c.page.locator('[data-testid="cfg-version"][data-n="1"]')
    first.get_by_test_id("cfg-rollback-note").fill("汛期结束")
    first.get_by_test_id("cfg-rollback").click()
    expect(c.page.locator('[data-testid="cfg-version"][data-n="3"]')).to_contain_text(
        "回滚自第 1 版"
    )
    expect(warning.locator("input")).to_have_value("200")

    op = console(api=own_api)
    op.open()
    op.login("op")
    expect(op.by("nav-registry")).to_be_visible()
    expect(op.by("nav-config")).to_be_hidden()
