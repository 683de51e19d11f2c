"""How the ingester signs in to NATS — the user's password read from its file, the TLS
context built from the CA and client certificate files, when it connects, never in a
constructor — and why a first connect failed, in words.

A file that cannot be used is a :class:`~villagewatch.errors.ConfigError` naming the file and
the setting, never its content: an empty password file is refused (the server would answer
"authorization violation" and hide why), a password file other users can read is used with a
warning (it may be meant for a group: mode 640 is quiet).
"""

from __future__ import annotations

import logging
import ssl
import stat
from pathlib import Path
from typing import Any

import nats.errors

from villagewatch.config import read_secret
from villagewatch.config.bus import NatsBus
from villagewatch.errors import BusUnavailable, ConfigError, ConfigIssue

__all__ = ["sign_in_options", "why_unavailable"]

log = logging.getLogger(__name__)


def sign_in_options(bus: NatsBus) -> dict[str, Any]:
    """The nats-py ``connect`` keywords for ``bus``'s user and TLS (none: an empty dict).
    Raises ConfigError when a password, CA or client certificate file cannot be used."""
    options: dict[str, Any] = {}
    if bus.username is not None and bus.password_file is not None:
        options["user"] = bus.username
        options["password"] = _password(bus.password_file)
    if bus.tls is not None:
        tls = bus.tls
        try:
            context = ssl.create_default_context(cafile=str(tls.ca_file))
        except (ssl.SSLError, OSError) as exc:
            raise _refused(
                tls.ca_file, "tls.ca_file", f"not a usable CA certificate: {exc}"
            ) from None
        if tls.cert_file is not None:
            try:
                context.load_cert_chain(
                    str(tls.cert_file), str(tls.key_file) if tls.key_file else None
                )
            except (ssl.SSLError, OSError) as exc:
                raise _refused(
                    tls.cert_file, "tls.cert_file", f"not a usable client certificate: {exc}"
                ) from None
        options["tls"] = context
    return options


def _password(path: Path) -> str:
    password = read_secret(path)
    if not password:
        raise _refused(path, "password_file", "the password file is empty")
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = 0
    if mode & stat.S_IROTH:
        log.warning(
            "The NATS password file %s can be read by every user of this machine "
            "(mode %o): chmod 600 it (or 640 for the service's group)",
            path, stat.S_IMODE(mode),
        )  # fmt: skip
    return password


def why_unavailable(
    bus: NatsBus, exc: BaseException, refusals: list[Exception], bound: float
) -> BusUnavailable:
    """Why the first connect failed, in words naming the servers and the setting to check
    (never the password)."""
    servers = ", ".join(bus.servers)
    last = refusals[-1] if refusals else exc
    # nats-py raises its AuthorizationError, or a plain error with the server's words. Any
    # server's refusal is the cause: the server closes the connection after it, and on a
    # loaded machine the next try may end in a plain "connection reset" first.
    if any(
        isinstance(e, nats.errors.AuthorizationError) or "authorization violation" in str(e).lower()
        for e in [*refusals, exc]
    ):
        who = f"user {bus.username!r}" if bus.username else "a client without a user name"
        return BusUnavailable(
            f"NATS at {servers} refused {who}: authorization violation (check "
            "ingest.bus.username and the password in ingest.bus.password_file)"
        )
    if isinstance(last, ssl.SSLError):
        return BusUnavailable(
            f"TLS with NATS at {servers} failed: {getattr(last, 'reason', None) or last} "
            "(check ingest.bus.tls: the CA must be the one that signed the servers' certificates)"
        )
    reason = str(last) or type(last).__name__
    if isinstance(last, TimeoutError) and not refusals:
        reason = f"none within {bound:g} s"
    return BusUnavailable(f"no NATS server answers at {servers} (ingest.bus.servers): {reason}")


def _refused(path: Path, key: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(str(path), f"ingest.bus.{key}", message)])
