# ruff: noqa: RUF001 - the Chinese texts use full-width punctuation on purpose
"""The CLI and the monthly report in the reader's language: --lang, else alerts.locale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from villagewatch.alerts import AlertDatabase, AlertPolicy
from villagewatch.catalogue import Said
from villagewatch.cli import app
from villagewatch.transitions import AlertKey, Severity, Transition

NOW = 1_795_000_000_000
ZH = "东村：12 台设备中 9 台同时失联"
EN = "东村: 9 of 12 devices went silent together"


def deployment(tmp_path: Path, alerts: dict[str, Any]) -> str:
    village = {"id": "dongcun", "name": "东村", "town": "t", "grids": [{"id": "g", "name": "g"}]}
    (tmp_path / "village.yaml").write_bytes(orjson.dumps(village))
    settings = tmp_path / "settings.yaml"
    settings.write_bytes(orjson.dumps({"villages": ["village.yaml"], "alerts": alerts}))
    store = AlertDatabase(tmp_path / "var" / "alerts.db")
    said = Said("offline.village_down", {"village": "dongcun", "count": "9", "total": "12"})
    fire = Transition(
        AlertKey("offline", "dongcun", "dongcun", "link_down"), "fire", Severity.ORANGE, NOW,
        said.text, message_key=said.key, params=said.params,
    )  # fmt: skip
    store.apply(fire, "f1", AlertPolicy(), NOW)
    store.close()
    return str(settings)


@pytest.mark.parametrize(
    ("locale", "args", "says"),
    [
        pytest.param(None, [], ZH, id="default-zh"),
        pytest.param(None, ["--lang", "en"], EN, id="lang-en"),
        pytest.param("en", [], EN, id="config-en"),
        pytest.param("en", ["--lang", "zh"], ZH, id="lang-over-config"),
    ],
)
def test_alerts_list_and_show_in_the_readers_language(
    tmp_path: Path, locale: str | None, args: list[str], says: str
) -> None:
    settings = deployment(tmp_path, {"locale": locale} if locale else {})
    runner = CliRunner()
    for command in (["list"], ["show", "1"]):
        result = runner.invoke(app, ["alerts", *command, "-c", settings, *args])
        assert result.exit_code == 0, result.output
        assert says in result.output


def test_the_report_names_kinds_in_the_readers_language(tmp_path: Path) -> None:
    settings = deployment(tmp_path, {})
    runner = CliRunner()
    month = ["alerts", "report", "-c", settings, "--month", "2026-11"]
    assert "网络中断 (link_down)" in runner.invoke(app, month).output
    assert "link down (link_down)" in runner.invoke(app, [*month, "--lang", "en"]).output
    bad = runner.invoke(app, [*month, "--lang", "fr"])
    assert bad.exit_code == 2 and "'fr' is not one of 'zh', 'en'" in bad.output
