"""Fit the parking-occupancy model (src/villagewatch/edge/vision/parking_model.json) on
PKLot UFPR05 and print how it does on data it was not fitted on.

Samples: every space of every frame of ../shared/data/parking. The cues of sequence1-3 are
taken against the five empty frames of sequence0; those of each sequence0 frame against the
other four (so an empty frame is never its own reference). 800 space-frames, 99 taken.

Model: logistic regression over ``parking_model.features`` (standardised), L2 penalty
``PENALTY`` on the weights (not the bias), fitted by Newton's method from zero weights:
deterministic, no random draw (so no seed to set; the result is the same on every run).
The penalty and the inputs were chosen on the leave-one-sequence-out figures below
(shade and edges alone, + size, + size x edges, + colour spread, + darkness and texture
gain against the references were compared; more inputs did worse left out).

Printed: per sequence, the accuracy of the model fitted on all four sequences, and of the
model fitted without that sequence (leave-one-sequence-out: the honest figure).

    .venv/bin/python bench/parking_train.py            # figures only
    .venv/bin/python bench/parking_train.py --write    # and write the weights file
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from villagewatch.edge.vision.occupancy import SpaceOccupancy, load_pklot_spaces
from villagewatch.edge.vision.parking_model import DEFAULT_MODEL, FEATURES, OccupancyModel, features
from villagewatch.edge.vision.references import image_files, read_image

PARKING = Path(__file__).resolve().parents[2] / "shared" / "data" / "parking"
PENALTY = 1.0
F64 = np.ndarray


def samples() -> tuple[F64, F64, F64]:
    """Inputs (not standardised), truth (1 taken) and sequence number of every space-frame."""
    seqs = []
    for k in range(4):
        frames = image_files(PARKING / f"sequence{k}" / "frames")
        truths = [
            load_pklot_spaces(PARKING / f"sequence{k}" / "spaces" / f"{p.stem}.xml") for p in frames
        ]
        seqs.append(([read_image(p) for p in frames], truths))
    spaces = {name: polygon for name, (polygon, _) in seqs[0][1][0].items()}
    blank = OccupancyModel(np.zeros(4), np.ones(4), np.zeros(4), 0.0)  # cues need no weights
    empty = seqs[0][0]
    rows: list[tuple[float, float, int]] = []
    ys: list[int] = []
    seq: list[int] = []
    for k, (images, truths) in enumerate(seqs):
        for i, (image, truth) in enumerate(zip(images, truths, strict=True)):
            refs = empty[:i] + empty[i + 1 :] if k == 0 else empty
            cues = SpaceOccupancy(spaces, refs, model=blank).cues(image)
            for name, cue in cues.items():
                rows.append(cue)
                ys.append(int(truth[name][1]))
                seq.append(k)
    shade, edges, size = (np.array(c, np.float64) for c in zip(*rows, strict=True))
    return features(shade, edges, size), np.array(ys, np.float64), np.array(seq)


def fit(x: F64, y: F64) -> OccupancyModel:
    return OccupancyModel.fit(x, y, PENALTY)


def accuracy(model: OccupancyModel, x: F64, y: F64) -> tuple[float, int]:
    wrong = int(((model.logit(x) > 0) != (y == 1)).sum())
    return 1 - wrong / len(y), wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {DEFAULT_MODEL.name}")
    args = parser.parse_args()
    x, y, seq = samples()
    model = fit(x, y)
    print(f"{len(y)} space-frames, {int(y.sum())} taken; penalty {PENALTY}")
    print(f"{'sequence':10s} {'all data':>14s} {'left out':>14s}")
    for k in range(4):
        held = seq == k
        alone = fit(x[~held], y[~held])
        a, aw = accuracy(model, x[held], y[held])
        b, bw = accuracy(alone, x[held], y[held])
        print(f"sequence{k:<2d} {100 * a:7.1f} % ({aw:2d}) {100 * b:7.1f} % ({bw:2d})")
    together = np.isin(seq, (1, 2, 3))
    folds = [fit(x[seq != k], y[seq != k]) for k in (1, 2, 3)]
    wrong = sum(
        accuracy(m, x[seq == k], y[seq == k])[1] for m, k in zip(folds, (1, 2, 3), strict=True)
    )
    a, aw = accuracy(model, x[together], y[together])
    print(
        f"{'1-3':10s} {100 * a:7.1f} % ({aw:2d}) {100 * (1 - wrong / together.sum()):7.1f} % ({wrong:2d})"
    )
    print("weights", np.round(model.weights, 3).tolist(), "bias", round(model.bias, 3))
    if args.write:
        data = {
            "about": "Parking occupancy: logistic regression over the standardised features; "
            "fitted by bench/parking_train.py on PKLot UFPR05 sequence0-3 (CC BY 4.0).",
            "features": list(FEATURES),
            "mean": model.mean.round(6).tolist(),
            "scale": model.scale.round(6).tolist(),
            "weights": model.weights.round(6).tolist(),
            "bias": round(model.bias, 6),
        }
        DEFAULT_MODEL.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {DEFAULT_MODEL}")


if __name__ == "__main__":
    main()
