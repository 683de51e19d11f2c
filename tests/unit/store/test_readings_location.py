"""Where VictoriaMetrics' relational part is: its own file on SQLite, the shared `readings`
schema on PostgreSQL (a file named for it beside PostgreSQL is refused in words), and
``villagewatch db upgrade`` brings it up to date like the other stores."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from villagewatch.cli import app
from villagewatch.config import load_settings
from villagewatch.db.configured import readings_location
from villagewatch.db.database import PostgresLocation, peek_version
from villagewatch.errors import ConfigError
from villagewatch.store import open_store
from villagewatch.store.relational_schema import MIGRATIONS

POSTGRES = "relational: {kind: postgres, dsn: 'host=db.example dbname=vw'}"


def settings_file(tmp_path: Path, *sections: str) -> Path:
    (tmp_path / "v.yaml").write_text("id: v\n")
    path = tmp_path / "settings.yaml"
    path.write_text("villages: [v.yaml]\n" + "\n".join(sections) + "\n")
    return path


def test_on_sqlite_the_relational_part_is_the_stores_own_file(tmp_path: Path) -> None:
    settings = load_settings(
        settings_file(tmp_path, "store: {kind: victoria, relational: {path: rel/r.db}}")
    )
    assert readings_location(settings) == tmp_path / "rel" / "r.db"
    default = load_settings(settings_file(tmp_path, "store: {kind: victoria}"))
    assert readings_location(default) == tmp_path / "var" / "villagewatch-relational.db"


def test_on_postgres_the_relational_part_is_the_readings_schema(tmp_path: Path) -> None:
    settings = load_settings(settings_file(tmp_path, "store: {kind: victoria}", POSTGRES))
    assert readings_location(settings) == PostgresLocation("host=db.example dbname=vw", "readings")


def test_the_sqlite_store_stays_a_file_and_influx_has_no_relational_part(tmp_path: Path) -> None:
    sqlite = load_settings(settings_file(tmp_path, "store: {kind: sqlite, path: r.db}", POSTGRES))
    assert readings_location(sqlite) == tmp_path / "r.db"
    influx = load_settings(settings_file(tmp_path, "store: {kind: influx}", POSTGRES))
    assert readings_location(influx) is None


def test_a_file_named_for_the_relational_part_beside_postgres_is_refused(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "store: {kind: victoria, relational: {path: rel.db}}", POSTGRES)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    text = str(caught.value)
    assert "store.relational names a file, but relational.kind is postgres" in text
    assert "`readings` schema" in text and "Remove store.relational" in text


def test_db_upgrade_creates_and_reports_the_relational_part(tmp_path: Path) -> None:
    path = settings_file(tmp_path, "store: {kind: victoria, relational: {path: rel.db}}")
    done = CliRunner().invoke(app, ["db", "upgrade", "--config", str(path)])
    assert done.exit_code == 0, done.output
    assert f"readings ({tmp_path / 'rel.db'}): version 0, applied:" in done.output
    assert peek_version(tmp_path / "rel.db") == len(MIGRATIONS)


def test_db_upgrade_on_postgres_creates_the_readings_schema(tmp_path: Path, pg_dsn: str) -> None:
    path = settings_file(
        tmp_path, "store: {kind: victoria}", f"relational: {{kind: postgres, dsn: '{pg_dsn}'}}"
    )
    done = CliRunner().invoke(app, ["db", "upgrade", "--config", str(path)])
    assert done.exit_code == 0, done.output
    assert "readings (schema readings of" in done.output
    assert peek_version(PostgresLocation(pg_dsn, "readings")) == len(MIGRATIONS)


def test_the_ingester_opens_the_shared_schema(tmp_path: Path, pg_dsn: str) -> None:
    path = settings_file(
        tmp_path, "store: {kind: victoria}", f"relational: {{kind: postgres, dsn: '{pg_dsn}'}}"
    )

    async def main() -> None:
        store = open_store(load_settings(path))
        await store.close()

    asyncio.run(main())
    assert peek_version(PostgresLocation(pg_dsn, "readings")) == len(MIGRATIONS)
    assert not (tmp_path / "var" / "villagewatch-relational.db").exists()
