"""The console draws an event's box as a store keeps it ("x,y,w,h") as well as a list."""

from __future__ import annotations

import pytest

from villagewatch.api.alertchart import picture_box


@pytest.mark.parametrize(
    ("box", "drawn"),
    [
        ("0.2,0.3,0.1,0.2", (0.2, 0.3, 0.1, 0.2)),
        ([0.2, 0.3, 0.1, 0.2], (0.2, 0.3, 0.1, 0.2)),
        ("0.9,0.3,0.2,0.2", (0.9, 0.3, pytest.approx(0.1), 0.2)),
        ("nan,0.3,0.1,0.2", None),
        ("0.2,0.3,0.1", None),
        ("0.2;0.3;0.1;0.2", None),
        ("", None),
    ],
    ids=["stored", "list", "clipped", "nan", "three", "semicolons", "empty"],
)
def test_picture_box(box: object, drawn: object) -> None:
    assert picture_box({"box": box}) == drawn
