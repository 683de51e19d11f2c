"""What every test directory shares: the fault campaign's table (see tests/faults.py)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults import ROWS, Campaign, render, write_table

_REPO = Path(__file__).resolve().parents[1]


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
