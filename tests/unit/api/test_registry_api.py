"""The rental registry through the API: kept by operators, personal data only where needed,
every change audited without the personal data, and what the lock detector is told."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.unit.api.conftest import Client
from villagewatch.api.context import ApiContext
from villagewatch.config import Village, load_village
from villagewatch.registry import RegistryStore

HOUSE = "/api/registry/houses/dongcun/a01"


@pytest.fixture
def op(ctx: ApiContext) -> Client:
    """An operator with a house, a verified tenant and her card."""
    c = Client(ctx).as_("op")
    made = c.post(
        "/api/registry/houses",
        json={"village": "dongcun", "id": "a01", "name": "A 片 1 号", "lock": "lock-a01"},
    )
    assert made.status_code == 201, made.text
    tenant = {"id": "t1", "name": "王小红", "phone": "13800000001", "verified": True}
    assert c.post(f"{HOUSE}/tenants", json=tenant).status_code == 201
    card = {"id": "card-7", "tenant": "t1", "valid_to": "2027-06-30T00:00:00+08:00"}
    assert c.post(f"{HOUSE}/credentials", json=card).status_code == 201
    return c


def test_operators_see_personal_data_viewers_and_maintainers_do_not(
    ctx: ApiContext, op: Client
) -> None:
    (house,) = op.get("/api/registry/houses").json()
    assert house["tenants"][0]["name"] == "王小红" and house["tenants"][0]["phone"] == "13800000001"
    assert house["credentials"][0]["valid_to"] == "2027-06-29T16:00:00Z"
    for who in ("viewer", "maint"):
        (seen,) = Client(ctx).as_(who).get("/api/registry/houses").json()
        assert seen["tenants"][0]["name"] == "王**" and seen["tenants"][0]["phone"] is None
    assert "王小红" not in str([r.detail for r in ctx.users.audit_log()])
    assert "13800000001" not in str([r.detail for r in ctx.users.audit_log()])


def test_the_lock_detector_is_told_current_credentials_only(ctx: ApiContext, op: Client) -> None:
    got = ctx.registry.lock_credentials("dongcun")
    assert got == {"lock-a01": [("card-7", None, datetime(2027, 6, 29, 16, tzinfo=UTC))]}
    assert op.post(f"{HOUSE}/credentials/card-7/end").status_code == 200
    assert ctx.registry.lock_credentials("dongcun") == {"lock-a01": []}
    # handed out again, then the tenant moves out: her credentials end with her
    assert op.post(f"{HOUSE}/credentials", json={"id": "card-7", "tenant": "t1"}).status_code == 201
    before = ctx.registry.generation()
    assert op.post(f"{HOUSE}/tenants/t1/end").status_code == 200
    assert ctx.registry.generation() > before
    assert ctx.registry.lock_credentials("dongcun") == {"lock-a01": []}
    (house,) = op.get("/api/registry/houses").json()
    assert house["tenants"][0]["ended"] is not None


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        pytest.param(
            "/api/registry/houses",
            {"village": "dongcun", "id": "x", "lock": "wl-bridge"},
            422,
            "no smart lock",
            id="not-a-lock",
        ),
        pytest.param(
            "/api/registry/houses",
            {"village": "dongcun", "id": "a02", "lock": "lock-a01"},
            409,
            "already the lock of house 'a01'",
            id="lock-taken",
        ),
        pytest.param(
            "/api/registry/houses",
            {"village": "dongcun", "id": "a01", "lock": "lock-a02"},
            409,
            "already has a house",
            id="house-taken",
        ),
        pytest.param(
            f"{HOUSE}/tenants",
            {"id": "t1", "name": "someone"},
            409,
            "already has a tenant",
            id="tenant-taken",
        ),
        pytest.param(
            f"{HOUSE}/credentials",
            {"id": "card-7", "tenant": "t1"},
            409,
            "already 't1'",
            id="credential-taken",
        ),
        pytest.param(
            f"{HOUSE}/credentials",
            {"id": "card-8", "tenant": "t9"},
            409,
            "no tenant 't9'",
            id="unknown-tenant",
        ),
        pytest.param(
            f"{HOUSE}/credentials",
            {
                "id": "card-8",
                "tenant": "t1",
                "valid_from": "2027-01-01T00:00:00Z",
                "valid_to": "2026-01-01T00:00:00Z",
            },
            409,
            "until after",
            id="reversed-validity",
        ),
        pytest.param(
            f"{HOUSE}/credentials",
            {"id": "card-8", "tenant": "t1", "valid_to": "2027-01-01T00:00:00"},
            422,
            "timezone",
            id="naive-validity",
        ),
        pytest.param(
            f"{HOUSE}/credentials",
            {"id": "card-8", "tenant": "t1", "valid_from": "0001-01-01T00:00:00+14:00"},
            422,
            "between 1678-01-01 and 2262-01-01",
            id="validity-before-year-1",
        ),
        pytest.param(
            f"{HOUSE}/credentials",
            {"id": "card-8", "tenant": "t1", "valid_to": "9999-12-31T23:59:59-14:00"},
            422,
            "between 1678-01-01 and 2262-01-01",
            id="validity-after-year-9999",
        ),
        pytest.param(
            "/api/registry/houses/dongcun/zz/tenants",
            {"id": "t2", "name": "x"},
            404,
            "no house",
            id="unknown-house",
        ),
        pytest.param(
            f"{HOUSE}/credentials/card-9/end",
            None,
            409,
            "no current credential",
            id="end-unknown-credential",
        ),
    ],
)
def test_registry_mistakes_are_refused_with_a_reason(
    op: Client, path: str, body: dict[str, object] | None, status: int, says: str
) -> None:
    reply = op.post(path, json=body) if body is not None else op.post(path)
    assert reply.status_code == status, reply.text
    assert says in reply.text


def test_a_grid_leader_keeps_only_their_grids_houses(ctx: ApiContext, op: Client) -> None:
    leader = Client(ctx).as_("g1-leader")  # g1 is the river; the rental houses are in g3
    assert leader.get("/api/registry/houses").json() == []
    assert leader.post(f"{HOUSE}/tenants/t1/end").status_code == 404
    refused = leader.post(
        "/api/registry/houses", json={"village": "dongcun", "id": "a02", "lock": "lock-a02"}
    )
    assert refused.status_code == 403


def test_houses_in_a_village_file_seed_the_registry_once(ctx: ApiContext) -> None:
    data = load_village(ctx.deployment.settings.villages[0]).model_dump()
    tenant = {"id": "t5", "name": "李四", "credentials": [{"id": "fp-2"}]}
    data["houses"] = [{"id": "b01", "lock": "lock-b01", "tenants": [tenant]}]
    village = Village.model_validate(data)
    registry = RegistryStore(ctx.deployment.settings.registry.path)
    assert registry.seed([village], 1) == 1
    assert registry.lock_credentials("dongcun")["lock-b01"] == [("fp-2", None, None)]
    registry.end_tenant("dongcun", "b01", "t5", 2)
    assert registry.seed([village], 3) == 0, "the registry owns the house now"
    assert registry.lock_credentials("dongcun")["lock-b01"] == []
    registry.close()
