"""``villagewatch broker``: the broker's identities, passwords and ACL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from villagewatch.cli.app import broker_app
from villagewatch.cli.common import (
    deployment_of,
    exit_on,
)


@broker_app.command("credentials")
def broker_credentials(
    config: Annotated[
        list[Path],
        typer.Option(
            "--config",
            "-c",
            exists=True,
            help="Settings file (see docs/config.md); repeat for each settings file whose "
            "services use the broker (one per ingester, say).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write into (created if need be).")],
    rotate: Annotated[
        list[str] | None,
        typer.Option("--rotate", help="Give this identity a new password; repeatable."),
    ] = None,
    rotate_all: Annotated[
        bool, typer.Option("--rotate-all", help="Give every identity a new password.")
    ] = False,
) -> None:
    """Write every broker identity's password, Mosquitto's password file and its ACL.

    Existing passwords in the folder are kept unless rotated; passwords are never printed.
    See docs/broker.md.
    """
    from villagewatch.broker import (
        ACL_FILE,
        PASSWORD_FILE,
        CredentialsError,
        identities_of,
        merged,
        write_credentials,
    )

    deployments = [deployment_of(c, uses=()) for c in config]
    with exit_on(CredentialsError):
        identities = merged(identities_of(d) for d in deployments)
        written = write_credentials(
            identities,
            out,
            source=", ".join(str(c) for c in config),
            rotate=rotate or (),
            rotate_all=rotate_all,
        )
    for identity in identities:
        state = "new password" if identity.name in written.new else "password kept"
        typer.echo(f"{identity.name:<24} {identity.role:<14} {state}")
    typer.echo(
        f"wrote {out / PASSWORD_FILE} and {out / ACL_FILE} (install them as mosquitto.conf's "
        "password_file and acl_file, then reload the broker) and one <identity>.password each"
    )
    if written.stale:
        typer.echo(
            f"no longer identities (the broker will refuse them): {', '.join(written.stale)}; "
            "their password files are left in place",
            err=True,
        )
