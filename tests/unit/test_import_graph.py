"""The packages of villagewatch import each other without a cycle, and config/ is a leaf.

Read from the source (every ``import``, lazy ones inside functions too): a lazy import
hides a cycle from the interpreter, not from the reader.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "villagewatch"

SERVICES = frozenset(
    {
        "alerts",
        "api",
        "broker",
        "cli",
        "cluster",
        "db",
        "demo",
        "detect",
        "edge",
        "ingest",
        "mqtt",
        "registry",
        "runtime",
        "sim",
        "store",
        "tune",
        "versions",
    }
)
"""Packages that run or wire a part of the system; config/ must reach none of them (it may
use the contract, the errors and the detectors' own typed settings)."""


def _package_of(module: str) -> str:
    """``villagewatch.edge.drivers.camera`` → ``edge``; ``villagewatch.errors`` → ``errors``."""
    return module.split(".")[1]


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        package = _package_of(".".join(parts)) if len(parts) > 1 else parts[0]
        targets = graph.setdefault(package, set())
        for name in _imports(path):
            if name.startswith("villagewatch."):
                target = _package_of(name)
                if target != package:
                    targets.add(target)
    return graph


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        package = todo.pop()
        if package not in seen:
            seen.add(package)
            todo.extend(graph.get(package, ()))
    return seen


GRAPH = _graph()


@pytest.mark.parametrize("package", sorted(GRAPH))
def test_no_package_imports_itself_through_others(package: str) -> None:
    back = sorted(p for p in GRAPH[package] if package in _reach(GRAPH, p))
    assert not back, f"{package} imports {back}, which import {package} again"


def test_config_reaches_no_service_package() -> None:
    assert _reach(GRAPH, "config") & SERVICES == set()
