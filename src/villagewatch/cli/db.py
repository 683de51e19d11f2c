"""``villagewatch db``: the relational stores' schemas (SQLite files or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Protocol

import typer

from villagewatch.cli.app import db_app
from villagewatch.cli.common import ConfigOption, exit_on, loaded
from villagewatch.config import Settings, load_settings
from villagewatch.db import configured
from villagewatch.db.database import Location, describe_location, open_database, peek_version
from villagewatch.db.migrations import Migration
from villagewatch.errors import VillagewatchError

__all__ = ["relational_stores"]


class _Closing(Protocol):
    def close(self) -> None: ...


def relational_stores(
    settings: Settings,
) -> list[tuple[str, Sequence[Migration], Location, Callable[[Location], _Closing]]]:
    """Each store ``db upgrade`` looks after: its name, its migrations, where the settings
    put it and how it opens (opening applies what is pending)."""
    from villagewatch.alerts.database import schema as alerts
    from villagewatch.alerts.database.store import AlertDatabase
    from villagewatch.api import throttle_shared, users
    from villagewatch.detect import store as detect
    from villagewatch.registry import schema
    from villagewatch.registry import store as registry
    from villagewatch.store import relational_schema
    from villagewatch.store.evidence import EvidenceTable, table
    from villagewatch.versions import store as versions

    wait_s = configured.busy_timeout_s(settings)
    shared: list[tuple[str, Sequence[Migration], Location, Callable[[Location], _Closing]]] = []
    logins, evidence = configured.logins_location(settings), configured.evidence_location(settings)
    if logins is not None:  # the stores that exist only in PostgreSQL
        shared.append(
            ("login throttle", throttle_shared.MIGRATIONS, logins,
             lambda where: throttle_shared.SharedLoginThrottle(where, busy_timeout_s=wait_s))
        )  # fmt: skip
    if (readings := configured.readings_location(settings)) is not None:
        shared.append(
            ("readings", relational_schema.MIGRATIONS, readings,
             lambda where: open_database(where, name="readings",
                                         migrations=relational_schema.MIGRATIONS,
                                         busy_timeout_s=wait_s))
        )  # fmt: skip
    if not isinstance(evidence, Path):
        shared.append(
            ("evidence", table.MIGRATIONS, evidence,
             lambda where: EvidenceTable(where, busy_timeout_s=wait_s))
        )  # fmt: skip
    return [
        ("registry", schema.MIGRATIONS, configured.registry_location(settings),
         lambda where: registry.RegistryStore(where, busy_timeout_s=wait_s)),
        ("users", users.MIGRATIONS, configured.users_location(settings),
         lambda where: users.UserStore(where, busy_timeout_s=wait_s)),
        ("config versions", versions.MIGRATIONS, configured.versions_location(settings),
         lambda where: versions.VersionStore(where, busy_timeout_s=wait_s)),
        ("alerts", alerts.MIGRATIONS, configured.alerts_location(settings),
         lambda where: AlertDatabase(where, busy_timeout_s=wait_s)),
        ("detect", detect.MIGRATIONS, configured.detect_location(settings),
         lambda where: open_database(where, name="detect state",
                                     migrations=detect.MIGRATIONS, busy_timeout_s=wait_s)),
        *shared,
    ]  # fmt: skip


@db_app.command("upgrade")
def db_upgrade(
    config: ConfigOption,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say which migrations are pending.")
    ] = False,
) -> None:
    """Apply the pending schema migrations of every relational store the settings configure
    (registry, users, config versions, alerts, detect, the readings' relational tables unless
    they are in InfluxDB; with PostgreSQL also the evidence pictures and the login throttle),
    each in one transaction, and say what was done. Services do the same when they open a
    store; this does it ahead, e.g. before a restart. Back up first: a migration cannot be
    undone, and an older villagewatch refuses the migrated database."""
    settings = loaded(load_settings, config)
    failed = False
    with exit_on(VillagewatchError):
        stores = relational_stores(settings)
    for name, migrations, location, open_store in stores:
        where = describe_location(location)
        try:
            found = peek_version(location)
            if found > len(migrations):
                open_store(location).close()  # refuses, in words
            pending = list(enumerate(migrations, start=1))[found:]
            if not pending:
                typer.echo(f"{name} ({where}): version {found}, up to date")
                continue
            if not dry_run:
                open_store(location).close()
        except VillagewatchError as exc:
            typer.echo(f"{name} ({where}): {exc}", err=True)
            failed = True
            continue
        verb = "would apply" if dry_run else "applied"
        typer.echo(f"{name} ({where}): version {found}, {verb}:")
        for number, migration in pending:
            typer.echo(f"  {number}: {migration.summary}")
    if failed:
        raise typer.Exit(1)
