"""PostgreSQL's faults on a real server: stopped mid-run, starters at once, a schema newer than
the code, a wrong password or database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from villagewatch.api.users import UserRole, UserStore
from villagewatch.db.database import PostgresLocation, open_database, peek_version
from villagewatch.db.migrations import Migration
from villagewatch.errors import SchemaRefused, StoreUnavailable
from villagewatch_dev.servers import PG_SIGNIN_ROLE, Postgres


def test_a_stopped_server_is_unavailable_and_a_retry_after_its_restart_works(
    postgres: Postgres,
) -> None:
    dsn = postgres.create_database("vw")
    store = UserStore(PostgresLocation(dsn, "users"))
    store.add("wang", "password-1", UserRole.ADMIN, ["*"], now_ms=1)
    store.audit("wang", "a", "t", {}, now_ms=2)  # a few idle connections to go stale
    postgres.stop()
    with pytest.raises(StoreUnavailable, match=r"users could not .* PostgreSQL database vw"):
        store.audit("wang", "b", "t", {}, now_ms=3)
    with pytest.raises(StoreUnavailable, match="cannot connect to PostgreSQL database vw"):
        store.users()
    postgres.start()
    store.audit("wang", "c", "t", {}, now_ms=4)  # the first call after the restart works
    assert [r.action for r in store.audit_log()] == ["c", "a"]
    store.close()


def test_starters_at_once_apply_each_migration_once(pg_dsn: str) -> None:
    # a migration that is not idempotent: run twice, it would leave two rows
    migrations = (
        Migration("t", "CREATE TABLE t (k INTEGER);"),
        Migration("one row", "INSERT INTO t VALUES (1);"),
    )
    where = PostgresLocation(pg_dsn, "race")

    def start(_: int) -> None:
        open_database(where, name="race", migrations=migrations, busy_timeout_s=10).close()

    with ThreadPoolExecutor(8) as pool:  # 8 connections: to the server, 8 processes
        list(pool.map(start, range(8)))
    db = open_database(where, name="race", migrations=migrations, busy_timeout_s=10)
    assert db.rows("SELECT count(*) FROM t") == [(1,)]
    db.close()
    assert peek_version(where) == 2


def test_a_schema_newer_than_the_code_is_refused_in_words(pg_dsn: str) -> None:
    where = PostgresLocation(pg_dsn, "users")
    UserStore(where).close()
    v2 = Migration("x", "CREATE TABLE later (k INTEGER);")
    from villagewatch.api.users import MIGRATIONS

    open_database(where, name="users", migrations=(*MIGRATIONS, v2), busy_timeout_s=5).close()
    with pytest.raises(SchemaRefused) as refused:
        UserStore(where)
    text = str(refused.value)
    assert "schema users of PostgreSQL database" in text
    assert f"has schema version {len(MIGRATIONS) + 1}" in text
    assert f"knows versions up to {len(MIGRATIONS)}" in text
    assert "written by a newer villagewatch" in text


def test_a_wrong_password_names_host_and_database_but_never_the_password(
    shared_postgres: Postgres, pg_dsn: str
) -> None:
    shared_postgres.sql(f"DROP ROLE IF EXISTS {PG_SIGNIN_ROLE}")
    shared_postgres.sql(f"CREATE ROLE {PG_SIGNIN_ROLE} LOGIN PASSWORD 'right-one-42'")
    dsn = pg_dsn.replace(f"user={shared_postgres.user}", f"user={PG_SIGNIN_ROLE}")
    with pytest.raises(StoreUnavailable) as wrong:
        UserStore(PostgresLocation(dsn, "users", password="wrong-secret-17"))
    text = str(wrong.value)
    assert f"127.0.0.1:{shared_postgres.port}" in text
    assert "PostgreSQL database t_test_a_wrong_password" in text
    assert "password authentication failed" in text
    assert "wrong-secret-17" not in text
    assert "right-one-42" not in text


def test_a_database_that_does_not_exist_is_named(shared_postgres: Postgres) -> None:
    with pytest.raises(StoreUnavailable, match=r"PostgreSQL database nowhere at 127\.0\.0\.1:"):
        UserStore(PostgresLocation(shared_postgres.dsn_of("nowhere"), "users"))


def test_a_dsn_that_does_not_parse_is_not_repeated() -> None:
    with pytest.raises(StoreUnavailable) as bad:
        UserStore(PostgresLocation("host=x password=hunter2 'oops", "users"))
    assert "hunter2" not in str(bad.value)
    assert "does not parse" in str(bad.value)


def test_settings_refuse_a_password_in_the_dsn(tmp_path: Path) -> None:
    from villagewatch.config import load_settings
    from villagewatch.errors import ConfigError

    (tmp_path / "v.yaml").write_text("id: v\n")
    path = tmp_path / "s.yaml"
    path.write_text(
        "villages: [v.yaml]\nrelational: {kind: postgres, dsn: 'postgresql://u:pw@h/db'}\n"
    )
    with pytest.raises(ConfigError, match="password_file"):
        load_settings(path)
