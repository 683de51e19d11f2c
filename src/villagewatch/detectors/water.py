"""Water: levels against a gauge's warning levels, fast rises, and rain accumulations."""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

from villagewatch.catalogue import Said, num
from villagewatch.contract import Reading
from villagewatch.detectors.base import Detector, Flags
from villagewatch.detectors.config import LevelConfig, RainConfig, RiseConfig
from villagewatch.transitions import AlertKey, Severity, Transition

__all__ = ["RainAccumulation", "WaterLevel", "WaterRise"]

_NONE = -1


class WaterLevel(Detector):
    """One alert per gauge whose severity follows the water: blue → yellow → orange → red.

    A band is entered once the level has stayed at or above it for ``hold_s``;
    the alert steps down only when the water is ``deadband_cm`` below the band,
    so water lapping at a threshold raises one alert per real crossing.
    """

    name = "water_level"

    def __init__(self, config: LevelConfig, *, village: str, device: str, label: str) -> None:
        self._cfg = config
        self._key = AlertKey(self.name, village, device, "level")
        self._label = label
        bands: list[tuple[Severity, float]] = []
        if config.blue_margin_cm > 0:
            bands.append((Severity.BLUE, config.warning_cm - config.blue_margin_cm))
        bands.append((Severity.YELLOW, config.warning_cm))
        if config.guaranteed_cm is not None:
            bands.append((Severity.ORANGE, config.guaranteed_cm))
        if config.historical_max_cm is not None:
            bands.append((Severity.RED, config.historical_max_cm))
        self._bands = bands
        self._band = _NONE
        self._above_since: dict[int, int] = {}
        self._last_ms: int | None = None
        self._last_value: float | None = None

    def reading(self, r: Reading, flags: Flags) -> list[Transition]:
        """Move between bands as the (usable) level holds or falls."""
        metric = self._cfg.metric
        value = r.values.get(metric)
        at = r.at_ms
        if value is None or not flags.usable(metric):
            return []
        if self._last_ms is not None and at <= self._last_ms:
            return []  # out of order: the level's story is told in device time
        self._last_ms, self._last_value = at, value
        return self._move(value, at, at, r.historical)

    def reconsider(self, now_ms: int) -> list[Transition]:
        """The last level against the new bands: a lowered warning level fires now (once the
        level has been above it ``hold_s``, counted from the last reading at the latest), a
        raised one clears. Decided at ``now_ms``, the time of the change, so its transition
        is never mistaken for one the reading itself made."""
        if self._last_ms is None or self._last_value is None:
            return []
        return self._move(self._last_value, self._last_ms, now_ms, historical=False)

    def _move(self, value: float, at: int, decided_ms: int, historical: bool) -> list[Transition]:
        for i, (_, threshold) in enumerate(self._bands):
            if value >= threshold:
                self._above_since.setdefault(i, at)
            else:
                self._above_since.pop(i, None)
        hold_ms = self._cfg.hold_s * 1000
        held = [i for i, since in self._above_since.items() if at - since >= hold_ms]
        target = max(held, default=_NONE)
        if target <= self._band:
            target = self._band
            while target > _NONE and value < self._bands[target][1] - self._cfg.deadband_cm:
                target -= 1
        if target == self._band:
            return []
        before, self._band = self._band, target
        return [self._transition(before, target, value, decided_ms, historical)]

    def _transition(
        self, before: int, after: int, value: float, at: int, historical: bool
    ) -> Transition:
        details = {"value": value, "thresholds": {s.value: t for s, t in self._bands}}
        if after == _NONE:
            said = Said("water_level.down", {"label": self._label, "value": num(value),
                                             "warning": num(self._cfg.warning_cm)})  # fmt: skip
            return Transition(
                self._key, "clear", self._bands[before][0], at, said.text, details, historical,
                message_key=said.key, params=said.params,
            )  # fmt: skip
        severity, threshold = self._bands[after]
        action: Literal["fire", "update"] = "fire" if before == _NONE else "update"
        said = self._said(value)
        return Transition(
            self._key, action, severity, at, said.text, {**details, "threshold": threshold},
            historical, message_key=said.key, params=said.params,
        )  # fmt: skip

    def _said(self, value: float) -> Said:
        """The reading against the highest configured level it reached — not the band's: a
        band is entered only after ``hold_s`` and left ``deadband_cm`` below it, so the water
        may stand above or below the band's own threshold when the alert changes."""
        c, params = self._cfg, {"label": self._label, "value": num(value)}
        if c.historical_max_cm is not None and value >= c.historical_max_cm:
            return Said("water_level.above_record", {**params, "record": num(c.historical_max_cm)})
        if c.guaranteed_cm is not None and value >= c.guaranteed_cm:
            return Said(
                "water_level.above_guaranteed", {**params, "guaranteed": num(c.guaranteed_cm)}
            )
        if value >= c.warning_cm:
            return Said("water_level.above_warning", {**params, "warning": num(c.warning_cm)})
        gap = num(c.warning_cm - value)
        return Said(
            "water_level.below_warning", {**params, "warning": num(c.warning_cm), "gap": gap}
        )

    def firing(self) -> bool:
        """Whether the level alert is on."""
        return self._band != _NONE

    def snapshot(self) -> dict[str, Any]:
        """Band (and its severity), when each band was first met, the last reading."""
        severity = self._bands[self._band][0].value if self._band != _NONE else None
        return {
            "band": self._band,
            "severity": severity,
            "above_since": self._above_since,
            "last_ms": self._last_ms,
            "last_value": self._last_value,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot`, also one made under other bands (the settings
        changed): the alert stays on at the highest band no worse than its severity, and
        when the time a band was first met is not known, :meth:`reconsider` counts it from the
        last reading."""
        self._band = state["band"]
        self._above_since = {int(k): v for k, v in state["above_since"].items()}
        self._last_ms = state["last_ms"]
        self._last_value = state.get("last_value")  # states saved before it was kept: None
        saved = state.get("severity")
        if saved is not None:
            rank = Severity(saved).rank
            fitting = [i for i, (s, _) in enumerate(self._bands) if s.rank <= rank]
            self._band = max(fitting, default=0)
        self._band = min(self._band, len(self._bands) - 1)
        self._above_since = {i: t for i, t in self._above_since.items() if i < len(self._bands)}

    def forget_future(self, limit_ms: int) -> None:
        """See :meth:`Detector.forget_future`."""
        if self._last_ms is not None and self._last_ms > limit_ms:
            self._last_ms = None
        self._above_since = {i: t for i, t in self._above_since.items() if t <= limit_ms}


class WaterRise(Detector):
    """水位陡升: the level rose by ``rise_cm`` or more within ``window_s`` (its own alert)."""

    name = "water_rise"

    def __init__(self, config: RiseConfig, *, village: str, device: str, label: str) -> None:
        self._cfg = config
        self._key = AlertKey(self.name, village, device, "rise")
        self._label = label
        self._window: deque[tuple[int, float]] = deque()
        self._on = False

    def reading(self, r: Reading, flags: Flags) -> list[Transition]:
        """Compare the level with the lowest in the window."""
        metric = self._cfg.metric
        value = r.values.get(metric)
        at = r.at_ms
        if value is None or not flags.usable(metric):
            return []
        if self._window and at <= self._window[-1][0]:
            return []
        low = self._push(at, value)
        rise = value - low
        minutes = self._cfg.window_s / 60
        params = {"label": self._label, "value": num(value)}
        if not self._on and rise >= self._cfg.rise_cm:
            self._on = True
            said = Said("water_rise.fire", {**params, "rise": num(rise), "minutes": num(minutes)})
            action: Literal["fire", "clear"] = "fire"
        elif self._on and rise < self._cfg.rise_cm / 2:
            self._on = False
            said, action = Said("water_rise.clear", params), "clear"
        else:
            return []
        return [
            Transition(
                self._key, action, Severity.ORANGE, at, said.text, {"value": value, "rise": rise},
                r.historical, message_key=said.key, params=said.params,
            )
        ]  # fmt: skip

    def _push(self, at: int, value: float) -> float:
        """Add a level; return the lowest within the window. The window keeps only the
        readings that can still be its minimum (each lower and later than the one before),
        so the newest reading is always its last entry."""
        window = self._window
        while window and window[-1][1] >= value:
            window.pop()
        window.append((at, value))
        start = at - self._cfg.window_s * 1000
        while window[0][0] < start:
            window.popleft()
        return window[0][1]

    def firing(self) -> bool:
        """Whether the rise alert is on."""
        return self._on

    def snapshot(self) -> dict[str, Any]:
        """The window's candidate minimums (time, level) and whether the alert is on."""
        return {"window": list(self._window), "on": self._on}

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot`."""
        self._window = deque()
        for t, v in state["window"]:
            self._push(int(t), float(v))
        self._on = state["on"]

    def forget_future(self, limit_ms: int) -> None:
        """See :meth:`Detector.forget_future`."""
        kept = [(t, v) for t, v in self._window if t <= limit_ms]
        if len(kept) < len(self._window):
            self.restore({"window": kept, "on": self._on})


class RainAccumulation(Detector):
    """Rain summed over sliding 1/3/6/12/24-hour windows against tiers; one alert per gauge."""

    name = "rain"

    def __init__(self, config: RainConfig, *, village: str, device: str, label: str) -> None:
        self._cfg = config
        self._key = AlertKey(self.name, village, device, "rain")
        self._label = label
        self._windows = sorted({t.window_h for t in config.tiers})
        self._rain: deque[tuple[int, float]] = deque()
        """(time, mm) of the readings with rain within the longest window."""
        self._sums = dict.fromkeys(self._windows, 0.0)
        self._outside = dict.fromkeys(self._windows, 0)
        """Per window: how many entries at the left of ``_rain`` are older than it."""
        self._last_ms: int | None = None
        self._met: set[int] = set()
        self._severity: Severity | None = None

    def _add(self, at: int, mm: float) -> None:
        """Slide every window to end at ``at``: running sums, not a re-count of a day of rain."""
        rain, sums, outside = self._rain, self._sums, self._outside
        self._last_ms = at
        if mm > 0:
            rain.append((at, mm))
            for w in self._windows:
                sums[w] += mm
        for w in self._windows:
            start, i = at - w * 3_600_000, outside[w]
            while i < len(rain) and rain[i][0] <= start:
                sums[w] -= rain[i][1]
                i += 1
            outside[w] = i
            if i == len(rain):
                sums[w] = 0.0  # exactly: no float residue left by the subtractions
        gone = outside[self._windows[-1]]
        for _ in range(gone):
            rain.popleft()
        for w in self._windows:
            outside[w] -= gone

    def reading(self, r: Reading, flags: Flags) -> list[Transition]:
        """Add the reading's rain and compare every window with its tiers."""
        mm = r.values.get("mm")
        at = r.at_ms
        if mm is None or not flags.usable("mm"):
            return []
        if self._last_ms is not None and at <= self._last_ms:
            return []
        self._add(at, mm)
        sums = self._sums
        for i, tier in enumerate(self._cfg.tiers):
            total = sums[tier.window_h]
            if total >= tier.mm or (i in self._met and total >= tier.mm * self._cfg.clear_ratio):
                self._met.add(i)
            else:
                self._met.discard(i)
        top = max(
            (self._cfg.tiers[i] for i in self._met), key=lambda t: t.severity.rank, default=None
        )
        severity = top.severity if top else None
        if severity == self._severity:
            return []
        before, self._severity = self._severity, severity
        details = {f"{h}h": round(v, 2) for h, v in sorted(sums.items())}
        if severity is None:
            assert before is not None
            longest = self._windows[-1]
            said = Said("rain.clear", {"label": self._label, "mm": num(sums[longest]),
                                       "hours": num(longest)})  # fmt: skip
            return [
                Transition(
                    self._key, "clear", before, at, said.text, details, r.historical,
                    message_key=said.key, params=said.params,
                )
            ]  # fmt: skip
        assert top is not None
        said = Said("rain.fire", {"label": self._label, "mm": num(sums[top.window_h]),
                                  "hours": num(top.window_h)})  # fmt: skip
        return [
            Transition(
                self._key, "fire" if before is None else "update", severity, at, said.text,
                details, r.historical, message_key=said.key, params=said.params,
            )
        ]  # fmt: skip

    def firing(self) -> bool:
        """Whether the rain alert is on."""
        return self._severity is not None

    def snapshot(self) -> dict[str, Any]:
        """Rain of the longest window, tiers met, current severity."""
        return {
            "rain": list(self._rain),
            "last_ms": self._last_ms,
            "met": sorted(self._met),
            "severity": self._severity.value if self._severity else None,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot`."""
        entries = [(int(t), float(v)) for t, v in state["rain"] if v > 0]
        last = state.get("last_ms", entries[-1][0] if entries else None)
        self._rain = deque()
        self._sums = dict.fromkeys(self._windows, 0.0)
        self._outside = dict.fromkeys(self._windows, 0)
        for t, v in entries:
            self._add(t, v)
        if last is not None:
            self._add(last, 0.0)
        self._last_ms = last
        self._met = set(state["met"])
        self._severity = Severity(state["severity"]) if state["severity"] else None

    def forget_future(self, limit_ms: int) -> None:
        """See :meth:`Detector.forget_future`."""
        if self._last_ms is None or self._last_ms <= limit_ms:
            return
        state = self.snapshot()
        state["rain"] = [(t, v) for t, v in self._rain if t <= limit_ms]
        state["last_ms"] = state["rain"][-1][0] if state["rain"] else None
        self.restore(state)
