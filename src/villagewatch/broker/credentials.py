"""``villagewatch broker credentials``: every broker identity's password, the broker's password
file and its ACL, written into one folder.

The folder holds ``<identity>.password`` (mode 0600, one per identity: give each
to its service, or point ``mqtt.credentials_dir`` at the folder) and, for
Mosquitto, ``villagewatch.passwd`` and ``villagewatch.acl``. Running it again
keeps every existing password — a regenerated ACL must not lock every agent
out — unless asked to rotate some or all of them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from villagewatch.broker.identities import CredentialsError, Identity
from villagewatch.broker.mosquitto import acl_file, password_file
from villagewatch.config import identity_password_file

__all__ = ["ACL_FILE", "PASSWORD_FILE", "Written", "write_credentials"]

PASSWORD_FILE = "villagewatch.passwd"  # noqa: S105 - a file name, no password
"""Mosquitto's password file in the output folder (``password_file`` of mosquitto.conf)."""
ACL_FILE = "villagewatch.acl"
"""Mosquitto's ACL file in the output folder (``acl_file`` of mosquitto.conf)."""

_SUFFIX = ".password"


@dataclass(frozen=True, slots=True)
class Written:
    """What a run wrote; names only, never a password."""

    new: list[str]
    """Identities that got a new password (first run, or rotated)."""
    kept: list[str]
    """Identities whose existing password was kept."""
    stale: list[str]
    """Password files in the folder of identities the config no longer has (left in place;
    the broker no longer accepts them)."""


def write_credentials(
    identities: Sequence[Identity],
    folder: Path,
    *,
    source: str,
    rotate: Collection[str] = (),
    rotate_all: bool = False,
) -> Written:
    """Write every identity's password file (keeping existing ones unless rotated), the
    broker's password file and its ACL into ``folder``."""
    names = {i.name for i in identities}
    unknown = sorted(set(rotate) - names)
    if unknown:
        raise CredentialsError(f"no identity {', '.join(map(repr, unknown))} to rotate")
    folder.mkdir(parents=True, exist_ok=True)
    passwords: dict[str, str] = {}
    new: list[str] = []
    kept: list[str] = []
    for identity in identities:
        path = identity_password_file(folder, identity.name)
        old = None if rotate_all or identity.name in rotate else _existing(path)
        if old is None:
            passwords[identity.name] = secrets.token_urlsafe(24)
            _write(path, passwords[identity.name] + "\n", mode=0o600)
            new.append(identity.name)
        else:
            passwords[identity.name] = old
            kept.append(identity.name)
    _write(folder / PASSWORD_FILE, password_file(passwords), mode=0o600)
    _write(folder / ACL_FILE, acl_file(identities, source=source), mode=0o644)
    stale = sorted(
        p.name.removesuffix(_SUFFIX)
        for p in folder.glob(f"*{_SUFFIX}")
        if p.name.removesuffix(_SUFFIX) not in names
    )
    return Written(new, kept, stale)


def _existing(path: Path) -> str | None:
    """The password kept in ``path``; None when there is none yet."""
    try:
        password = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    if not password:
        raise CredentialsError(
            f"{path} is empty: delete it or rotate that identity to give it a new password"
        )
    return password


def _write(path: Path, text: str, *, mode: int) -> None:
    """Replace ``path`` atomically with ``text``, created with ``mode`` (never wider first)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed it (0644 for the ACL)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
