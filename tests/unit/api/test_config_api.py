"""Config for maintainers: read without secrets, check a village file, apply it; users from
the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.unit.api.conftest import PASSWORD, Client, write_deployment
from tests.unit.config.test_yamlfile import LAUGHS
from villagewatch.api.context import ApiContext, open_context
from villagewatch.api.users import UserRole, UserStore
from villagewatch.cli import app
from villagewatch.config import load_deployment
from villagewatch_dev.testing import MemoryStore


def test_config_read_leaves_secrets_out(ctx: ApiContext) -> None:
    body = Client(ctx).as_("maint").get("/api/config").json()
    assert body["villages"][0]["id"] == "dongcun"
    assert "password_file" not in body["settings"]["mqtt"]
    assert Client(ctx).as_("g1-leader").get("/api/config").status_code == 403


def test_a_broken_village_file_is_checked_with_path_and_line(ctx: ApiContext) -> None:
    text = ctx.deployment.settings.villages[0].read_text(encoding="utf-8")
    broken = text.replace("kind: water_level, grid: g1-bridge", "kind: water_level, grid: g9", 1)
    reply = Client(ctx).as_("maint").post("/api/config/village/check", json={"text": broken})
    assert reply.status_code == 200
    body = reply.json()
    assert body["ok"] is False
    (issue,) = body["issues"]
    assert issue["path"] == "devices[0].grid" and "g9" in issue["message"]
    assert issue["line"] == 16


def test_applying_a_village_file_replaces_it_and_serves_it_at_once(ctx: ApiContext) -> None:
    path = ctx.deployment.settings.villages[0]
    before = path.read_text(encoding="utf-8")
    changed = before.replace("name: 石桥水位计", "name: 石桥新水位计", 1)
    maint = Client(ctx).as_("maint")
    reply = maint.request(
        "PUT",
        "/api/config/villages/dongcun",
        json={"text": changed, "note": "rename the bridge gauge"},
    )
    assert reply.status_code == 200 and reply.json()["applied"] is True
    assert "restart" in reply.json()["note"]
    assert path.read_text(encoding="utf-8") == changed
    assert path.with_name(path.name + ".bak").read_text(encoding="utf-8") == before
    names = {d["id"]: d["name"] for d in maint.get("/api/devices").json()}
    assert names["wl-bridge"] == "石桥新水位计"
    assert ctx.users.audit_log(limit=1)[0].action == "apply_config"


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        pytest.param(
            lambda t: t.replace("id: dongcun", "id: xicun", 1),
            "village 'xicun'",
            id="other-village",
        ),
        pytest.param(lambda t: t + "\nbogus: 1\n", "bogus", id="unknown-key"),
        pytest.param(lambda t: "grids: [", "", id="torn-yaml"),
    ],
)
def test_a_bad_village_file_is_not_applied(ctx: ApiContext, edit: object, says: str) -> None:
    path = ctx.deployment.settings.villages[0]
    before = path.read_text(encoding="utf-8")
    text = edit(before)  # type: ignore[operator]
    reply = (
        Client(ctx)
        .as_("maint")
        .request("PUT", "/api/config/villages/dongcun", json={"text": text, "note": "try"})
    )
    body = reply.json()
    assert reply.status_code == 200 and body["ok"] is False and body["applied"] is False
    assert says in str(body["issues"])
    assert path.read_text(encoding="utf-8") == before, "the running file is untouched"


def test_users_add_from_the_command_line(tmp_path: Path) -> None:
    settings = write_deployment(tmp_path)
    runner = CliRunner()
    args = ["users", "add", "--config", str(settings), "wang", "--role", "operator"]
    added = runner.invoke(app, [*args, "--place", "village:dongcun", "--password-stdin"],
                          input="long enough\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    users = UserStore(tmp_path / "var" / "api" / "api.db")
    (user,) = users.users()
    assert (user.name, user.role, user.places) == ("wang", UserRole.OPERATOR, ("village:dongcun",))
    assert users.login("wang", "long enough", now_ms=0, ttl_s=60) is not None
    users.close()
    for extra, says in (
        (["--place", "village:nowhere"], "unknown: village:nowhere"),
        ([], "give --place"),
    ):
        refused = runner.invoke(app, [*args, *extra, "--password-stdin"], input="long enough\n")
        assert refused.exit_code == 2 and says in refused.output
    short = runner.invoke(
        app, ["users", "add", "--config", str(settings), "li", "--place", "*", "--password-stdin"],
        input="short\n",
    )  # fmt: skip
    assert short.exit_code == 1 and "at least 8" in short.output


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param(LAUGHS, "anchors (&a) and aliases are not allowed", id="billion-laughs"),
        pytest.param("id: dongcun\nname: " + "9" * 5000 + "\n", "too many digits", id="huge-int"),
        pytest.param("id: " + "[" * 3000 + "]" * 3000, "nested more than", id="deep"),
    ],
)
def test_a_hostile_village_text_is_an_issue_not_an_expansion(
    ctx: ApiContext, text: str, says: str
) -> None:
    maint = Client(ctx).as_("maint")
    for reply in (
        maint.post("/api/config/village/check", json={"text": text}),
        maint.request("PUT", "/api/config/villages/dongcun", json={"text": text, "note": "try"}),
    ):
        assert reply.status_code == 200, reply.text
        assert reply.json()["ok"] is False and reply.json().get("applied") is False
        (issue,) = reply.json()["issues"]
        assert says in issue["message"] and issue["line"] == 1 + ("name" in text)


def test_config_masks_personal_data_by_role_as_the_other_routes_do(tmp_path: Path) -> None:
    """Members' phones and tenants' names (village file and towns) reach admins only, as in
    /api/places and the registry; maintainers see the rest."""
    settings = write_deployment(tmp_path)
    settings.write_text(
        settings.read_text(encoding="utf-8") + "alerts: {towns: {qiaotou: {members: "
        "[{id: zhao, name: 赵六, phone: '13800000003'}]}}}\n",
        encoding="utf-8",
    )
    village = tmp_path / "dongcun.yaml"
    village.write_text(
        village.read_text(encoding="utf-8").replace(
            "- {id: g1, name:", "- {id: g1, team: {members: [{id: li, name: 李四, phone: "
            "'13800000001'}]}, name:", 1,
        ) + "team: {members: [{id: wang, name: 王五, phone: '13800000002'}]}\n"
        "houses:\n  - {id: a01, lock: lock-a01, tenants: [{id: t1, name: 张三丰}]}\n",
        encoding="utf-8",
    )  # fmt: skip
    ctx = open_context(load_deployment(settings), MemoryStore())
    try:
        for name, role in (("maint", UserRole.MAINTAINER), ("admin", UserRole.ADMIN)):
            ctx.users.add(name, PASSWORD, role, ["*"], 1)
        seen = Client(ctx).as_("maint").get("/api/config")
        full = Client(ctx).as_("admin").get("/api/config").text
    finally:
        ctx.close()
    assert seen.status_code == 200
    for personal in ("13800000001", "13800000002", "13800000003", "张三丰"):
        assert personal not in seen.text and personal in full
    body = seen.json()
    assert body["villages"][0]["houses"][0]["tenants"][0]["name"] == "张**"
    assert body["villages"][0]["team"]["members"][0] == {
        "id": "wang", "name": "王五", "role": "member", "phone": None
    }  # fmt: skip
    assert body["settings"]["alerts"]["towns"]["qiaotou"]["members"][0]["phone"] is None


def test_the_api_follows_a_village_file_changed_elsewhere(ctx: ApiContext) -> None:
    """A gauge added by hand (or by another API process) is served after ctx.follow, which
    the API's config follower calls on each change of the files."""
    source = ctx.deployment.settings.villages[0]
    text = source.read_text(encoding="utf-8").replace(
        "devices:\n", "devices:\n  - {id: wl-added, kind: water_level, grid: g1}\n", 1
    )
    source.write_text(text, encoding="utf-8")
    assert ("dongcun", "wl-added") not in ctx.devices
    ctx.follow(ctx.deployment.reload())
    assert ("dongcun", "wl-added") in ctx.devices


