"""A village file changed under a running engine: state carries over, levels judged at once."""

from __future__ import annotations

from typing import Any

from villagewatch.config.village import Village
from villagewatch.contract import Decoded
from villagewatch.detect.engine import DetectEngine
from villagewatch.detect.openalerts import REMOVED
from villagewatch.transitions import transition_id

from .test_engine import MIN, T0, VILLAGE, level


def village(**level_cfg: Any) -> Village:
    """VILLAGE with wl-1's level settings replaced (None: wl-1 removed)."""
    raw = VILLAGE.model_dump(mode="json")
    if not level_cfg:
        raw["devices"] = [d for d in raw["devices"] if d["id"] != "wl-1"]
        raw["detect"]["devices"] = {}
    else:
        raw["detect"]["devices"]["wl-1"]["level"].update(level_cfg)
    return Village.model_validate(raw)


def feed(engine: DetectEngine, *readings: Any) -> list[Any]:
    return [t for r in readings for t in engine.handle(Decoded([r], [], 0), r.at_ms)]


def test_a_lowered_warning_level_fires_on_the_last_reading_at_once() -> None:
    engine = DetectEngine([VILLAGE], now_ms=T0)
    assert feed(engine, level(0, 200, 0), level(1, 210, 1)) == []
    done = engine.reconfigure(village(warning_cm=205), T0 + 2 * MIN)
    assert done.changed == ["wl-1"] and not done.added and not done.removed
    (fired,) = done.transitions
    assert (fired.action, fired.severity.value, fired.at_ms) == ("fire", "yellow", T0 + 2 * MIN)
    # the state carried over: the same level again is no news, a lower one clears by the new band
    assert feed(engine, level(3, 210, 2)) == []
    assert [t.action for t in feed(engine, level(4, 199, 3)) if t.key.kind == "level"] == ["clear"]


def test_a_raised_level_clears_and_lowered_again_fires_with_a_new_id() -> None:
    engine = DetectEngine([VILLAGE], now_ms=T0)
    (fired,) = feed(engine, level(0, 300, 0))
    cleared = engine.reconfigure(village(warning_cm=400), T0 + MIN).transitions
    assert [t.action for t in cleared] == ["clear"]
    again = engine.reconfigure(village(warning_cm=250), T0 + 2 * MIN).transitions
    assert [t.action for t in again] == ["fire"]
    ids = [transition_id(t) for t in (fired, *cleared, *again)]
    assert len(set(ids)) == 3, ids


def test_an_unchanged_device_keeps_its_detectors_and_a_device_change_keeps_hysteresis() -> None:
    engine = DetectEngine([VILLAGE], now_ms=T0)
    feed(engine, level(0, 260, 0))  # yellow
    # only the deadband changed: still above the level, nothing to say, the alert stays on
    done = engine.reconfigure(village(deadband_cm=20), T0 + MIN)
    assert done.changed == ["wl-1"] and done.transitions == []
    assert feed(engine, level(2, 235, 1)) == [], "within the new 20 cm deadband"
    assert engine.reconfigure(village(deadband_cm=20), T0 + 3 * MIN).changed == []


def test_a_removed_device_resolves_its_open_alerts() -> None:
    engine = DetectEngine([VILLAGE], now_ms=T0)
    (fired,) = feed(engine, level(0, 300, 0))
    done = engine.reconfigure(village(), T0 + MIN)
    assert done.removed == ["wl-1"]
    (cleared,) = done.transitions
    assert (cleared.key, cleared.action, cleared.at_ms) == (fired.key, "clear", T0 + MIN)
    assert REMOVED in cleared.message and cleared.details == {"reason": REMOVED}
    assert feed(engine, level(2, 300, 1)) == [] and engine.counts.unknown == 1


def test_alerts_open_at_start_are_known_from_the_store() -> None:
    engine = DetectEngine([VILLAGE], now_ms=T0)
    engine.open_alerts.seed(
        [{"detector": "water_level", "village": "v", "subject": "wl-1", "kind": "level",
          "severity": "orange"}]
    )  # fmt: skip
    (cleared,) = engine.reconfigure(village(), T0 + MIN).transitions
    assert (str(cleared.key), cleared.severity.value) == ("water_level/v/wl-1/level", "orange")


