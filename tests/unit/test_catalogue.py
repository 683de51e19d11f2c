"""Rendering an alert's message: by key in each language, the stored text without one,
parameters taken as text (never as more fields)."""

from __future__ import annotations

from villagewatch.catalogue import alert_text, detector_name, kind_name, num, render


def test_an_alert_without_a_key_or_with_an_unknown_one_shows_its_stored_text() -> None:
    assert alert_text("", {}, "old text", "zh") == "old text"
    assert alert_text(None, None, "old text", "en") == "old text"
    assert alert_text("from.a.newer.version", {"x": "1"}, "stored", "zh") == "stored"


def test_parameters_are_text_not_fields_and_a_missing_one_stays_visible() -> None:
    hostile = {"label": "{value}<script>", "value": "205", "warning": "200"}
    text = render("water_level.above_warning", hostile, "en")
    assert text.startswith("{value}<script>: water at 205 cm")
    assert "{warning}" in render("water_level.above_warning", {"label": "g"}, "zh")


def test_villages_kinds_and_detectors_by_name_unknown_ones_as_they_are() -> None:
    said = {"village": "dongcun", "count": "9", "total": "12"}
    assert render("offline.village_down", said, "zh", places={"dongcun": "东村"}).startswith("东村")
    assert render("offline.village_down", said, "en").startswith("dongcun")
    assert (kind_name("spike:level_cm", "zh"), kind_name("new_kind", "en")) == (
        "读数跳变 (level_cm)",
        "new_kind",
    )
    assert (detector_name("water_level", "en"), detector_name("x", "zh")) == ("water level", "x")


def test_numbers_read_the_same_in_both_languages() -> None:
    got = [num(274.8), num(200.0), num(-0.04), num(1234567.0), num(2.25)]
    assert got == ["274.8", "200", "0", "1234567", "2.2"]
