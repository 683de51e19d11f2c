"""``villagewatch vision``: check a camera's view, measure a detector on images."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from villagewatch.cli.app import vision_app
from villagewatch.cli.common import (
    exit_on,
    fail,
    loaded,
)


def _need_vision(command: str) -> None:
    """End ``command`` with what to install when the ``vision`` extra (OpenCV, numpy) is
    missing, rather than a ModuleNotFoundError from deep in an import."""
    import importlib.util

    missing = [m for m in ("cv2", "numpy") if importlib.util.find_spec(m) is None]
    if missing:
        fail(
            f"villagewatch vision {command} needs the vision extra ({', '.join(missing)} not "
            "installed): pip install 'villagewatch[vision]'"
        )


CameraOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The camera file (config/cameras/, docs/vision.md).",
                 exists=True, dir_okay=False),
]  # fmt: skip


@vision_app.command("snapshot")
def vision_snapshot(
    config: CameraOption,
    source: Annotated[
        str, typer.Option(help="The camera: rtsp://…, http(s)://… (a still), a file or a folder.")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the JPEG.")] = Path("snapshot.jpg"),
    wait_s: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 20.0,
) -> None:
    """Grab one frame and draw the zones and privacy masks on it (masked areas black); on a
    gauge camera also the bow-ties and the waterline the reader sees, and its level."""
    _need_vision("snapshot")
    from villagewatch.edge.vision.capture import IMAGE_SUFFIXES, open_source, shown
    from villagewatch.edge.vision.config import load_camera
    from villagewatch.edge.vision.evidence import encode_jpeg
    from villagewatch.edge.vision.pipeline import CameraPipeline
    from villagewatch.edge.vision.references import read_image

    cam = loaded(load_camera, config)
    still = Path(source)
    if still.is_file() and still.suffix.lower() in IMAGE_SUFFIXES:
        with exit_on(OSError, ValueError):  # a still someone saved from the camera
            frame = read_image(still)
    else:
        src = open_source(source, fps=1.0, still_interval_s=1.0)
        deadline = time.monotonic() + wait_s
        try:
            got = src.next()
            while got is None and time.monotonic() < deadline:
                time.sleep(0.2)
                got = src.next()
        finally:
            src.close()
        if got is None:
            fail(f"no frame from {shown(source)} within {wait_s:g} s")
        frame, _ = got
    picture, reading = CameraPipeline(cam).snapshot(frame)
    out.write_bytes(encode_jpeg(picture, max_bytes=2_000_000))
    h, w = frame.shape[:2]
    typer.echo(f"{out}: {w}x{h}, {len(cam.zones)} zones, {len(cam.masks)} masks drawn")
    if reading is not None and reading.level_cm is not None:
        typer.echo(
            f"gauge: level {reading.level_cm:.1f} cm ({reading.rows_used} bow-tie rows, "
            f"{reading.method}); the waterline and the bow-ties found are drawn"
        )
    elif reading is not None:
        typer.echo(f"gauge: no level: {reading.reason}")


@vision_app.command("eval")
def vision_eval(
    config: CameraOption,
    images: Annotated[
        Path, typer.Option(help="Folder of images of this camera.", exists=True, file_okay=False)
    ],
    truth: Annotated[
        Path | None,
        typer.Option(
            help="Gauge: CSV image,level_cm. Spaces: a folder of PKLot XML files or a CSV "
            "image,space,occupied. Detection: a folder of YOLO label files (default: beside "
            "the images or in labels/).",
            exists=True,
        ),
    ] = None,
    references: Annotated[
        Path | None,
        typer.Option(
            help="Spaces (and detection, for bin_area and road zones): folder of frames of "
            "the empty scene.",
            file_okay=False,
        ),
    ] = None,
    detect: Annotated[
        bool,
        typer.Option(
            "--detect",
            help="Detection mode: the single-frame detectors against YOLO labels (the mode "
            "of a camera without a gauge or space zones).",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Detection: write each image with truth and detections drawn here.",
                     file_okay=False),
    ] = None,
) -> None:  # fmt: skip
    """Run the camera's detector over a folder of images with ground truth; print its figures."""
    _need_vision("eval")
    from villagewatch.edge.vision.config import ZoneKind, load_camera
    from villagewatch.edge.vision.evaluate import evaluate_gauge, evaluate_spaces

    cam = loaded(load_camera, config)
    with exit_on(ValueError, prefix="villagewatch vision eval: "):
        if detect or (cam.gauge is None and not cam.zones_of(ZoneKind.SPACE)):
            from villagewatch.edge.vision.evaldetect import evaluate_detections
            from villagewatch.edge.vision.stillobjects import KIND_OF_ZONE, StillObjects

            if not any(z.kind in KIND_OF_ZONE for z in cam.zones):
                what = "no water, bin_area, road or no_parking zones for the detectors"
                if not detect:
                    what = f"no gauge, no space zones, {what}"
                fail(f"{config}: nothing to evaluate ({what})", code=2)
            from villagewatch.edge.vision.references import load_references

            empty = load_references(references) if references is not None else []
            result = evaluate_detections(
                cam, images, lambda scene: StillObjects(cam, scene, empty), labels=truth, out=out
            )
            typer.echo(result.render())
            if out is not None:
                typer.echo(f"pictures with truth (green) and detections (magenta) in {out}")
        elif truth is None:
            fail("--truth is needed for a gauge or parking-space camera", code=2)
        elif cam.gauge is not None:
            typer.echo(evaluate_gauge(cam, images, truth).render())
        else:
            typer.echo(evaluate_spaces(cam, images, truth, references).render())
