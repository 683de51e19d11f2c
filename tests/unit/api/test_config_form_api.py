"""The config page's routes: the village file's schema with units for the form, the file as it
is now with the detector settings it sets, and a preview (problems and diff) that changes
nothing."""

from __future__ import annotations

from tests.unit.api.conftest import PASSWORD, Client, now_ms
from villagewatch.api.context import ApiContext
from villagewatch.api.users import UserRole


def _grid_maintainer(ctx: ApiContext) -> Client:
    ctx.users.add("g1-maint", PASSWORD, UserRole.MAINTAINER, ["grid:dongcun/g1"], now_ms())
    return Client(ctx).as_("g1-maint")


def test_the_schema_has_descriptions_bounds_and_units_and_the_villages_one_may_change(
    ctx: ApiContext,
) -> None:
    body = Client(ctx).as_("maint").get("/api/config/village/schema").json()
    level = body["village_schema"]["$defs"]["LevelConfig"]["properties"]
    assert level["warning_cm"]["unit"] == "cm" and "警戒水位" in level["warning_cm"]["description"]
    assert level["blue_margin_cm"]["minimum"] == 0 and level["hold_s"]["unit"] == "s"
    assert "unit" not in level["metric"]
    tier = body["village_schema"]["$defs"]["RainTier"]["properties"]
    assert tier["mm"]["unit"] == "mm" and tier["window_h"]["enum"] == [1, 3, 6, 12, 24]
    assert body["villages"] == [{"id": "dongcun", "name": "东村"}]
    # a grid's maintainer changes the devices of their grid (api/configscope.py)
    grid = _grid_maintainer(ctx).get("/api/config/village/schema").json()["villages"]
    assert grid == [{"id": "dongcun", "name": "东村"}]


def test_the_file_route_gives_the_text_and_only_the_detector_settings_it_sets(
    ctx: ApiContext,
) -> None:
    path = ctx.deployment.settings.villages[0]
    body = Client(ctx).as_("maint").get("/api/config/villages/dongcun/file").json()
    assert body["text"] == path.read_text(encoding="utf-8")
    assert body["issues"] == []
    assert body["detect"] == {
        "devices": {
            "wl-bridge": {
                "level": {
                    "warning_cm": 200, "guaranteed_cm": 260, "historical_max_cm": 400,
                    "blue_margin_cm": 20, "hold_s": 60, "deadband_cm": 5,
                }
            }
        }
    }  # fmt: skip
    assert _grid_maintainer(ctx).get("/api/config/villages/dongcun/file").status_code == 200


def test_a_broken_file_on_disk_is_given_with_its_issues_and_no_settings(ctx: ApiContext) -> None:
    path = ctx.deployment.settings.villages[0]
    path.write_text(path.read_text(encoding="utf-8") + "\nbogus: 1\n", encoding="utf-8")
    body = Client(ctx).as_("maint").get("/api/config/villages/dongcun/file").json()
    assert body["detect"] is None and [i["path"] for i in body["issues"]] == ["bogus"]


def test_a_preview_gives_the_diff_or_the_problems_where_they_are_and_changes_nothing(
    ctx: ApiContext,
) -> None:
    path = ctx.deployment.settings.villages[0]
    before = path.read_text(encoding="utf-8")
    maint = Client(ctx).as_("maint")
    url = "/api/config/villages/dongcun/preview"

    good = maint.post(url, json={"text": before.replace("warning_cm: 200", "warning_cm: 150")})
    assert good.status_code == 200, good.text
    assert good.json()["ok"] is True and good.json()["issues"] == []
    diff = good.json()["diff"]
    assert "-      level: {warning_cm: 200" in diff and "+      level: {warning_cm: 150" in diff
    assert good.json()["detect"]["devices"]["wl-bridge"]["level"]["warning_cm"] == 150

    bad = maint.post(url, json={"text": before.replace("blue_margin_cm: 20", "blue_margin_cm: -5")})
    (issue,) = bad.json()["issues"]
    assert bad.json()["ok"] is False and bad.json()["detect"] is None
    assert issue["path"] == "detect.devices.wl-bridge.level.blue_margin_cm"
    assert issue["line"] == 49 and "greater than or equal to 0" in issue["message"]

    other = maint.post(url, json={"text": before.replace("id: dongcun", "id: xicun", 1)})
    assert other.json()["ok"] is False and "xicun" in other.json()["issues"][0]["message"]

    same = maint.post(url, json={"text": before}).json()
    assert same["ok"] is True and same["issues"] == [] and same["diff"] == ""
    assert path.read_text(encoding="utf-8") == before
    assert ctx.versions.versions("village:dongcun") == []
    assert _grid_maintainer(ctx).post(url, json={"text": before}).status_code == 200