def test_a_grid_maintainer_changes_the_devices_of_their_grids_only(ctx: ApiContext) -> None:
    """A maintainer of grid g1 (and its micro-grid g1-bridge) may change those devices and
    their own detector settings; anything else in the file is refused, every part named."""
    ctx.users.add("g1-maint", PASSWORD, UserRole.MAINTAINER, ["grid:dongcun/g1"], 0)
    g1 = Client(ctx).as_("g1-maint")
    path = ctx.deployment.settings.villages[0]

    def apply(edit: Any) -> httpx.Response:
        text = edit(path.read_text(encoding="utf-8"))
        return g1.request("PUT", "/api/config/villages/dongcun",
                          json={"text": text, "note": "grid work"})  # fmt: skip

    mine = apply(lambda t: t.replace("warning_cm: 200,", "warning_cm: 190,", 1))  # wl-bridge
    assert mine.status_code == 200 and mine.json()["applied"] is True, mine.text
    renamed = apply(lambda t: t.replace("name: 闸口水位计", "name: 新闸口", 1))  # wl-sluice, g1
    assert renamed.status_code == 200, renamed.text
    theirs = apply(lambda t: t.replace("name: A 片 1 号出租房", "name: A1", 1))
    assert theirs.status_code == 403
    assert "device lock-a01 (grid g3-a, not one of yours)" in theirs.json()["detail"]
    moved = apply(
        lambda t: t.replace("kind: water_level, grid: g1,", "kind: water_level, grid: g3,", 1)
    )
    assert moved.status_code == 403 and "device wl-sluice (grid g3" in moved.json()["detail"]
    village = apply(lambda t: t.replace("name: 东村", "name: 西村", 1))
    assert (
        village.status_code == 403
        and "name (the village's own settings)" in village.json()["detail"]
    )
    assert "name: 新闸口" in path.read_text(encoding="utf-8")  # what was refused did not land
    assert "name: A 片 1 号出租房" in path.read_text(encoding="utf-8")
    versions = g1.get("/api/config/villages/dongcun/versions").json()["versions"]
    assert [v["note"] for v in versions][:2] == ["grid work", "grid work"]
    viewer = Client(ctx).as_("g3-viewer")
    assert viewer.get("/api/config/villages/dongcun/versions").status_code == 403
