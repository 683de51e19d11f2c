"""``villagewatch users``: users of the API and console."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from villagewatch.cli.app import users_app
from villagewatch.cli.common import (
    ConfigOption,
    deployment_of,
    exit_on,
    fail,
)


@users_app.command("add")
def users_add(
    config: ConfigOption,
    name: Annotated[str, typer.Argument(help="The name they log in with.")],
    role: Annotated[str, typer.Option(help="viewer, operator, maintainer or admin.")] = "viewer",
    place: Annotated[
        list[str] | None,
        typer.Option(
            "--place",
            help="A place they see (repeatable): town:<id>, village:<id>, grid:<village>/<grid>, "
            "or * for every place.",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input instead of asking.")
    ] = False,
) -> None:
    """Add a user of the API and console."""
    from villagewatch.api.context import open_users
    from villagewatch.api.places import Places
    from villagewatch.api.users import UserRefused, UserRole
    from villagewatch.contract import is_identifier

    deployment = deployment_of(config, uses=())
    roles = [r.value for r in UserRole]
    if role not in roles:
        fail(f"no role {role!r}; roles: {', '.join(roles)}", code=2)
    if not is_identifier(name):
        fail(f"user name {name!r} must be like [a-z0-9][a-z0-9_-]*", code=2)
    places = place or []
    known = Places(deployment.villages, dict(deployment.settings.alerts.towns))
    unknown = [p for p in places if not known.known(p)]
    if unknown or not places:
        some = ", ".join(sorted(known.nodes)[:6])
        fail(
            f"give --place with a known place (unknown: {', '.join(unknown) or 'none given'}); "
            f"places are like {some} …, or *",
            code=2,
        )
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    users = open_users(deployment)
    try:
        with exit_on(UserRefused):
            users.add(name, password, UserRole(role), places, int(time.time() * 1000))
            users.audit("cli", "add_user", f"user:{name}", {"role": role, "places": places},
                        int(time.time() * 1000))  # fmt: skip
    finally:
        users.close()
    typer.echo(f"added {role} {name} seeing {', '.join(places)}", err=True)
