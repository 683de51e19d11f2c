"""The ``villagewatch`` command and its groups; each group's commands live in a module of their
own (roles, alerts, config, edge, vision, users, broker, tune, db)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Sensor ingestion and alerting for village governance.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Work with config files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
edge_app = typer.Typer(
    help="The edge agent: local devices to the central broker, through a disk outbox.",
    invoke_without_command=True,
)
app.add_typer(edge_app, name="edge")
alerts_app = typer.Typer(help="The alert engine, and alerts from a terminal.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
vision_app = typer.Typer(
    help="Camera vision for maintainers: check a camera's view, measure a detector.",
    no_args_is_help=True,
)
app.add_typer(vision_app, name="vision")
users_app = typer.Typer(help="Users of the API and console.", no_args_is_help=True)
app.add_typer(users_app, name="users")
broker_app = typer.Typer(
    help="The MQTT broker: its identities, passwords and ACL.", no_args_is_help=True
)
app.add_typer(broker_app, name="broker")
tune_app = typer.Typer(
    help="For maintainers: try detector settings on stored history before applying them.",
    no_args_is_help=True,
)
app.add_typer(tune_app, name="tune")
db_app = typer.Typer(
    help="The relational stores' schemas (SQLite files or PostgreSQL).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
