"""Frames of the empty scene (an empty parking lot) that the spaces are compared with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from villagewatch.edge.vision.capture import IMAGE_SUFFIXES, decode_image

__all__ = ["image_files", "load_references", "read_image"]


def image_files(folder: Path) -> list[Path]:
    """The images of a folder in name order; ValueError if the folder is missing."""
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path) -> npt.NDArray[np.uint8]:
    """The BGR image in ``path``; ValueError naming the file if it is not one."""
    img = decode_image(path.read_bytes())
    if img is None:
        raise ValueError(f"{path} is not an image")
    return img


def load_references(folder: Path) -> list[npt.NDArray[np.uint8]]:
    """Every image of ``folder``; ValueError naming the folder or file if one is unusable."""
    frames = [read_image(path) for path in image_files(folder)]
    if not frames:
        raise ValueError(f"{folder} holds no images of the empty scene")
    return frames
