"""A careless operator's ``detect.partitions``: refused where it is written, in plain words."""

from __future__ import annotations

import textwrap
from pathlib import Path

from villagewatch.cli.configcheck import ConfigKind, check_file
from villagewatch.config import load_deployment

from .test_load import VILLAGE


def settings(tmp_path: Path, detect: str) -> Path:
    for vid in ("dongcun", "xicun"):
        (tmp_path / f"{vid}.yaml").write_text(VILLAGE.replace("dongcun", vid), encoding="utf-8")
    file = tmp_path / "s.yaml"
    file.write_text(
        "villages: [dongcun.yaml, xicun.yaml]\ndetect:\n" + textwrap.indent(detect, "  "),
        encoding="utf-8",
    )
    return file


def test_partitions_and_claim_load(tmp_path: Path) -> None:
    file = settings(
        tmp_path,
        "claim: {max_partitions: 2, lease_s: 6}\npartitions: {east: [dongcun], west: [xicun]}\n",
    )
    det = load_deployment(file).settings.detect
    assert det.partitions == {"east": ["dongcun"], "west": ["xicun"]}
    assert det.claim is not None and det.claim.lease_s == 6


def test_the_same_partition_named_twice_is_refused(tmp_path: Path) -> None:
    file = settings(
        tmp_path,
        "claim: {max_partitions: 1}\npartitions:\n  east: [dongcun]\n  east: [xicun]\n",
    )
    (issue,) = check_file(file, ConfigKind.SETTINGS)
    assert issue.path == "detect.partitions.east" and issue.line == 6
    assert "duplicate key" in issue.message


def test_a_village_in_two_partitions_is_refused(tmp_path: Path) -> None:
    file = settings(
        tmp_path,
        "claim: {max_partitions: 1}\npartitions:\n  east: [dongcun, xicun]\n  west: [xicun]\n",
    )
    (issue,) = check_file(file, ConfigKind.SETTINGS)
    assert issue.path == "detect.partitions.west[0]" and issue.line == 6
    assert issue.message.startswith(
        "village 'xicun' is also in 'east': a village belongs to exactly one partition"
    )


def test_an_unknown_village_and_an_empty_partition_are_refused(tmp_path: Path) -> None:
    file = settings(
        tmp_path,
        "claim: {max_partitions: 1}\npartitions: {east: [dongcun, nancun], west: []}\n",
    )
    issues = check_file(file, ConfigKind.SETTINGS)
    assert [(i.path, i.message) for i in issues] == [
        ("detect.partitions.east[1]", "no village 'nancun' in this deployment's villages"),
        ("detect.partitions.west", "partition 'west' has no villages"),
    ]


def test_claim_without_partitions_or_with_fixed_villages_is_refused(tmp_path: Path) -> None:
    (issue,) = check_file(settings(tmp_path, "claim: {max_partitions: 1}\n"), ConfigKind.SETTINGS)
    assert issue.path == "detect" and "claim needs partitions" in issue.message
    file = settings(
        tmp_path, "villages: [dongcun]\nclaim: {max_partitions: 1}\npartitions: {e: [xicun]}\n"
    )
    (issue,) = check_file(file, ConfigKind.SETTINGS)
    assert "set either villages" in issue.message
