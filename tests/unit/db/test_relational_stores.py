"""The registry, the users and the config versions on both engines (SQLite, PostgreSQL): the
same calls, the same answers; and a database of the users' previous schema (checked-in
fixtures) upgraded in place with its data kept, by ``villagewatch db upgrade`` and by opening."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from villagewatch.api import users
from villagewatch.api.users import UserRole, UserStore
from villagewatch.cli import app
from villagewatch.db.database import Location, PostgresLocation, peek_version
from villagewatch.registry import RegistryRefused, RegistryStore
from villagewatch_dev.servers import Postgres

DATA = Path(__file__).parent / "data"
OLD_PASSWORD = "old-password-1"  # wang's, in both fixtures (made with users.MIGRATIONS[:1])


def test_the_registry_works_alike_on_both_engines(relational: Callable[[str], Location]) -> None:
    store = RegistryStore(relational("registry"))
    try:
        store.add_house("v1", "h1", "House 1", "lock-1", now_ms=1_700_000_000_000)
        with pytest.raises(RegistryRefused, match="already the lock of house 'h1'"):
            store.add_house("v1", "h2", "House 2", "lock-1", now_ms=1)
        store.add_tenant("v1", "h1", "t1", name="Li", phone="1", verified=True, now_ms=2)
        store.add_credential("v1", "h1", "t1", "card", valid_from_ms=None, valid_to_ms=None,
                             now_ms=3)  # fmt: skip
        store.end_credential("v1", "h1", "card", now_ms=4)
        store.add_credential("v1", "h1", "t1", "card", valid_from_ms=5, valid_to_ms=9,
                             now_ms=5)  # fmt: skip  # handed out again: the row is reused
        [house] = store.houses("v1")
        assert [(c.id, c.valid_from_ms, c.ended_ms) for c in house.credentials] == [
            ("card", 5, None)
        ]
        assert house.tenants[0].verified is True
        assert list(store.lock_credentials("v1")) == ["lock-1"]
        assert store.generation() == 5
    finally:
        store.close()


def test_users_sessions_and_audit_work_alike_on_both_engines(
    relational: Callable[[str], Location],
) -> None:
    store = UserStore(relational("users"))
    try:
        store.add("wang", "password-1", UserRole.ADMIN, ["*"], now_ms=1)
        with pytest.raises(users.UserRefused, match="already a user 'wang'"):
            store.add("wang", "password-2", UserRole.VIEWER, ["*"], now_ms=2)
        session = store.login("wang", "password-1", now_ms=10, ttl_s=60)
        assert session is not None
        assert store.authenticate(session.token, now_ms=11) == session.user
        store.audit("wang", "user.add", "li", {"role": "viewer", "note": "100% ?"}, now_ms=12)
        store.audit("li", "alert.ack", "a1", {}, now_ms=13)
        assert [(r.user, r.detail) for r in store.audit_log(user="wang")] == [
            ("wang", {"role": "viewer", "note": "100% ?"})
        ]
        store.set_disabled("wang", True)
        assert store.authenticate(session.token, now_ms=14) is None
    finally:
        store.close()


def _settings(tmp_path: Path, relational: str) -> Path:
    (tmp_path / "v.yaml").write_text("id: v\n")
    path = tmp_path / "settings.yaml"
    path.write_text(f"villages: [v.yaml]\napi: {{state_dir: api}}\n{relational}\n")
    return path


def _kept(store: UserStore) -> None:
    """wang, his session and the audit row of the fixture, all readable by today's code."""
    assert [u.name for u in store.users()] == ["wang"]
    assert store.login("wang", OLD_PASSWORD, now_ms=1_800_000_000_000, ttl_s=60) is not None
    [record] = store.audit_log()
    assert (record.id, record.user, record.action, record.detail) == (
        1, "wang", "user.add", {"role": "viewer"},
    )  # fmt: skip
    store.audit("wang", "user.add", "zhao", {}, now_ms=1_800_000_000_001)
    assert [r.id for r in store.audit_log()] == [2, 1], "the audit ids go on from the old rows"


