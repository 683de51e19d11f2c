"""Parking occupancy on PKLot UFPR05: references are the empty lot of ``sequence0`` only;
``sequence1`` (a morning filling up, 2 to 12 cars) is classified with >= 95 % accuracy per
space, and each empty ``sequence0`` frame, judged against the other four, is left free."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from villagewatch.edge.vision.occupancy import SpaceOccupancy, load_pklot_spaces
from villagewatch.edge.vision.parking_model import OccupancyModel, features
from villagewatch_dev.raking_sun import Truth, raking_sun

U8 = npt.NDArray[np.uint8]


def read(path: Path) -> U8:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return np.asarray(image, dtype=np.uint8)


def frames(folder: Path) -> list[tuple[Path, Path]]:
    """(image, annotation) pairs of one sequence, in time order."""
    images = sorted(p for p in (folder / "frames").iterdir() if p.suffix in {".jpg", ".png"})
    assert len(images) == 5, images
    return [(p, folder / "spaces" / f"{p.stem}.xml") for p in images]


@pytest.fixture(scope="module")
def parking(shared_data: Path) -> Path:
    return shared_data / "parking"


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """Time on one core, as on the edge box; OpenCV's thread count is process-wide."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield None
    cv2.setNumThreads(before)


def test_sequence1_is_classified_from_the_empty_lot_alone(
    parking: Path, single_thread: object
) -> None:
    empty = frames(parking / "sequence0")
    spaces = {name: polygon for name, (polygon, _) in load_pklot_spaces(empty[0][1]).items()}
    assert len(spaces) == 40
    model = SpaceOccupancy(spaces, [read(image) for image, _ in empty])

    tp = fp = fn = tn = 0
    elapsed: list[float] = []
    lines: list[str] = []
    for image, annotation in frames(parking / "sequence1"):
        truth = load_pklot_spaces(annotation)
        assert set(truth) == set(spaces)
        frame = read(image)
        for _ in range(5):
            start = time.perf_counter()
            states = model.classify(frame)
            elapsed.append(time.perf_counter() - start)
        wrong = sorted(
            (name for name, state in states.items() if state.occupied != truth[name][1]), key=int
        )
        cars = sum(occupied for _, occupied in truth.values())
        free = [state.score for name, state in states.items() if not truth[name][1]]
        taken = [state.score for name, state in states.items() if truth[name][1]]
        lines.append(
            f"  {image.stem}: {cars:2d} cars, wrong {wrong or 'none'}, "
            f"highest free {max(free):.2f}, lowest taken {min(taken):.2f}"
        )
        for name, state in states.items():
            occupied = truth[name][1]
            tp += state.occupied and occupied
            fp += state.occupied and not occupied
            fn += not state.occupied and occupied
            tn += not state.occupied and not occupied
    accuracy = (tp + tn) / (tp + fp + fn + tn)
    ms = 1000 * float(np.median(elapsed))
    lines.append(
        f"sequence1: tp {tp} fp {fp} fn {fn} tn {tn}, accuracy {accuracy:.3f}, "
        f"{ms:.1f} ms per frame (median, one thread)"
    )
    print("\n" + "\n".join(lines))  # noqa: T201 - the figures, shown by pytest -s
    assert tp + fp + fn + tn == 200
    assert accuracy >= 0.95


def test_each_empty_frame_against_the_other_four_is_left_free(parking: Path) -> None:
    empty = frames(parking / "sequence0")
    spaces = {name: polygon for name, (polygon, _) in load_pklot_spaces(empty[0][1]).items()}
    images = [read(image) for image, _ in empty]
    flagged = 0
    lines: list[str] = []
    for i, (image, annotation) in enumerate(empty):
        assert not any(occupied for _, occupied in load_pklot_spaces(annotation).values())
        model = SpaceOccupancy(spaces, images[:i] + images[i + 1 :])
        states = model.classify(images[i])
        wrong = sorted((name for name, s in states.items() if s.occupied), key=int)
        top = max(states, key=lambda name: states[name].score)
        lines.append(
            f"  {image.stem}: flagged {wrong or 'none'}, "
            f"highest space {top} at {states[top].score:.2f}"
        )
        flagged += len(wrong)
    lines.append(f"sequence0 leave-one-out: {flagged} of 200 empty space-frames flagged")
    print("\n" + "\n".join(lines))  # noqa: T201 - the figures, shown by pytest -s
    assert flagged <= 10


