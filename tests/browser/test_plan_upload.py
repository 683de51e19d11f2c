"""Uploading the village plan from the console: maintainers only, PNG or JPEG, the server's
refusal shown when it is not a picture or too large, the new picture drawn at once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import FilePayload, expect

from tests.api_deployment import ApiDeployment, plan_png

from .conftest import OpenConsole

PLAN_MAX = 5 * 1024 * 1024


def natural_width_is(width: int) -> str:
    return f"() => document.querySelector('[data-testid=plan-image]')?.naturalWidth === {width}"


def test_maintainer_uploads_the_plan_and_sees_it_drawn(
    own_api: ApiDeployment, console: OpenConsole
) -> None:
    """With no plan yet the devices are drawn on a grid; the maintainer's upload (PUT of the
    raw bytes) puts the picture in at once, a second upload replaces it, and a file that is not
    a picture or is too large is refused with the server's reason, in either language."""
    c = console(api=own_api)
    c.open()
    c.login("maint")
    upload = c.by("plan-upload")
    message = c.by("plan-upload-message")
    expect(c.by("plan")).to_be_visible()
    expect(c.by("plan-image")).to_have_count(0)
    expect(upload).to_have_attribute("type", "file")
    expect(upload).to_have_attribute("accept", "image/png,image/jpeg")
    expect(c.page.locator("label.plan-upload")).to_have_text("上传平面图")
    c.shot("01-no-plan-yet")

    with c.page.expect_request(lambda r: r.method == "PUT") as put:
        upload.set_input_files(
            FilePayload(name="plan.png", mimeType="image/png", buffer=plan_png())
        )
    assert put.value.url == f"{own_api.base}/api/villages/dongcun/plan"
    assert put.value.headers["content-type"] == "application/octet-stream"
    assert put.value.headers["authorization"].startswith("Bearer ")
    expect(message).to_have_text("平面图已更新")
    expect(c.by("plan-image")).to_be_visible()
    c.page.wait_for_function(natural_width_is(960))
    expect(c.page.locator('[data-testid="plan-dot"]').first).to_be_visible()
    c.shot("02-uploaded")

    # a new picture under the same URL: the console must not keep drawing the old one
    upload.set_input_files(
        FilePayload(name="square.png", mimeType="image/png", buffer=plan_png(640, 640))
    )
    c.page.wait_for_function(natural_width_is(640))
    expect(c.by("plan")).to_have_css("aspect-ratio", "1 / 1")

    upload.set_input_files(
        FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"not a picture\n")
    )
    expect(message).to_have_text("平面图未上传\uff1athe plan must be a PNG or JPEG picture")
    expect(message).to_have_class(re.compile(r"\berror\b"))
    c.page.wait_for_function(natural_width_is(640))  # the plan stays as it was
    c.shot("03-not-a-picture")

    c.by("lang-toggle").click()
    expect(c.page.locator("label.plan-upload")).to_have_text("Upload plan")
    expect(message).to_have_text("Plan not uploaded: the plan must be a PNG or JPEG picture")
    too_big = b"\x89PNG\r\n\x1a\n" + bytes(PLAN_MAX)
    upload.set_input_files(FilePayload(name="huge.png", mimeType="image/png", buffer=too_big))
    expect(message).to_have_text(
        f"Plan not uploaded: the request body is {len(too_big)} bytes; at most {PLAN_MAX} bytes"
    )
    c.shot("04-too-large")

    c.by("big-toggle").click()  # big screen: no actions
    expect(c.page.locator("label.plan-upload")).to_be_hidden()
    expect(message).to_be_hidden()
    expect(c.by("plan-image")).to_be_visible()


@pytest.mark.parametrize("user", ["op", "viewer"])
def test_operator_and_viewer_have_no_upload(
    user: str, api: ApiDeployment, console: OpenConsole
) -> None:
    """Only maintainers and admins may change the plan: others see no upload control."""
    c = console()
    c.open()
    c.login(user)
    expect(c.by("plan")).to_be_visible()
    expect(c.page.locator('[data-testid="plan-dot"]').first).to_be_visible()
    expect(c.by("plan-upload")).to_have_count(0)
    expect(c.by("plan-upload-message")).to_have_count(0)
    expect(c.page.locator("label.plan-upload")).to_have_count(0)
    c.shot(f"01-{user}")
