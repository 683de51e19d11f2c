"""What every test directory shares: marks by folder, and the fault campaign's table (see
tests/faults.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults import ROWS, Campaign, render, write_table
from villagewatch.db.database import Location, PostgresLocation
from villagewatch_dev.servers import Postgres, missing_binaries

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
    # scripts/test runs the scale-out engines' tests beside the other real-process tests: each
    # group names its own table (CAMPAIGN_TABLE), so neither overwrites the other's
    write_table(ROWS, _REPO / "test-output" / os.environ.get("CAMPAIGN_TABLE", "campaign.md"))


@pytest.fixture(scope="session")
def shared_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """One PostgreSQL cluster for the tests that don't stop it; each test has its own database
    (skipped where PostgreSQL or psycopg is not installed; scripts/test installs both)."""
    pytest.importorskip("psycopg")
    if "postgres" in missing_binaries():
        pytest.skip("PostgreSQL is not installed (run scripts/test)")
    server = Postgres(tmp_path_factory.mktemp("postgres")).start()
    yield server
    server.close()


@pytest.fixture
def pg_dsn(shared_postgres: Postgres, request: pytest.FixtureRequest) -> str:
    """The DSN of a fresh database on the shared cluster, named after the test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60].lower()
    shared_postgres.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return shared_postgres.create_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def relational(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Location]:
    """Where a relational store of this test lives, by store name: an SQLite file in the
    test's temp dir, or a schema of a fresh PostgreSQL database — each test that takes it
    runs on both engines."""
    if request.param == "sqlite":
        return lambda name: tmp_path / f"{name}.db"
    dsn: str = request.getfixturevalue("pg_dsn")
    return lambda name: PostgresLocation(dsn, name)
