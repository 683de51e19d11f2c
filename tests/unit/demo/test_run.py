"""`villagewatch demo` refuses a busy port with a sentence, not a traceback."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from villagewatch.cli import app


def test_demo_on_a_busy_api_port_says_so_and_exits_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["demo", "--no-view", "--api-port", str(port)])
    assert result.exit_code == 1
    assert (
        f"port {port} on 127.0.0.1 is already in use; choose another with --api-port"
        in result.output
    )
