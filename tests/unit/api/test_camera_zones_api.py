"""Camera zones in the API: the latest picture, the zones as last applied, an apply that keeps
a version and sends the agent's desired config, what the agent reported, versions and a
rollback — for the cameras of the maintainer's places only."""

from __future__ import annotations

import os

import pytest

from tests.unit.api.conftest import PASSWORD, Client, now_ms
from villagewatch.api.context import ApiContext
from villagewatch.api.edgeconfig import BrokerUnreachable, Reported
from villagewatch.api.users import UserRole
from villagewatch.contract.control import DesiredConfig, ReportedConfig

_CAM = "/api/cameras/dongcun/cam-bridge"
LANE = {"id": "lane", "kind": "no_parking", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6]]}
JPEG = b"\xff\xd8\xff\xe0" + b"picture" + b"\xff\xd9"


class FakeEdge:
    """The broker as the routes see it: takes publishes (or is down), answers a report."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.report: Reported = None
        self.down = False

    def publish(self, topic: str, payload: bytes) -> None:
        if self.down:
            raise BrokerUnreachable("cannot reach the broker at 127.0.0.1:1883: refused")
        self.sent.append((topic, payload))

    def reported(self, village: str, agent: str) -> Reported:
        if self.down:
            raise BrokerUnreachable("cannot reach the broker at 127.0.0.1:1883: refused")
        return self.report


@pytest.fixture
def edge(ctx: ApiContext) -> FakeEdge:
    fake = FakeEdge()
    ctx.edge_config = fake
    return fake


def _apply(
    client: Client, zones: list[object], note: str = "fire lane marked"
) -> dict[str, object]:
    reply = client.request("PUT", f"{_CAM}/zones", json={"zones": zones, "masks": [], "note": note})
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def test_zones_start_empty_with_every_kind_and_no_picture(ctx: ApiContext, edge: FakeEdge) -> None:
    body = Client(ctx).as_("maint").get(f"{_CAM}/zones").json()
    assert body["zones"] == {"zones": [], "masks": []}
    assert body["version"] is None and body["picture"] is False
    assert body["agent"] == "edge-bridge"
    assert {"no_parking", "bin_area", "road", "water", "gauge", "space"} <= set(body["kinds"])
    assert Client(ctx).as_("maint").get(f"{_CAM}/picture").status_code == 404


def test_the_picture_is_the_cameras_newest_evidence(ctx: ApiContext, edge: FakeEdge) -> None:
    folder = ctx.deployment.settings.ingest.evidence_dir / "dongcun" / "cam-bridge"
    folder.mkdir(parents=True)
    (folder / "ev-old.jpg").write_bytes(JPEG.replace(b"picture", b"old"))
    (folder / "ev-new.jpg").write_bytes(JPEG)
    os.utime(folder / "ev-old.jpg", ns=(1, 1))
    reply = Client(ctx).as_("maint").get(f"{_CAM}/picture")
    assert reply.status_code == 200 and reply.content == JPEG
    assert reply.headers["content-type"] == "image/jpeg"
    assert Client(ctx).as_("maint").get(f"{_CAM}/zones").json()["picture"] is True


def test_an_apply_is_kept_sent_and_reported(ctx: ApiContext, edge: FakeEdge) -> None:
    maint = Client(ctx).as_("maint")
    assert maint.get(f"{_CAM}/reported").json()["state"] == "not_sent"
    body = _apply(maint, [LANE])
    assert body == {"version": 1, "desired_version": 1, "agent": "edge-bridge"}
    ((topic, payload),) = edge.sent
    assert topic == "vw/v1/dongcun/edge-bridge/config"
    assert DesiredConfig.model_validate_json(payload).version == 1
    shown = maint.get(f"{_CAM}/zones").json()
    assert shown["zones"]["zones"][0]["id"] == "lane"
    assert (shown["version"]["who"], shown["version"]["note"]) == ("maint", "fire lane marked")
    assert maint.get(f"{_CAM}/reported").json()["state"] == "waiting"
    edge.report = ReportedConfig(v=1, version=1, applied=True)
    assert maint.get(f"{_CAM}/reported").json()["state"] == "applied"
    edge.report = ReportedConfig(v=1, version=1, applied=False, error="a gauge zone needs …")
    refused = maint.get(f"{_CAM}/reported").json()
    assert (refused["state"], refused["error"]) == ("refused", "a gauge zone needs …")
    edge.report = "the agent's report cannot be read: Invalid JSON"
    assert maint.get(f"{_CAM}/reported").json()["state"] == "unreadable"
    assert ctx.users.audit_log(limit=1)[0].action == "apply_zones"


def test_versions_diff_and_rollback_send_the_old_zones_again(
    ctx: ApiContext, edge: FakeEdge
) -> None:
    maint = Client(ctx).as_("maint")
    _apply(maint, [LANE])
    _apply(maint, [], note="lane removed")
    listed = maint.get(f"{_CAM}/versions").json()["versions"]
    assert [(v["number"], v["note"]) for v in listed] == [
        (2, "lane removed"),
        (1, "fire lane marked"),
    ]
    assert "-- id: lane" in maint.get(f"{_CAM}/versions/2").json()["diff"]
    back = maint.post(f"{_CAM}/versions/1/rollback", json={"note": "lane back"})
    assert back.json() == {"version": 3, "desired_version": 3, "agent": "edge-bridge"}
    assert maint.get(f"{_CAM}/versions").json()["versions"][0]["rollback_of"] == 1
    assert b'"lane"' in edge.sent[-1][1]
    assert maint.get(f"{_CAM}/versions/9").status_code == 404


def test_a_broker_that_is_down_changes_nothing_and_says_so(ctx: ApiContext, edge: FakeEdge) -> None:
    edge.down = True
    maint = Client(ctx).as_("maint")
    reply = maint.request("PUT", f"{_CAM}/zones", json={"zones": [LANE], "note": "x"})
    assert reply.status_code == 503
    assert "not sent, nothing changed: cannot reach the broker" in reply.json()["detail"]
    assert maint.get(f"{_CAM}/versions").json()["versions"] == []
    assert maint.get(f"{_CAM}/reported").status_code == 503


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param({"zones": [LANE]}, "a note is required", id="no-note"),
        pytest.param({"zones": [{**LANE, "polygon": [[0, 0], [1.5, 0], [1, 1]]}], "note": "x"},
                     "outside the picture", id="outside"),
        pytest.param({"zones": [{**LANE, "polygon": [[0, 0], [1, 1]]}], "note": "x"},
                     "at least 3 items", id="two-corners"),
    ],
)  # fmt: skip
def test_bad_zones_are_refused_before_anything_is_sent(
    ctx: ApiContext, edge: FakeEdge, body: dict[str, object], words: str
) -> None:
    reply = Client(ctx).as_("maint").request("PUT", f"{_CAM}/zones", json=body)
    assert reply.status_code == 422
    assert words in reply.text
    assert "Value error" not in reply.text  # said as a user reads it
    assert edge.sent == []


def test_a_camera_without_an_agent_cannot_be_sent(ctx: ApiContext, edge: FakeEdge) -> None:
    reply = (
        Client(ctx)
        .as_("maint")
        .request("PUT", "/api/cameras/dongcun/cam-market/zones", json={"zones": [], "note": "x"})
    )
    assert reply.status_code == 409
    assert "no `agent` in village dongcun's file" in reply.json()["detail"]


def test_a_maintainer_changes_only_the_cameras_of_their_places(
    ctx: ApiContext, edge: FakeEdge
) -> None:
    ctx.users.add("g2-maint", PASSWORD, UserRole.MAINTAINER, ["grid:dongcun/g2"], now_ms())
    g2 = Client(ctx).as_("g2-maint")
    assert g2.get("/api/cameras/dongcun/cam-market/zones").status_code == 200
    for method, path in [("GET", "/zones"), ("GET", "/picture"), ("GET", "/reported"),
                         ("PUT", "/zones"), ("GET", "/versions")]:  # fmt: skip
        reply = g2.request(method, _CAM + path, json={"zones": [], "note": "x"})
        assert reply.status_code == 404, (method, path)
        assert "no camera 'cam-bridge' in village 'dongcun' among yours" in reply.text
    assert g2.get("/api/cameras/dongcun/wl-bridge/zones").status_code == 404  # not a camera
    assert edge.sent == []
