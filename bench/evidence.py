"""Evidence pictures saved and read back: the folder and PostgreSQL's ``evidence`` schema, in the
same run (prints figures; not a test).

One thread saves PICTURES JPEG-shaped pictures of ``--kb`` KB each (the edge's snapshots are
20-60 KB) through ``Evidence.save`` as one ingester does, into a fresh folder (fsync per
picture) and into a fresh PostgreSQL (one transaction per picture), then reads each back by id
as an API node does. Reports pictures/s and MB/s both ways, and checks every byte came back.

    .venv/bin/python bench/evidence.py
    .venv/bin/python bench/evidence.py --pictures 2000 --kb 60
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from villagewatch.db.database import PostgresLocation
from villagewatch.store.evidence import Evidence, EvidenceFolder, EvidenceTable
from villagewatch_dev.servers import Postgres


def picture(n: int, kb: int) -> bytes:
    """A picture of ``kb`` KB that passes the JPEG check (SOI … EOI), unique per ``n``."""
    body = n.to_bytes(8, "big") + os.urandom(kb * 1024 - 13)
    return b"\xff\xd8\xff" + body + b"\xff\xd9"


def run(name: str, store: Evidence, pictures: list[bytes]) -> None:
    """Save every picture, read each back, print the rates."""
    started = time.perf_counter()
    for n, jpeg in enumerate(pictures):
        store.save("dongcun", f"cam-{n % 20}", f"ev-{n}", jpeg)
    saved_s = time.perf_counter() - started
    started = time.perf_counter()
    for n, jpeg in enumerate(pictures):
        assert store.picture("dongcun", f"cam-{n % 20}", f"ev-{n}") == jpeg, "not read back"
    read_s = time.perf_counter() - started
    mb = sum(len(p) for p in pictures) / 1e6
    print(
        f"| {name} | {len(pictures)} | {len(pictures) / saved_s:,.0f} | {mb / saved_s:,.1f} "
        f"| {len(pictures) / read_s:,.0f} | {mb / read_s:,.1f} |"
    )


def main() -> None:
    """Parse the options and run the folder, then PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", type=int, default=500)
    parser.add_argument("--kb", type=int, default=40)
    args = parser.parse_args()
    pictures = [picture(n, args.kb) for n in range(args.pictures)]
    print("| store | pictures | saved/s | saved MB/s | read/s | read MB/s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run("folder (fsync each)", EvidenceFolder(root / "evidence"), pictures)
        server = Postgres(root / "pg").start()
        try:
            dsn = server.create_database("bench")
            table = EvidenceTable(PostgresLocation(dsn, "evidence"), busy_timeout_s=10)
            run("PostgreSQL (a transaction each)", table, pictures)
            table.close()
        finally:
            server.close()


if __name__ == "__main__":
    main()