def test_an_sqlite_file_of_the_previous_schema_is_upgraded_by_db_upgrade(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    shutil.copy(DATA / "users-v1.db", tmp_path / "api" / "api.db")
    settings = _settings(tmp_path, "")
    dry = CliRunner().invoke(app, ["db", "upgrade", "--config", str(settings), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "users (" in dry.output
    assert "version 1, would apply:\n  2: the user columns" in dry.output
    assert peek_version(tmp_path / "api" / "api.db") == 1, "a dry run changes nothing"
    done = CliRunner().invoke(app, ["db", "upgrade", "--config", str(settings)])
    assert done.exit_code == 0, done.output
    assert "version 1, applied:\n  2: the user columns" in done.output
    assert peek_version(tmp_path / "api" / "api.db") == 2
    again = CliRunner().invoke(app, ["db", "upgrade", "--config", str(settings)])
    assert "users (" in again.output
    assert "version 2, up to date" in again.output
    store = UserStore(tmp_path / "api" / "api.db")
    _kept(store)
    store.close()


def test_an_sqlite_file_of_the_previous_schema_is_upgraded_by_opening(tmp_path: Path) -> None:
    shutil.copy(DATA / "users-v1.db", tmp_path / "api.db")
    store = UserStore(tmp_path / "api.db")
    _kept(store)
    store.close()
    assert peek_version(tmp_path / "api.db") == 2


def _restore_v1(shared_postgres: Postgres, dsn: str) -> None:
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f",
         str(DATA / "users-v1.postgres.sql")],
        check=True, capture_output=True,
    )  # fmt: skip
    assert peek_version(PostgresLocation(dsn, "users")) == 1


def test_a_postgres_schema_of_the_previous_version_is_upgraded_by_db_upgrade(
    tmp_path: Path, shared_postgres: Postgres, pg_dsn: str
) -> None:
    _restore_v1(shared_postgres, pg_dsn)
    settings = _settings(tmp_path, f"relational: {{kind: postgres, dsn: '{pg_dsn}'}}")
    done = CliRunner().invoke(app, ["db", "upgrade", "--config", str(settings)])
    assert done.exit_code == 0, done.output
    assert "users (schema users of PostgreSQL database" in done.output
    assert "version 1, applied:\n  2: the user columns" in done.output
    assert "registry (schema registry of" in done.output, "a new store is created"
    store = UserStore(PostgresLocation(pg_dsn, "users"))
    _kept(store)
    store.close()


def test_a_postgres_schema_of_the_previous_version_is_upgraded_by_opening(
    shared_postgres: Postgres, pg_dsn: str
) -> None:
    _restore_v1(shared_postgres, pg_dsn)
    store = UserStore(PostgresLocation(pg_dsn, "users"))
    _kept(store)
    store.close()
    assert peek_version(PostgresLocation(pg_dsn, "users")) == 2


def test_db_upgrade_on_postgres_makes_the_evidence_and_login_throttle_schemas(
    tmp_path: Path, pg_dsn: str
) -> None:
    settings = _settings(tmp_path, f"relational: {{kind: postgres, dsn: '{pg_dsn}'}}")
    done = CliRunner().invoke(app, ["db", "upgrade", "--config", str(settings)])
    assert done.exit_code == 0, done.output
    assert "evidence (schema evidence of" in done.output
    assert "login throttle (schema logins of" in done.output
    assert peek_version(PostgresLocation(pg_dsn, "evidence")) == 1
    (tmp_path / "one").mkdir()
    sqlite = _settings(tmp_path / "one", "")
    alone = CliRunner().invoke(app, ["db", "upgrade", "--config", str(sqlite)])
    assert alone.exit_code == 0 and "evidence" not in alone.output, "a folder has no schema"