def test_sequence1_in_haze_is_still_classified(parking: Path) -> None:
    # mist over the lot: 40 % less contrast and 90 grey levels of added light, which the log
    # domain does not cancel (it is not a factor); 176 of 200 were right before the haze step
    empty = frames(parking / "sequence0")
    spaces = {name: polygon for name, (polygon, _) in load_pklot_spaces(empty[0][1]).items()}
    model = SpaceOccupancy(spaces, [read(image) for image, _ in empty])
    right = total = 0
    for image, annotation in frames(parking / "sequence1"):
        truth = load_pklot_spaces(annotation)
        hazy = (read(image) * 0.6 + 90).astype(np.uint8)
        for name, state in model.classify(hazy).items():
            right += state.occupied == truth[name][1]
            total += 1
    assert total == 200
    assert right / total >= 0.95


def judged(
    parking: Path, sequence: int, change: Callable[[U8, Truth], U8] | None = None
) -> tuple[int, int, list[str]]:
    """Right and total space-frames of one sequence against the empty lot of sequence0
    (each frame after ``change``, given the frame's truth), and the wrong ones with their
    confidence."""
    empty = frames(parking / "sequence0")
    spaces = {name: polygon for name, (polygon, _) in load_pklot_spaces(empty[0][1]).items()}
    model = SpaceOccupancy(spaces, [read(image) for image, _ in empty])
    right = total = 0
    wrong: list[str] = []
    for image, annotation in frames(parking / f"sequence{sequence}"):
        truth = load_pklot_spaces(annotation)
        frame = read(image) if change is None else change(read(image), truth)
        for name, state in model.classify(frame).items():
            ok = state.occupied == truth[name][1]
            right += ok
            total += 1
            if not ok:
                wrong.append(f"{image.stem} s{name} {state.confidence:.2f}")
    return right, total, wrong


def test_sequences_1_to_3_from_the_empty_lot_alone(parking: Path) -> None:
    results = {k: judged(parking, k) for k in (1, 2, 3)}
    print({k: (r / t, w) for k, (r, t, w) in results.items()})  # noqa: T201 - shown by -s
    assert all(t == 200 for _, t, _ in results.values())
    # stricter than the acceptance (no sequence below 99 %): 99.5 % each, which the old
    # single rule missed on sequence3 (the far, dark cars in s39 and s40)
    assert all(r / t >= 0.995 for r, t, _ in results.values())
    assert sum(r for r, _, _ in results.values()) / 600 >= 0.995


def test_a_deep_raking_sun_does_not_fill_the_lot(parking: Path) -> None:
    """The robustness bench's harshest sun (``raking_sun(..., stepped=True)``: every car's
    shadow at 0.3 x brightness, its side a staircase of short edges, and two posts' long
    shadows across the lot) over sequence1-3: the shadows' straight boundaries across free
    spaces are not cars. The edges cue before it ignored straight changes judged 97.0 %."""

    def sun(image: U8, truth: Truth) -> U8:
        return raking_sun(image, truth, -80, 60, 0.3, stepped=True)

    results = {k: judged(parking, k, sun) for k in (1, 2, 3)}
    print({k: (r / t, w) for k, (r, t, w) in results.items()})  # noqa: T201 - shown by -s
    assert sum(r for r, _, _ in results.values()) / 600 >= 0.98


def test_the_model_fitted_without_a_sequence_judges_it(parking: Path) -> None:
    """Leave-one-sequence-out: the shipped form of model, fitted as bench/parking_train.py
    does but without sequence k, on sequence k."""
    empty = frames(parking / "sequence0")
    spaces = {name: polygon for name, (polygon, _) in load_pklot_spaces(empty[0][1]).items()}
    refs = [read(image) for image, _ in empty]
    blank = OccupancyModel(np.zeros(4), np.ones(4), np.zeros(4), 0.0)
    rows: list[tuple[float, float, int]] = []
    taken: list[float] = []
    seq: list[int] = []
    for k in range(4):
        for i, (image, annotation) in enumerate(frames(parking / f"sequence{k}")):
            truth = load_pklot_spaces(annotation)
            against = refs[:i] + refs[i + 1 :] if k == 0 else refs
            for name, cue in SpaceOccupancy(spaces, against, model=blank).cues(read(image)).items():
                rows.append(cue)
                taken.append(float(truth[name][1]))
                seq.append(k)
    shade, edges, size = (np.array(c) for c in zip(*rows, strict=True))
    x, y, s = features(shade, edges, size), np.array(taken), np.array(seq)
    right = {}
    for k in range(4):
        model = OccupancyModel.fit(x[s != k], y[s != k])
        right[k] = int(((model.logit(x[s == k]) > 0) == (y[s == k] == 1)).sum())
    print(right)  # noqa: T201 - shown by -s
    assert right[0] == 200  # every empty frame stays free
    assert all(right[k] >= 198 for k in (1, 2, 3))
    assert sum(right[k] for k in (1, 2, 3)) >= 597
