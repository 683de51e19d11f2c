"""When an object that stays is an alert: per zone kind, dwell and time of day.

=============  ==================  ===================================================
zone kind      detection           an object in the zone that …
=============  ==================  ===================================================
``no_parking``  illegal_parking    is at least ``min_object`` big and stays ``dwell_s``
``bin_area``    exposed_garbage    stays ``dwell_s`` in or ``near_px`` near the bins,
                                   raised outside the ``collection`` times
``road``        street_vending     stays ``dwell_s``, raised within ``hours``
``water``       river_debris       covers ``covered_min`` of the water for ``dwell_s``
=============  ==================  ===================================================

Each (object, zone) raises one ``detection`` and, when the object leaves, one
``cleared`` — never a second detection for the same object.

With a model stage (``labels`` given), what an object is counts too: a person standing
still is neither exposed garbage nor a parked car nor a stall, and street vending needs
a person beside the object that stays in the road zone (a stall with its vendor). Objects
the model has not recognised count as today.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from villagewatch.contract import MAX_OBJECTS
from villagewatch.edge.vision.config import TimeWindow, ZoneKind
from villagewatch.edge.vision.objects import Box, Tracked
from villagewatch.edge.vision.scene import ZoneArea

__all__ = ["DETECTION_OF", "Finding", "Rules", "active_at", "in_windows", "may_be", "pieces"]

DETECTION_OF = {
    ZoneKind.NO_PARKING: "illegal_parking",
    ZoneKind.BIN_AREA: "exposed_garbage",
    ZoneKind.ROAD: "street_vending",
    ZoneKind.WATER: "river_debris",
}
OBJECT_ZONES = (ZoneKind.NO_PARKING, ZoneKind.BIN_AREA, ZoneKind.ROAD)
_IN_ZONE = 0.5  # share of an object's box that must lie in the zone


@dataclass(frozen=True, slots=True)
class Finding:
    """A detection that starts (``cleared`` False) or ends, in processing pixels."""

    zone: ZoneArea
    detection: str
    box: Box
    score: float
    dwell_s: float
    cleared: bool = False
    covered_fraction: float | None = None
    label: str | None = None
    """What the model stage says the object is (``person``, ``vehicle``, …), when one ran."""
    label_score: float | None = None
    """The model stage's score for ``label``, 0 to 1."""
    objects: tuple[Box, ...] = ()
    """River debris: each floating object (a patch of changed water of at least the zone's
    ``min_object``), largest first, in processing pixels like ``box`` (which is
    the first of them). Empty: the finding is about the one object of ``box``."""


def in_windows(windows: list[TimeWindow], minute_of_day: int) -> bool:
    """Whether the minute falls in any of the windows."""
    return any(w.contains(minute_of_day) for w in windows)


def active_at(area: ZoneArea, minute_of_day: int) -> bool:
    """Whether the zone raises detections at this minute of the day (road: within ``hours``;
    bin_area: outside ``collection``; the rest: always)."""
    z = area.zone
    if z.kind is ZoneKind.ROAD:
        return not z.hours or in_windows(z.hours, minute_of_day)
    if z.kind is ZoneKind.BIN_AREA:
        return not in_windows(z.collection, minute_of_day)
    return True


def _share_inside(box: Box, inside: npt.NDArray[np.bool_]) -> float:
    x, y, w, h = box
    return float(inside[y : y + h, x : x + w].sum()) / max(1, w * h)


@dataclass(slots=True)
class _Water:
    since: float | None = None
    last_above: float = 0.0
    on: bool = False


