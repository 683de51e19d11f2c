"""From a space's cues to the probability that a car is in it: one logistic model shared
by every space, with the space's size as an input.

Inputs per space (``features``), from the scaled ``shade`` and ``edges`` cues of
``parking_cues`` (each the minimum over the references): the log of the smaller of the two
(a car changes both the photometry and the structure; a hard shadow across an empty space
spreads the brightness a lot but brings one edge, so the spread alone must not outvote the
edges), the log of ``edges``, the log of the space's size in working pixels (``/ 1000``),
and size x edges, so that the small, far spaces — where a car is a few dozen pixels and
the cues are noisier — get their own slope. Each input is standardised with the ``mean``
and ``scale`` stored beside the weights and held within 4 of them.

The weights (``parking_model.json``, a few numbers) are fitted by ``bench/parking_train.py``
on PKLot UFPR05 (docs/vision.md "Parking spaces" has the all-data and
leave-one-sequence-out figures).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_MODEL", "FEATURES", "OccupancyModel", "features"]

DEFAULT_MODEL = Path(__file__).with_name("parking_model.json")
FEATURES = ("ln_min_shade_edges", "ln_edges", "ln_size", "ln_size_x_ln_edges")
_Z_LIMIT = 4.0
_FLOOR = 0.02  # keeps the log of a cue of 0 (an exact match) finite

F64 = npt.NDArray[np.float64]


def features(shade: npt.ArrayLike, edges: npt.ArrayLike, pixels: npt.ArrayLike) -> F64:
    """The model's inputs (spaces x ``FEATURES``) from the scaled cues and the spaces'
    sizes in working pixels, not yet standardised."""
    edges = np.asarray(edges, np.float64)
    both = np.minimum(np.asarray(shade, np.float64), edges)
    ln_both = np.log(both + _FLOOR)
    ln_edges = np.log(edges + _FLOOR)
    ln_size = np.log(np.asarray(pixels, np.float64) / 1000.0)
    return np.stack([ln_both, ln_edges, ln_size, ln_size * ln_edges], axis=-1)


class OccupancyModel:
    """Logistic regression over ``features``: ``p = 1 / (1 + exp(-(w . z + b)))`` with
    ``z`` the standardised inputs."""

    def __init__(self, mean: F64, scale: F64, weights: F64, bias: float) -> None:
        self.mean, self.scale, self.weights, self.bias = mean, scale, weights, bias

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL) -> OccupancyModel:
        """Read a weights file; ValueError saying what is wrong with it and where."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"parking model {path}: cannot be read ({exc.strerror})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"parking model {path}: not a JSON weights file ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"parking model {path}: expected a JSON object")  # noqa: TRY004
        if data.get("features") != list(FEATURES):
            raise ValueError(
                f"parking model {path}: features must be {list(FEATURES)}, "
                f"not {data.get('features')!r}"
            )
        arrays = {}
        for key in ("mean", "scale", "weights"):
            value = data.get(key)
            if (
                not isinstance(value, list)
                or len(value) != len(FEATURES)
                or not all(_is_number(v) for v in value)
            ):
                raise ValueError(
                    f"parking model {path}: {key!r} must be {len(FEATURES)} finite numbers"
                )
            arrays[key] = np.array(value, np.float64)
        bias = data.get("bias")
        if not isinstance(bias, int | float) or not _is_number(bias):
            raise ValueError(f"parking model {path}: 'bias' must be a finite number")
        if (arrays["scale"] <= 0).any():
            raise ValueError(f"parking model {path}: every 'scale' must be positive")
        return cls(arrays["mean"], arrays["scale"], arrays["weights"], float(bias))

    @classmethod
    def fit(cls, inputs: F64, taken: F64, penalty: float = 1.0) -> OccupancyModel:
        """L2-penalised (weights, not the bias) logistic regression of ``taken`` (0/1) on
        standardised ``features`` rows, by Newton's method from zero weights: deterministic,
        no random draw."""
        mean, scale = inputs.mean(axis=0), inputs.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        z = np.hstack([(inputs - mean) / scale, np.ones((len(inputs), 1))])
        w = np.zeros(z.shape[1])
        l2 = np.diag([penalty] * inputs.shape[1] + [0.0])
        for _ in range(100):
            p = 1.0 / (1.0 + np.exp(-(z @ w)))
            step = np.linalg.solve((z.T * (p * (1 - p))) @ z + l2, z.T @ (p - taken) + l2 @ w)
            w -= step
            if np.abs(step).max() < 1e-10:
                break
        return cls(mean, scale, w[:-1], float(w[-1]))

    def logit(self, inputs: F64) -> F64:
        """Log-odds that each space is taken, from ``features`` rows."""
        # held within 4 standard deviations of the training data: past that a linear model
        # extrapolates (the size x edges slope would turn over for spaces far larger than
        # any it saw), and no input needs more weight than that to decide
        z = np.clip((inputs - self.mean) / self.scale, -_Z_LIMIT, _Z_LIMIT)
        return np.asarray(z @ self.weights + self.bias, np.float64)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