def test_an_alert_keeps_its_severity_when_bands_are_added_below_it() -> None:
    engine = DetectEngine([VILLAGE], now_ms=T0)
    (fired,) = feed(engine, level(0, 260, 0))
    assert fired.severity.value == "yellow"
    # a blue band now comes first: the open yellow alert is still yellow, not "blue"
    assert engine.reconfigure(village(blue_margin_cm=30), T0 + MIN).transitions == []
    assert feed(engine, level(2, 262, 1)) == []


def test_a_family_turned_off_resolves_its_alert_and_keeps_the_others_state() -> None:
    engine = DetectEngine([VILLAGE], now_ms=T0)
    feed(engine, level(0, 300, 0))
    raw = VILLAGE.model_dump(mode="json")
    raw["detect"]["devices"]["wl-1"]["level"] = False
    done = engine.reconfigure(Village.model_validate(raw), T0 + MIN)
    assert [(t.key.detector, t.action, t.details) for t in done.transitions] == [
        ("water_level", "clear", {"reason": REMOVED})
    ]


def test_an_added_device_is_watched_and_the_others_keep_when_they_were_heard_of() -> None:
    engine = DetectEngine([VILLAGE], now_ms=T0)
    feed(engine, level(0, 100, 0))
    raw = VILLAGE.model_dump(mode="json")
    raw["devices"].append({"id": "wl-2", "kind": "water_level", "grid": "g", "interval_s": 60})
    done = engine.reconfigure(Village.model_validate(raw), T0 + 10 * MIN)
    assert done.added == ["wl-2"] and done.changed == [] and done.transitions == []
    # wl-1 was last heard of at minute 0, wl-2 counts from the change: only wl-1 is silent yet
    first: dict[str, int] = {}
    for minute in range(11, 30):
        for t in engine.tick(T0 + minute * MIN):
            first.setdefault(t.key.subject, minute)
    assert first["wl-1"] < first["wl-2"], first
    assert first["wl-2"] - 10 >= 3, "three intervals of silence after the change"


def restarted(before: DetectEngine, config: Village, firing: list[dict[str, Any]]) -> DetectEngine:
    """A new engine on ``config`` with ``before``'s saved states and the store's firing
    alerts, as detect opens after a restart."""
    engine = DetectEngine([config], now_ms=T0 + 5 * MIN)
    engine.restore(before.dirty_states().items(), now_ms=T0 + 5 * MIN)
    engine.open_alerts.seed(firing)
    return engine


def test_a_level_lowered_while_detect_was_down_fires_at_start() -> None:
    before = DetectEngine([VILLAGE], now_ms=T0)
    assert feed(before, level(0, 210, 0)) == []
    (fired,) = restarted(before, village(warning_cm=205), []).settle(T0 + 6 * MIN)
    assert (fired.action, fired.severity.value, fired.at_ms) == ("fire", "yellow", T0 + 6 * MIN)
    # the config it ran with: nothing to say again
    assert restarted(before, VILLAGE, []).settle(T0 + 6 * MIN) == []


def test_a_device_removed_while_detect_was_down_resolves_at_start() -> None:
    before = DetectEngine([VILLAGE], now_ms=T0)
    (fired,) = feed(before, level(0, 300, 0))
    row = {"detector": fired.key.detector, "village": "v", "subject": "wl-1", "kind": "level",
           "severity": fired.severity.value}  # fmt: skip
    (cleared,) = restarted(before, village(), [row]).settle(T0 + 6 * MIN)
    assert (cleared.key, cleared.action) == (fired.key, "clear")
    assert cleared.details == {"reason": REMOVED}
    assert restarted(before, VILLAGE, [row]).settle(T0 + 6 * MIN) == []  # still configured
    # the village's link-down is no device's: it stays
    link = {**row, "detector": "offline", "subject": "v", "kind": "link_down"}
    assert restarted(before, village(), [link]).settle(T0 + 6 * MIN) == []
