"""``villagewatch config check``: every issue in settings, village, edge.yaml and camera files.

What a file is comes from its name, the convention the docs use — never from its keys: a
settings file is ``villagewatch.yaml`` or ``settings.yaml``, an edge agent's file is
``edge.yaml``, a camera file lives in a ``cameras/`` folder (or is named by the camera driver
of an edge.yaml checked with it), and any other file is a village file (named for its
village). ``--kind`` says it outright for files named otherwise. Checking sits here, beside the
command, because it reads every kind of file — the edge's among them — which config/ must not
import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path

from villagewatch.broker.agents import agent_issues
from villagewatch.config import Deployment, Village, load_deployment, load_village
from villagewatch.config.yamlfile import read_yaml
from villagewatch.edge.drivers import CameraConfig
from villagewatch.edge.settings import EdgeSettings, load_edge
from villagewatch.edge.vision.config import CameraVision, load_camera
from villagewatch.errors import ConfigError, ConfigIssue

__all__ = ["SETTINGS_NAMES", "ConfigKind", "check_file", "check_files", "kind_of", "kinds_of"]


class ConfigKind(StrEnum):
    """The kinds of config file villagewatch reads."""

    SETTINGS = "settings"
    VILLAGE = "village"
    EDGE = "edge"
    CAMERA = "camera"


SETTINGS_NAMES = frozenset({"villagewatch.yaml", "settings.yaml"})
"""Names of a deployment's settings file (the shipped examples, the docs' commands)."""


def kind_of(path: Path) -> ConfigKind:
    """The kind of ``path`` by the naming convention (see the module's docstring)."""
    if path.name in SETTINGS_NAMES:
        return ConfigKind.SETTINGS
    if path.name == "edge.yaml":
        return ConfigKind.EDGE
    if path.parent.name == "cameras":
        return ConfigKind.CAMERA
    return ConfigKind.VILLAGE


def kinds_of(paths: Sequence[Path]) -> dict[Path, ConfigKind]:
    """The kind of each file by its name, but a file that an edge.yaml among ``paths`` names
    as a camera's file is a camera file, whatever its name."""
    cameras: set[Path] = set()
    for path in paths:
        if kind_of(path) is ConfigKind.EDGE:
            try:
                edge = load_edge(path, read_files=False)
            except ConfigError:
                continue  # its own check reports why
            cameras |= {d.camera.resolve() for d in edge.devices if isinstance(d, CameraConfig)}
    return {p: ConfigKind.CAMERA if p.resolve() in cameras else kind_of(p) for p in paths}


def check_file(
    path: Path, kind: ConfigKind | None = None, *, read_files: bool = False
) -> list[ConfigIssue]:
    """Every issue in one config file of ``kind`` (unset: by its name; see
    :func:`check_files`); empty when valid."""
    return check_files([path], kinds={path: kind} if kind else None, read_files=read_files)[path]


def check_files(
    paths: Sequence[Path],
    *,
    kinds: Mapping[Path, ConfigKind] | None = None,
    read_files: bool = False,
) -> dict[Path, list[ConfigIssue]]:
    """Every issue in each file — a settings file (with its villages), a village file, an edge
    agent's edge.yaml (with its camera files) or a camera file, each of the kind ``kinds``
    gives or, unset, of the kind :func:`kinds_of` says — plus, for each edge.yaml, where it
    disagrees with its village when one of the files holds that village. With ``read_files``
    the secrets and certificates named must be readable here too (by default not: a check
    runs where the secrets are not)."""
    results: dict[Path, list[ConfigIssue]] = {}
    villages: dict[str, tuple[Path, Village]] = {}
    edges: list[tuple[Path, EdgeSettings]] = []
    kinds = kinds if kinds is not None else kinds_of(paths)
    for path in paths:
        try:
            loaded, results[path] = _checked(path, kinds[path], read_files=read_files)
        except ConfigError as exc:
            results[path] = exc.issues
            continue
        if isinstance(loaded, Village):
            villages[loaded.id] = (path, loaded)
        elif isinstance(loaded, Deployment):
            given = zip(loaded.settings.villages, loaded.villages, strict=True)
            villages.update({v.id: (p, v) for p, v in given})
        elif isinstance(loaded, EdgeSettings):
            edges.append((path, loaded))
    complete = all(not issues for issues in results.values())
    for path, edge in edges:
        found = villages.get(edge.village)
        if found is not None:
            results[path] += agent_issues(path, edge, found[1], found[0])
        elif villages and complete:
            results[path].append(
                read_yaml(path).issue(
                    ("village",),
                    f"no village {edge.village!r} in the files checked with it "
                    f"(they hold {', '.join(sorted(villages))})",
                )
            )
    return results


def _checked(path: Path, kind: ConfigKind, *, read_files: bool) -> tuple[object, list[ConfigIssue]]:
    """The file loaded as ``kind``, and the issues found beyond its own model."""
    match kind:
        case ConfigKind.SETTINGS:
            return load_deployment(path, read_files=read_files), []
        case ConfigKind.VILLAGE:
            return load_village(path), []
        case ConfigKind.CAMERA:
            cam = load_camera(path)
            return cam, _model_issues(path, cam) if read_files else []
        case ConfigKind.EDGE:
            edge = load_edge(path, read_files=read_files)
            issues: list[ConfigIssue] = []
            for d in edge.devices:
                if isinstance(d, CameraConfig):
                    issues += (
                        check_file(d.camera, ConfigKind.CAMERA, read_files=read_files)
                        if d.camera.exists()
                        else [
                            ConfigIssue(
                                str(path), f"devices.{d.device}.camera", f"no file {d.camera}"
                            )
                        ]
                    )
            return edge, issues


def _model_issues(path: Path, cam: CameraVision) -> list[ConfigIssue]:
    """Whether the camera's model loads and runs here (what the edge box would do first)."""
    if cam.model is None:
        return []
    from villagewatch.edge.vision.model import DetectionModel, ModelError

    try:
        DetectionModel(cam.model)
    except ModelError as exc:
        return [ConfigIssue(str(path), "model", str(exc))]
    return []