class Rules:
    """Decides the findings of one camera from its objects and changed areas."""

    def __init__(self, zones: list[ZoneArea], small_area: int, grace_s: float) -> None:
        self.zones = [a for a in zones if a.zone.kind in OBJECT_ZONES]
        self.water = [a for a in zones if a.zone.kind is ZoneKind.WATER]
        self._small_area = small_area
        self._grace_s = grace_s
        self._raised: dict[tuple[int, str], Finding] = {}
        self._water = {a.zone.id: _Water() for a in self.water}

    def min_area(self) -> int:
        """The smallest object any object zone cares about, in processing pixels."""
        sizes = [a.zone.min_object for a in self.zones]
        return round(min(sizes) * self._small_area) if sizes else self._small_area

    def objects(
        self,
        objects: list[Tracked],
        gone: list[Tracked],
        now: float,
        minute_of_day: int,
        labels: Mapping[int, tuple[str, float]] | None = None,
    ) -> list[Finding]:
        """Detections of objects that reached their dwell; clearings of those that left.
        ``labels`` (object id → kind, score) are the model stage's, None without one."""
        out: list[Finding] = []
        for o in gone:
            for area in self.zones:
                raised = self._raised.pop((o.id, area.zone.id), None)
                if raised is not None:
                    out.append(
                        Finding(area, raised.detection, o.box, raised.score, o.dwell(now), True,
                                label=raised.label, label_score=raised.label_score)
                    )  # fmt: skip
        for o in objects:
            for area in self.zones:
                key = (o.id, area.zone.id)
                if key in self._raised or o.area < area.zone.min_object * self._small_area:
                    continue
                share = _share_inside(o.box, area.small)
                if share < _IN_ZONE or o.dwell(now) < area.zone.dwell_s:
                    continue
                if not active_at(area, minute_of_day):
                    continue
                label = labels.get(o.id) if labels is not None else None
                if labels is not None and not self._may_be(o, area, objects, labels):
                    continue
                f = Finding(
                    area, DETECTION_OF[area.zone.kind], o.box, share, o.dwell(now),
                    label=label[0] if label else None, label_score=label[1] if label else None,
                )  # fmt: skip
                self._raised[key] = f
                out.append(f)
        return out

    def _may_be(
        self,
        o: Tracked,
        area: ZoneArea,
        objects: list[Tracked],
        labels: Mapping[int, tuple[str, float]],
    ) -> bool:
        """Whether, by what the model says, ``o`` can be the zone's detection."""
        persons = [p.box for p in objects if _is_person(labels, p.id)]
        return may_be(area, o.box, labels.get(o.id), persons)

    def waters(self, changed: npt.NDArray[np.uint8], now: float) -> list[Finding]:
        """River debris: the share of each water zone that changed, held for ``dwell_s``."""
        out: list[Finding] = []
        hit = changed > 0
        for area in self.water:
            st = self._water[area.zone.id]
            covered_px = hit & area.small
            covered = float(covered_px.sum()) / max(1, area.small_pixels)
            if covered >= area.zone.covered_min:
                st.last_above = now
                st.since = now if st.since is None else st.since
                if not st.on and now - st.since >= area.zone.dwell_s:
                    st.on = True
                    parts = pieces(covered_px, area.zone.min_object * self._small_area)
                    out.append(
                        Finding(area, "river_debris", parts[0] if parts else _bbox(covered_px),
                                covered, now - st.since, covered_fraction=covered,
                                objects=tuple(parts))
                    )  # fmt: skip
            elif st.since is not None and now - st.last_above > self._grace_s:
                if st.on:
                    out.append(
                        Finding(area, "river_debris", _bbox(covered_px), covered,
                                now - st.since, cleared=True, covered_fraction=covered)
                    )  # fmt: skip
                st.since, st.on = None, False
        return out


def _is_person(labels: Mapping[int, tuple[str, float]], object_id: int) -> bool:
    label = labels.get(object_id)
    return label is not None and label[0] == "person"


def may_be(area: ZoneArea, box: Box, label: tuple[str, float] | None, persons: list[Box]) -> bool:
    """Whether an object at ``box`` that the model labelled ``label`` (None: not recognised)
    can be the zone's detection, with the model's ``persons`` in view (all in processing
    pixels): a person is none of them; a road zone's street vending needs a person in the
    zone beside the object (a stall with its vendor)."""
    if label is not None and label[0] == "person":
        return False
    if area.zone.kind is not ZoneKind.ROAD:
        return True
    return any(_share_inside(p, area.small) >= _IN_ZONE and _beside(p, box) for p in persons)


def _beside(person: Box, thing: Box) -> bool:
    """Whether ``thing`` is within half the person's height of the person (a vendor at a
    stall)."""
    x, y, w, h = person
    reach = h / 2
    return (
        thing[0] < x + w + reach
        and thing[0] + thing[2] > x - reach
        and thing[1] < y + h + reach
        and thing[1] + thing[3] > y - reach
    )


def pieces(mask: npt.NDArray[np.bool_], min_area: float) -> list[Box]:
    """The boxes of the separate objects of ``mask`` (8-connected patches of at least
    ``min_area`` pixels), largest first, at most the contract's ``MAX_OBJECTS``."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    found = [
        (int(a), (int(x), int(y), int(w), int(h)))
        for x, y, w, h, a in stats[1:n]
        if a >= max(1.0, min_area)
    ]
    found.sort(key=lambda f: -f[0])
    return [box for _, box in found[:MAX_OBJECTS]]


def _bbox(mask: npt.NDArray[np.bool_]) -> Box:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0, 0, 0, 0)
    x0, y0 = int(xs.min()), int(ys.min())
    return (x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1)
