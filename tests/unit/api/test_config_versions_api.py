"""Config versions in the API: apply needs a note; list, show, diff and roll back versions of
a village file, in the maintainer's places only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.api.conftest import PASSWORD, Client, now_ms
from villagewatch.api.context import ApiContext
from villagewatch.api.users import UserRole

_URL = "/api/config/villages/dongcun"


def _put(client: Client, text: str, **extra: object) -> dict[str, object]:
    reply = client.request("PUT", _URL, json={"text": text, **extra})
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def _file(ctx: ApiContext) -> Path:
    return ctx.deployment.settings.villages[0]


@pytest.mark.parametrize(
    "body", [pytest.param({}, id="missing"), pytest.param({"note": "  "}, id="blank")]
)
def test_applying_without_a_note_is_refused_in_plain_words(
    ctx: ApiContext, body: dict[str, str]
) -> None:
    before = _file(ctx).read_text(encoding="utf-8")
    reply = Client(ctx).as_("maint").request("PUT", _URL, json={"text": before, **body})
    assert reply.status_code == 422
    (error,) = reply.json()["detail"]
    assert error["loc"] == ["body", "note"]
    assert error["msg"].startswith("a note is required: say why the file changes")
    assert ctx.versions.versions("village:dongcun") == []


def test_an_apply_is_kept_with_who_why_and_the_original_before_it(ctx: ApiContext) -> None:
    maint = Client(ctx).as_("maint")
    original = _file(ctx).read_text(encoding="utf-8")
    changed = original.replace("name: 石桥水位计", "name: 新水位计", 1)
    body = _put(maint, changed, note="rename the bridge gauge")
    assert body["applied"] is True and body["version"] == 2
    assert "detect follows within 5 s" in str(body["note"])
    listed = maint.get(f"{_URL}/versions").json()["versions"]
    assert [(v["number"], v["who"], v["note"]) for v in listed] == [
        (2, "maint", "rename the bridge gauge"),
        (1, "(on disk)", "the file as found on disk before the first recorded change"),
    ]
    shown = maint.get(f"{_URL}/versions/2").json()
    assert shown["text"] == changed
    assert "\n-" in shown["diff"] and "\n+" in shown["diff"]
    assert "新水位计" in shown["diff"] and "石桥水位计" in shown["diff"]
    assert maint.get(f"{_URL}/versions/1").json()["text"] == original
    assert "新水位计" in maint.get(f"{_URL}/versions/1", params={"against": 2}).json()["diff"]
    audit = ctx.users.audit_log(limit=1)[0]
    assert audit.action == "apply_config"


def test_a_rollback_applies_an_old_version_as_a_new_one(ctx: ApiContext) -> None:
    maint = Client(ctx).as_("maint")
    original = _file(ctx).read_text(encoding="utf-8")
    _put(maint, original.replace("name: 石桥水位计", "name: 新水位计", 1), note="rename")
    reply = maint.post(f"{_URL}/versions/1/rollback", json={"note": "the old name was right"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["applied"] is True and reply.json()["version"] == 3
    assert _file(ctx).read_text(encoding="utf-8") == original
    names = {d["id"]: d["name"] for d in maint.get("/api/devices").json()}
    assert names["wl-bridge"] == "石桥水位计", "served at once"
    newest = maint.get(f"{_URL}/versions").json()["versions"][0]
    assert (newest["rollback_of"], newest["note"]) == (1, "the old name was right")
    assert ctx.users.audit_log(limit=1)[0].action == "rollback_config"
    assert maint.post(f"{_URL}/versions/1/rollback", json={}).status_code == 422


def test_a_rollback_to_a_version_no_longer_valid_is_refused_and_nothing_changes(
    ctx: ApiContext,
) -> None:
    """A hand edit that broke the file is kept as a version; rolling back to it is checked
    like any apply."""
    maint = Client(ctx).as_("maint")
    original = _file(ctx).read_text(encoding="utf-8")
    _file(ctx).write_text(original + "bogus: 1\n", encoding="utf-8")  # by hand, broken
    _put(maint, original, note="repair")  # v1: the broken file on disk, v2: repaired
    reply = maint.post(f"{_URL}/versions/1/rollback", json={"note": "back"})
    body = reply.json()
    assert reply.status_code == 200 and body["ok"] is False and body["applied"] is False
    assert body["issues"][0]["path"] == "bogus"
    assert _file(ctx).read_text(encoding="utf-8") == original
    assert [v["number"] for v in maint.get(f"{_URL}/versions").json()["versions"]] == [2, 1]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/versions/9"), ("POST", "/versions/9/rollback")],
)
def test_an_unknown_version_is_not_found(ctx: ApiContext, method: str, path: str) -> None:
    reply = Client(ctx).as_("maint").request(method, _URL + path, json={"note": "x"})
    assert reply.status_code == 404 and "has no version 9" in reply.json()["detail"]


def test_versions_of_a_village_out_of_scope_are_not_found(ctx: ApiContext) -> None:
    ctx.users.add("xicun-maint", PASSWORD, UserRole.MAINTAINER, ["village:xicun"], now_ms())
    other = Client(ctx).as_("xicun-maint")
    original = _file(ctx).read_text(encoding="utf-8")
    _put(Client(ctx).as_("maint"), original, note="keep")
    for method, path, body in (
        ("GET", "/versions", None),
        ("GET", "/versions/1", None),
        ("POST", "/versions/1/rollback", {"note": "x"}),
        ("PUT", "", {"text": original, "note": "x"}),
    ):
        reply = other.request(method, _URL + path, json=body)
        assert reply.status_code == 404, (method, path, reply.text)


def test_a_village_file_applied_as_it_is_written_with_the_note_in_the_query(
    ctx: ApiContext,
) -> None:
    """A maintainer sends the YAML file itself (curl --data-binary @dongcun.yaml), not YAML
    wrapped in JSON; the same checks, the same version, the same answer."""
    maint = Client(ctx).as_("maint")
    yaml = {"Content-Type": "application/yaml"}
    original = _file(ctx).read_text(encoding="utf-8")
    changed = original.replace("name: 石桥水位计", "name: 新水位计", 1)
    reply = maint.request(
        "PUT", f"{_URL}/file", params={"note": "rename the gauge"}, content=changed.encode(),
        headers=yaml,
    )  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.json()["applied"] is True and reply.json()["version"] == 2
    assert _file(ctx).read_text(encoding="utf-8") == changed
    assert ctx.versions.versions("village:dongcun")[0].note == "rename the gauge"
    broken = maint.request(
        "PUT", f"{_URL}/file", params={"note": "oops"}, content=b"id: dongcun\nname: [",
        headers=yaml,
    )  # fmt: skip
    assert broken.status_code == 200 and broken.json()["ok"] is False
    assert broken.json()["issues"][0]["message"].startswith("not valid YAML")
    refusals = [
        ({"note": "why"}, changed.encode(), {"Content-Type": "application/json"}, 415),
        ({}, changed.encode(), yaml, 422),
        ({"note": "why"}, b"\xff\xfe", yaml, 400),
    ]
    for params, body, headers, status in refusals:
        got = maint.request("PUT", f"{_URL}/file", params=params, content=body, headers=headers)
        assert got.status_code == status, (params, headers, got.text)
    assert Client(ctx).as_("maint").request(
        "PUT", "/api/config/villages/nowhere/file", params={"note": "x"}, content=b"id: x",
        headers=yaml,
    ).status_code == 404  # fmt: skip
    assert len(ctx.versions.versions("village:dongcun")) == 2
