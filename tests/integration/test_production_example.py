"""The scale-out example's server files as the real programs read them: each NATS node's
config passes ``nats-server -t`` (its TLS files made by a test CA where the example puts
them), and ``systemd-analyze verify`` finds nothing to say about the units."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from villagewatch_dev.servers import _binary, make_test_tls

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "production" / "scale-out"


@pytest.mark.parametrize("node", ["n1.conf", "n2.conf", "n3.conf"])
def test_each_nats_node_config_is_valid(tmp_path: Path, node: str) -> None:
    nats = tmp_path / "etc-nats"
    shutil.copytree(EXAMPLE / "nats", nats)
    for conf in nats.glob("*.conf"):  # the example's absolute paths, moved here
        text = conf.read_text().replace("/etc/nats", str(nats))
        conf.write_text(text.replace("/var/lib/nats", str(tmp_path / "var")))
    tls = make_test_tls(nats / "tls")
    tls.cert.rename(nats / "tls" / "server.crt")
    tls.key.rename(nats / "tls" / "server.key")
    done = subprocess.run(
        [_binary("nats-server") or "nats-server", "-t", "-c", str(nats / node)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stdout + done.stderr


def test_systemd_finds_nothing_wrong_in_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    names = []
    for unit in (EXAMPLE / "systemd").glob("*@.service"):
        # an instance of the template, with a program that exists on this machine
        text = unit.read_text().replace("/opt/villagewatch/bin/villagewatch", sys.executable)
        name = unit.name.replace("@.", "@example.")
        (tmp_path / name).write_text(text)
        names.append(str(tmp_path / name))
    done = subprocess.run(
        [analyze, "verify", *names], capture_output=True, text=True, timeout=60, check=False
    )
    said = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 0 and said == [], said
