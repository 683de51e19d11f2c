"""The rental registry view: operators keep it, viewers read it with tenants' names masked."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.api_deployment import ApiDeployment

from .conftest import OpenConsole


def test_operator_keeps_the_registry_and_a_viewer_reads_it_masked(
    api: ApiDeployment, console: OpenConsole
) -> None:
    """An operator registers a house, a tenant and a credential, then ends the credential and
    the tenant; a viewer then sees the house read-only, the tenant's name masked, no phone."""
    c = console()
    c.open()
    c.login("op")
    c.by("nav-registry").click()
    add_house = c.by("add-house")
    add_house.locator('input[name="id"]').fill("a07")
    add_house.locator('input[name="name"]').fill("A 片 7 号出租房")
    add_house.locator('select[name="lock"]').select_option("lock-a07")
    add_house.get_by_role("button").click()
    house = c.page.locator('[data-testid="house"][data-house-id="a07"]')
    expect(house).to_contain_text("A 片 7 号出租房")

    add_tenant = house.get_by_test_id("add-tenant")
    add_tenant.locator('input[name="id"]').fill("t1")
    add_tenant.locator('input[name="name"]').fill("张三丰")
    add_tenant.locator('input[name="phone"]').fill("13800000000")
    add_tenant.locator('input[name="verified"]').check()
    add_tenant.get_by_role("button").click()
    tenant = house.locator('[data-testid="tenant"][data-tenant-id="t1"]')
    expect(tenant).to_contain_text("张三丰")
    expect(tenant).to_contain_text("13800000000")

    add_credential = house.get_by_test_id("add-credential")
    add_credential.locator('input[name="id"]').fill("card-1")
    add_credential.locator('select[name="tenant"]').select_option("t1")
    add_credential.get_by_role("button").click()
    credential = house.locator('[data-testid="credential"][data-credential-id="card-1"]')
    expect(credential).to_contain_text("有效")
    end = credential.get_by_test_id("end-credential")
    end.click()
    expect(end).to_contain_text("确认结束")
    end.click()
    expect(credential).to_contain_text("已结束")
    expect(credential.get_by_test_id("end-credential")).to_have_count(0)
    expect(c.by("registry-message")).to_have_text("已保存")
    end_tenant = tenant.get_by_test_id("end-tenant")
    end_tenant.click()
    end_tenant.click()
    expect(tenant).to_contain_text("已结束")
    expect(house.get_by_test_id("add-credential")).to_have_count(0)  # no current tenant left
    c.shot("01-operator")

    v = console()
    v.open()
    v.login("viewer")
    v.by("nav-registry").click()
    expect(v.by("registry-readonly")).to_be_visible()
    expect(v.by("add-house")).to_have_count(0)
    seen = v.page.locator('[data-testid="house"][data-house-id="a07"]')
    masked = seen.locator('[data-testid="tenant"][data-tenant-id="t1"]')
    expect(masked).to_contain_text("张**")
    expect(masked).not_to_contain_text("张三丰")
    expect(masked).not_to_contain_text("13800000000")
    expect(seen.get_by_test_id("add-tenant")).to_have_count(0)
    expect(seen.get_by_test_id("end-tenant")).to_have_count(0)
    v.shot("02-viewer")
