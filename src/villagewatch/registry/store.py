"""The registry in one SQLite file (WAL) or a PostgreSQL schema: written by the API, read by
detect.

Nothing is deleted: a tenant who moves out and a card that is handed back are
*ended* (with the time), so the history stays. Every write bumps a generation
number, which detect polls to pick up changes without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from villagewatch.config.village import Village
from villagewatch.db.database import Connection, Location, open_database
from villagewatch.db.sqlite import DEFAULT_BUSY_TIMEOUT_S
from villagewatch.errors import VillagewatchError
from villagewatch.registry.schema import MIGRATIONS

__all__ = [
    "CredentialRecord",
    "HouseRecord",
    "RegistryRefused",
    "RegistryStore",
    "TenantRecord",
]

T = TypeVar("T")


class RegistryRefused(VillagewatchError):
    """A registry change that does not fit (unknown house, a lock already in another house …)."""


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """A card, code or fingerprint of a tenant; times in epoch ms, None: open-ended."""

    id: str
    tenant: str
    valid_from_ms: int | None
    valid_to_ms: int | None
    added_ms: int
    ended_ms: int | None


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """Someone living in a house (name and phone are personal data)."""

    id: str
    name: str
    phone: str
    verified: bool
    added_ms: int
    ended_ms: int | None


@dataclass(frozen=True, slots=True)
class HouseRecord:
    """A rental house with its lock, tenants and credentials (ended ones included)."""

    village: str
    id: str
    name: str
    lock: str
    tenants: tuple[TenantRecord, ...]
    credentials: tuple[CredentialRecord, ...]


def _ms(dt: datetime | None) -> int | None:
    return None if dt is None else int(dt.timestamp() * 1000)


class RegistryStore:
    """The registry at ``location`` (a file or a PostgreSQL schema); open it in each process
    that reads or writes it."""

    def __init__(
        self, location: Location, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        """Create the database and its tables if needed; a change waits ``busy_timeout_s`` at
        most for another writer."""
        self._db = open_database(
            location, name="registry", migrations=MIGRATIONS, busy_timeout_s=busy_timeout_s
        )

    def seed(self, villages: Iterable[Village], now_ms: int) -> int:
        """Copy in the houses the village files list and the registry lacks; how many."""

        def run(c: Connection) -> int:
            added = 0
            for v in villages:
                for h in v.houses:
                    if c.execute(
                        "SELECT 1 FROM houses WHERE village = ? AND id = ?", (v.id, h.id)
                    ).fetchone():
                        continue
                    self._house(c, v.id, h.id, name=h.name, lock=h.lock, now_ms=now_ms)
                    for t in h.tenants:
                        c.execute(
                            "INSERT INTO tenants VALUES (?,?,?,?,?,?,?,NULL)",
                            (v.id, h.id, t.id, t.name, "", int(t.verified), now_ms),
                        )
                        for cr in t.credentials:
                            self._credential(
                                c, v.id, h.id, tenant=t.id, credential=cr.id,
                                valid_from_ms=_ms(cr.valid_from), valid_to_ms=_ms(cr.valid_to),
                                now_ms=now_ms,
                            )  # fmt: skip
                    added += 1
            return added

        return self._write(run)

    # --- operators' changes -----------------------------------------------------------

    def add_house(self, village: str, house: str, name: str, lock: str, now_ms: int) -> None:
        """Register a rental house and its lock."""
        self._write(lambda c: self._house(c, village, house, name=name, lock=lock, now_ms=now_ms))

    def add_tenant(
        self,
        village: str,
        house: str,
        tenant: str,
        *,
        name: str,
        phone: str,
        verified: bool,
        now_ms: int,
    ) -> None:
        """Register a tenant of a house (again, after an earlier end, with a new id)."""

        def run(c: Connection) -> None:
            self._existing_house(c, village, house)
            if c.execute(
                "SELECT 1 FROM tenants WHERE village = ? AND house = ? AND id = ?",
                (village, house, tenant),
            ).fetchone():
                raise RegistryRefused(f"house {house!r} already has a tenant {tenant!r}")
            c.execute(
                "INSERT INTO tenants VALUES (?,?,?,?,?,?,?,NULL)",
                (village, house, tenant, name, phone, int(verified), now_ms),
            )

        self._write(run)

    def set_verified(self, village: str, house: str, tenant: str, *, verified: bool) -> None:
        """The village office checked (or unchecked) the tenant's identity."""
        self._write(lambda c: self._current_tenant(c, village, house, tenant, verified=verified))

    def add_credential(
        self,
        village: str,
        house: str,
        tenant: str,
        credential: str,
        *,
        valid_from_ms: int | None,
        valid_to_ms: int | None,
        now_ms: int,
    ) -> None:
        """Give a current tenant a credential for the house's lock."""

        def run(c: Connection) -> None:
            self._current_tenant(c, village, house, tenant)
            self._credential(
                c, village, house, tenant=tenant, credential=credential,
                valid_from_ms=valid_from_ms, valid_to_ms=valid_to_ms, now_ms=now_ms,
            )  # fmt: skip

        self._write(run)

    def end_tenant(self, village: str, house: str, tenant: str, now_ms: int) -> None:
        """The tenant moved out: they and all their credentials end now."""

        def run(c: Connection) -> None:
            self._current_tenant(c, village, house, tenant)
            c.execute(
                "UPDATE tenants SET ended_ms = ? WHERE village = ? AND house = ? AND id = ?",
                (now_ms, village, house, tenant),
            )
            c.execute(
                "UPDATE credentials SET ended_ms = ? WHERE village = ? AND house = ?"
                " AND tenant = ? AND ended_ms IS NULL",
                (now_ms, village, house, tenant),
            )

        self._write(run)

    def end_credential(self, village: str, house: str, credential: str, now_ms: int) -> None:
        """A card handed back or a code withdrawn: it no longer counts as registered."""

        def run(c: Connection) -> None:
            n = c.execute(
                "UPDATE credentials SET ended_ms = ? WHERE village = ? AND house = ? AND id = ?"
                " AND ended_ms IS NULL",
                (now_ms, village, house, credential),
            ).rowcount
            if not n:
                raise RegistryRefused(f"house {house!r} has no current credential {credential!r}")

        self._write(run)

    # --- reading ----------------------------------------------------------------------------

    def houses(self, village: str | None = None) -> list[HouseRecord]:
        """Every house (of one village), with tenants and credentials, ended ones included."""
        where, args = ("WHERE village = ?", (village,)) if village else ("", ())

        def read(c: Connection) -> tuple[list[Any], list[Any], list[Any]]:
            houses = c.execute(
                f"SELECT village, id, name, lock FROM houses {where} ORDER BY village, id",  # noqa: S608
                args,
            ).fetchall()
            tenants = c.execute(
                f"SELECT village, house, id, name, phone, verified, added_ms, ended_ms"  # noqa: S608
                f" FROM tenants {where} ORDER BY added_ms, id",
                args,
            ).fetchall()
            creds = c.execute(
                f"SELECT village, house, id, tenant, valid_from_ms, valid_to_ms, added_ms,"  # noqa: S608
                f" ended_ms FROM credentials {where} ORDER BY added_ms, id",
                args,
            ).fetchall()
            return houses, tenants, creds

        houses, tenants, creds = self._db.read(read)
        by_house_t: dict[tuple[str, str], list[TenantRecord]] = {}
        for v, h, *rest in tenants:
            tid, name, phone, verified, added, ended = rest
            by_house_t.setdefault((v, h), []).append(
                TenantRecord(tid, name, phone, bool(verified), added, ended)
            )
        by_house_c: dict[tuple[str, str], list[CredentialRecord]] = {}
        for v, h, *rest in creds:
            by_house_c.setdefault((v, h), []).append(CredentialRecord(*rest))
        return [
            HouseRecord(
                v,
                hid,
                name,
                lock,
                tuple(by_house_t.get((v, hid), ())),
                tuple(by_house_c.get((v, hid), ())),
            )
            for v, hid, name, lock in houses
        ]

    def lock_credentials(
        self, village: str
    ) -> dict[str, list[tuple[str, datetime | None, datetime | None]]]:
        """Lock → (credential, valid from, valid to) of its house's current tenants; a lock
        in a house with none maps to an empty list (every credential is unregistered)."""

        def read(c: Connection) -> tuple[list[Any], list[Any]]:
            locks = c.execute(
                "SELECT id, lock FROM houses WHERE village = ?", (village,)
            ).fetchall()
            rows = c.execute(
                "SELECT house, id, valid_from_ms, valid_to_ms FROM credentials"
                " WHERE village = ? AND ended_ms IS NULL",
                (village,),
            ).fetchall()
            return locks, rows

        locks, rows = self._db.read(read)
        out: dict[str, list[tuple[str, datetime | None, datetime | None]]] = {
            lock: [] for _, lock in locks
        }
        lock_of = dict(locks)
        for house, cid, start, end in rows:
            out[lock_of[house]].append((cid, _dt(start), _dt(end)))
        return out

    def generation(self) -> int:
        """Goes up with every change: readers reload when it moved."""
        return int(self._db.rows("SELECT n FROM generation")[0][0])

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    # --- inside a transaction ----------------------------------------------------------------

    @staticmethod
    def _house(
        c: Connection, village: str, house: str, *, name: str, lock: str, now_ms: int
    ) -> None:
        taken = c.execute(
            "SELECT id FROM houses WHERE village = ? AND (id = ? OR lock = ?)",
            (village, house, lock),
        ).fetchone()
        if taken is not None:
            if taken[0] == house:
                raise RegistryRefused(f"village {village!r} already has a house {house!r}")
            raise RegistryRefused(f"lock {lock!r} is already the lock of house {taken[0]!r}")
        c.execute("INSERT INTO houses VALUES (?,?,?,?,?)", (village, house, name, lock, now_ms))

    @staticmethod
    def _existing_house(c: Connection, village: str, house: str) -> None:
        if not c.execute(
            "SELECT 1 FROM houses WHERE village = ? AND id = ?", (village, house)
        ).fetchone():
            raise RegistryRefused(f"village {village!r} has no house {house!r}")

    def _current_tenant(
        self,
        c: Connection,
        village: str,
        house: str,
        tenant: str,
        *,
        verified: bool | None = None,
    ) -> None:
        self._existing_house(c, village, house)
        row = c.execute(
            "SELECT ended_ms FROM tenants WHERE village = ? AND house = ? AND id = ?",
            (village, house, tenant),
        ).fetchone()
        if row is None:
            raise RegistryRefused(f"house {house!r} has no tenant {tenant!r}")
        if row[0] is not None:
            raise RegistryRefused(f"tenant {tenant!r} of house {house!r} has moved out")
        if verified is not None:
            c.execute(
                "UPDATE tenants SET verified = ? WHERE village = ? AND house = ? AND id = ?",
                (int(verified), village, house, tenant),
            )

    @staticmethod
    def _credential(
        c: Connection,
        village: str,
        house: str,
        *,
        tenant: str,
        credential: str,
        valid_from_ms: int | None,
        valid_to_ms: int | None,
        now_ms: int,
    ) -> None:
        if valid_from_ms is not None and valid_to_ms is not None and valid_to_ms <= valid_from_ms:
            raise RegistryRefused("a credential must be valid until after it is valid from")
        current = c.execute(
            "SELECT tenant, ended_ms FROM credentials WHERE village = ? AND house = ? AND id = ?",
            (village, house, credential),
        ).fetchone()
        if current is not None and current[1] is None:
            raise RegistryRefused(
                f"credential {credential!r} of house {house!r} is already {current[0]!r}'s"
            )
        row = (tenant, valid_from_ms, valid_to_ms, now_ms, village, house, credential)
        if current is not None:  # a credential handed back can be handed out again: reused
            c.execute(
                "UPDATE credentials SET tenant = ?, valid_from_ms = ?, valid_to_ms = ?,"
                " added_ms = ?, ended_ms = NULL WHERE village = ? AND house = ? AND id = ?",
                row,
            )
        else:
            c.execute(
                "INSERT INTO credentials (tenant, valid_from_ms, valid_to_ms, added_ms, village,"
                " house, id) VALUES (?,?,?,?,?,?,?)",
                row,
            )

    def _write(self, fn: Callable[[Connection], T]) -> T:
        def change(c: Connection) -> T:
            result = fn(c)
            c.execute("UPDATE generation SET n = n + 1")
            return result

        return self._db.write(change)


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)
