"""The settings file's ``relational`` section: which engine keeps the registry, the users and
the config versions — SQLite files (the default) or PostgreSQL (``kind``)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from villagewatch.config.paths import PasswordFile
from villagewatch.contract import StrictModel

__all__ = ["PostgresSettings", "RelationalSettings", "SQLiteFilesSettings"]

_PASSWORD_IN_DSN = re.compile(r"(^|\s)password\s*=|://[^/@]*:[^/@]*@", re.IGNORECASE)


class SQLiteFilesSettings(StrictModel):
    """Each store in its own SQLite file, where its section says (``registry.path`` …)."""

    kind: Literal["sqlite"] = Field("sqlite", description="Selects SQLite files.")


class PostgresSettings(StrictModel):
    """One PostgreSQL database; each store in a schema of its own, made and migrated at start.

    The schemas are ``registry``, ``users`` and ``config_versions``."""

    kind: Literal["postgres"] = Field("postgres", description="Selects PostgreSQL.")
    dsn: str = Field(
        description="libpq connection string or URL without the password, e.g. "
        "`host=db1 port=5432 dbname=villagewatch user=villagewatch`.",
        min_length=1,
    )
    password_file: PasswordFile | None = Field(
        None, description="File holding the password; unset: none (or libpq's ~/.pgpass)."
    )
    busy_timeout_s: float = Field(
        5,
        gt=0,
        le=60,
        description="How long a change waits for another writer of the same store before it "
        "gives up as unavailable (the API answers 503, a service retries).",
    )

    @field_validator("dsn")
    @classmethod
    def _no_password(cls, dsn: str) -> str:
        if _PASSWORD_IN_DSN.search(dsn):
            raise ValueError(
                "the DSN holds a password: put it in a file named by password_file instead "
                "(settings files are shared and versioned; secrets are not)"
            )
        return dsn


RelationalSettings = Annotated[SQLiteFilesSettings | PostgresSettings, Field(discriminator="kind")]
