"""API users, their sessions and the audit log of what they did, in one SQLite file.

Passwords are kept as scrypt hashes with a salt of their own; a session token
is 32 random bytes shown once to the client and kept only as its SHA-256, with
an expiry. Every action through the API is written to ``api_audit``, which
refuses updates and deletes like the alerts' own audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from villagewatch.db.migrations import Migration
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S, SQLiteFile
from villagewatch.errors import VillagewatchError

__all__ = ["MIGRATIONS", "AuditRecord", "Session", "User", "UserRefused", "UserRole", "UserStore"]

MIGRATIONS = (
    Migration(
        "users, sessions and the API audit log",
        """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password TEXT NOT NULL, role TEXT NOT NULL, places TEXT NOT NULL,
    created_ms INTEGER NOT NULL, disabled INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users (name),
    created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_audit (
    id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS api_audit_no_update BEFORE UPDATE ON api_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS api_audit_no_delete BEFORE DELETE ON api_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
""",
    ),
)
"""The schema, migration 1 first (see :mod:`villagewatch.db.migrations`)."""

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class UserRole(StrEnum):
    """What a user may do; each role may do everything the ones before it may."""

    VIEWER = "viewer"
    """Watch alerts, devices and readings of their places."""
    OPERATOR = "operator"
    """Also handle alerts (acknowledge, assign, resolve, silence) and keep the registry."""
    MAINTAINER = "maintainer"
    """Also read and apply config, upload village plans."""
    ADMIN = "admin"
    """Also manage users and read the audit log."""

    @property
    def rank(self) -> int:
        """Position in the order viewer < operator < maintainer < admin."""
        return list(UserRole).index(self)


class UserRefused(VillagewatchError):
    """A user change that does not fit (name taken, bad place, weak password)."""


@dataclass(frozen=True, slots=True)
class User:
    """Someone who logs in; ``places`` scope what they see (``*``: everything)."""

    name: str
    role: UserRole
    places: tuple[str, ...]
    disabled: bool = False

    def may(self, role: UserRole) -> bool:
        """Whether the user's role includes ``role``."""
        return self.role.rank >= role.rank


@dataclass(frozen=True, slots=True)
class Session:
    """A new login: the token (shown once) and when it expires (epoch ms)."""

    token: str
    expires_ms: int
    user: User


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One action someone took through the API."""

    id: int
    at_ms: int
    user: str
    action: str
    target: str
    detail: dict[str, Any]


def hash_password(password: str) -> str:
    """``scrypt$<salt hex>$<hash hex>``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash (in constant time)."""
    try:
        scheme, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    except ValueError:
        return False
    return hmac.compare_digest(got, bytes.fromhex(digest))


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# a hash to compare against when the user does not exist, so that a wrong name
# takes as long as a wrong password
_DUMMY = hash_password(secrets.token_hex(8))


class UserStore:
    """Users, sessions and the API audit log in ``path``."""

    def __init__(self, path: Path, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        """Create the file and its tables if needed; a change waits ``busy_timeout_s`` at most
        for another writer."""
        self._db = SQLiteFile(
            path,
            name="users",
            migrations=MIGRATIONS,
            busy_timeout_s=busy_timeout_s,
            foreign_keys=True,
        )

    def add(
        self, name: str, password: str, role: UserRole, places: Sequence[str], now_ms: int
    ) -> User:
        """A new user; refused if the name is taken or the password shorter than 8."""
        if len(password) < 8:
            raise UserRefused("a password needs at least 8 characters")
        if not places:
            raise UserRefused("a user needs at least one place (or * for every place)")
        row = (name, hash_password(password), role.value, json.dumps(list(places)), now_ms)
        try:
            self._db.write(lambda c: c.execute("INSERT INTO users VALUES (?,?,?,?,?,0)", row))
        except sqlite3.IntegrityError:
            raise UserRefused(f"there is already a user {name!r}") from None
        return User(name, role, tuple(places))

    def set_password(self, name: str, password: str) -> None:
        """Change a password; every session of the user ends."""
        if len(password) < 8:
            raise UserRefused("a password needs at least 8 characters")
        hashed = hash_password(password)

        def run(c: sqlite3.Connection) -> None:
            if not c.execute(
                "UPDATE users SET password = ? WHERE name = ?", (hashed, name)
            ).rowcount:
                raise UserRefused(f"no user {name!r}")
            c.execute("DELETE FROM sessions WHERE user = ?", (name,))

        self._db.write(run)

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Lock a user out (their sessions end) or let them back in."""

        def run(c: sqlite3.Connection) -> None:
            n = c.execute(
                "UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name)
            ).rowcount
            if not n:
                raise UserRefused(f"no user {name!r}")
            if disabled:
                c.execute("DELETE FROM sessions WHERE user = ?", (name,))

        self._db.write(run)

    def users(self) -> list[User]:
        """Every user, by name."""
        rows = self._db.rows("SELECT name, role, places, disabled FROM users ORDER BY name")
        return [_user(r) for r in rows]

    def login(self, name: str, password: str, now_ms: int, ttl_s: float) -> Session | None:
        """A session for the right password of an enabled user; None otherwise."""
        rows = self._db.rows(
            "SELECT name, role, places, disabled, password FROM users WHERE name = ?", (name,)
        )
        if not rows:
            check_password(password, _DUMMY)
            return None
        row = rows[0]
        if not check_password(password, row[4]) or row[3]:
            return None
        token = secrets.token_urlsafe(32)
        expires = now_ms + int(ttl_s * 1000)

        def run(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM sessions WHERE expires_ms <= ?", (now_ms,))
            c.execute("INSERT INTO sessions VALUES (?,?,?,?)", (_sha(token), name, now_ms, expires))

        self._db.write(run)
        return Session(token, expires, _user(row[:4]))

    def authenticate(self, token: str, now_ms: int) -> User | None:
        """The user of a current session; None for an unknown, expired or disabled one."""
        rows = self._db.rows(
            "SELECT u.name, u.role, u.places, u.disabled FROM sessions s"
            " JOIN users u ON u.name = s.user WHERE s.token_sha256 = ? AND s.expires_ms > ?",
            (_sha(token), now_ms),
        )
        if not rows or rows[0][3]:
            return None
        return _user(rows[0])

    def logout(self, token: str) -> None:
        """End one session."""
        self._db.write(
            lambda c: c.execute("DELETE FROM sessions WHERE token_sha256 = ?", (_sha(token),))
        )

    def audit(
        self, user: str, action: str, target: str, detail: dict[str, Any], now_ms: int
    ) -> None:
        """Record an action."""
        row = (now_ms, user, action, target, json.dumps(detail, ensure_ascii=False))
        self._db.write(
            lambda c: c.execute(
                "INSERT INTO api_audit (at_ms, user, action, target, detail) VALUES (?,?,?,?,?)",
                row,
            )
        )

    def audit_log(
        self, *, user: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[AuditRecord]:
        """The newest actions first (of one user)."""
        sql = "SELECT id, at_ms, user, action, target, detail FROM api_audit WHERE 1=1"
        args: list[Any] = []
        if user is not None:
            sql += " AND user = ?"
            args.append(user)
        if before_id is not None:
            sql += " AND id < ?"
            args.append(before_id)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        rows = self._db.rows(sql, args)
        return [AuditRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def _user(row: Sequence[Any]) -> User:
    return User(row[0], UserRole(row[1]), tuple(json.loads(row[2])), bool(row[3]))
