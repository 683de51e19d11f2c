"""A folder of images with YOLO-format labels: the truth of a detection evaluation.

The usual YOLO conventions:

* each image ``NAME.jpg`` (``.jpeg``, ``.png``, ``.bmp``) has its labels in ``NAME.txt``,
  either beside it or in a ``labels/`` folder (beside the images, or replacing an ``images``
  folder in the path: ``set/images/a.jpg`` → ``set/labels/a.txt``); no label file means
  nothing to find in that image;
* one object per line: ``class cx cy w h`` — the class index and the box centre and size
  as fractions (0-1) of the image's width and height; blank lines and ``#`` comments are
  skipped;
* the class names, index order, come from ``classes.txt`` (one a line) or the ``names:``
  of a ``data.yaml`` (a list, or a mapping index → name), looked for in the folder and its
  parent.

Anything else is refused with the file and line, in words: a box outside the picture, a
class index with no name, an image that is missing, empty or cut short.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from villagewatch.config.yamlfile import read_yaml
from villagewatch.edge.vision.capture import IMAGE_SUFFIXES, decode_image
from villagewatch.edge.vision.detections import Detection
from villagewatch.errors import ConfigError

__all__ = ["LabelledImage", "class_names", "label_file", "read_labels", "read_whole_image", "scan"]

_SLACK = 1e-3  # labelling tools round; a box edge at 1.0004 is still inside


@dataclass(frozen=True, slots=True)
class LabelledImage:
    """One image of the set and where its labels are (None: no labels, nothing to find)."""

    image: Path
    labels: Path | None


def class_names(folder: Path) -> list[str]:
    """The class names of the set in ``folder`` (``classes.txt`` or ``data.yaml`` there or in
    its parent); ValueError when there are none or they are unusable."""
    for where in (folder, folder.parent):
        txt, yml = where / "classes.txt", where / "data.yaml"
        if txt.is_file():
            names = [n.strip() for n in txt.read_text(encoding="utf-8").splitlines()]
            names = [n for n in names if n]
            if not names:
                raise ValueError(f"{txt}: no class names in it")
            return names
        if yml.is_file():
            return _yaml_names(yml)
    raise ValueError(
        f"{folder}: no class names — put a classes.txt (one name a line) or a data.yaml with "
        "`names:` in the folder or its parent"
    )


def _yaml_names(path: Path) -> list[str]:
    try:
        doc = read_yaml(path).data
    except ConfigError as exc:  # read_yaml names the file and line
        raise ValueError(f"{path}: {exc}") from None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: `names` keys must be class indices 0, 1, …") from None
        if keys != list(range(len(keys))):
            raise ValueError(f"{path}: `names` indices must run 0, 1, … without gaps")
        names = [names.get(k, names.get(str(k))) for k in keys]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path}: expected `names:` as a list of class names")
    return [str(n) for n in names]


def label_file(image: Path, labels: Path | None = None) -> Path | None:
    """Where the labels of ``image`` are (in ``labels`` when given, else by the YOLO
    conventions); None when nowhere."""
    name = image.stem + ".txt"
    if labels is not None:
        return labels / name if (labels / name).is_file() else None
    candidates = [image.with_suffix(".txt"), image.parent / "labels" / name]
    if image.parent.name == "images":
        candidates.append(image.parent.parent / "labels" / name)
    return next((c for c in candidates if c.is_file()), None)


def scan(folder: Path, labels: Path | None = None) -> list[LabelledImage]:
    """The images of ``folder`` (name order) with their label files (from ``labels`` when
    given); label files without an image are refused (a missing or misnamed image would
    otherwise count as nothing found)."""
    for d in (folder, labels):
        if d is not None and not d.is_dir():
            raise ValueError(f"{d} is not a folder")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"{folder}: no images (.jpg, .jpeg, .png, .bmp)")
    out = [LabelledImage(p, label_file(p, labels)) for p in images]
    stems = {p.stem for p in images}
    label_dirs = [labels] if labels is not None else [folder, folder / "labels"]
    if labels is None and folder.name == "images":
        label_dirs.append(folder.parent / "labels")
    for d in label_dirs:
        if not d.is_dir():
            continue
        for txt in sorted(d.glob("*.txt")):
            if txt.name != "classes.txt" and txt.stem not in stems:
                raise ValueError(f"{txt}: labels for an image that is missing ({txt.stem}.*)")
    return out


def read_labels(path: Path, names: list[str], width: int, height: int) -> list[Detection]:
    """The boxes of one label file in pixels of a ``width`` x ``height`` image (score 1)."""
    out: list[Detection] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file of labels") from None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path}:{n}"
        parts = line.split()
        if len(parts) != 5:
            raise ValueError(f"{where}: expected `class cx cy w h`, got {line!r}")
        try:
            cls = int(parts[0])
        except ValueError:
            raise ValueError(f"{where}: class {parts[0]!r} is not a class index") from None
        if not 0 <= cls < len(names):
            raise ValueError(
                f"{where}: class {cls} has no name (the set has {len(names)}: 0-{len(names) - 1})"
            )
        try:
            cx, cy, w, h = (float(v) for v in parts[1:])
        except ValueError:
            raise ValueError(f"{where}: cx cy w h must be numbers, got {line!r}") from None
        if not all(np.isfinite(v) for v in (cx, cy, w, h)) or w <= 0 or h <= 0:
            raise ValueError(f"{where}: the box must have a width and height above 0")
        x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if min(x0, y0) < -_SLACK or max(x1, y1) > 1 + _SLACK:
            raise ValueError(
                f"{where}: the box reaches outside the picture (edges {x0:.3f}..{x1:.3f}, "
                f"{y0:.3f}..{y1:.3f}; YOLO labels are fractions 0-1 of the image size)"
            )
        px0, py0 = round(max(0.0, x0) * width), round(max(0.0, y0) * height)
        px1, py1 = round(min(1.0, x1) * width), round(min(1.0, y1) * height)
        box = (px0, py0, max(1, px1 - px0), max(1, py1 - py0))
        out.append(Detection(names[cls], box, 1.0))
    return out


def read_whole_image(path: Path) -> npt.NDArray[np.uint8]:
    """The BGR image in ``path``; ValueError naming the file if it is missing, not an image,
    or cut short (OpenCV decodes a truncated JPEG with a grey bottom and only a warning)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the image ({exc.strerror})") from None
    img = decode_image(data)
    if img is None:
        raise ValueError(f"{path} is not an image, or it is cut short")
    # the picture's end marker must follow its last scan (an EXIF thumbnail has its own end)
    if data[:2] == b"\xff\xd8" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise ValueError(f"{path}: the JPEG is cut short (no end marker after its last scan)")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-16:]:
        raise ValueError(f"{path}: the PNG is cut short (no IEND chunk)")
    return img
