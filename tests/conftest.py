"""What every test directory shares: marks by folder, and the fault campaign's table (see
tests/faults.py)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults import ROWS, Campaign, render, write_table

_REPO = Path(__file__).resolve().parents[1]
_TESTS = Path(__file__).resolve().parent
# A test's folder says what it needs; `-m "not integration"` leaves out every test of the folder.
# (A `pytestmark` in a conftest.py has no effect: pytest reads it only from test modules.)
_FOLDER_MARKS = {"integration": "integration", "browser": "browser", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.resolve().relative_to(_TESTS).parts
        mark = _FOLDER_MARKS.get(parts[0]) if len(parts) > 1 else None
        if mark is not None:
            item.add_marker(mark)


@pytest.fixture
def campaign(request: pytest.FixtureRequest) -> Iterator[Campaign]:
    """Where a scenario of the fault campaign records its row."""
    found = Campaign()
    yield found
    report = getattr(request.node, "rep_call", None)
    outcome = "ok" if report is not None and report.passed else "FAILED"
    for row in found.rows:
        row.outcome = outcome
        ROWS.append(row)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    terminalreporter.section("fault campaign")
    terminalreporter.write(render(ROWS))
    write_table(ROWS, _REPO / "test-output" / "campaign.md")
