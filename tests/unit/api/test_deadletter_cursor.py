"""The dead letters' paging cursor survives a JavaScript client: nanosecond times are past
the exact range of a JSON number there (2**53), so the cursor is a string of digits."""

from __future__ import annotations

import json

from tests.unit.api.conftest import Client
from villagewatch.api.context import ApiContext
from villagewatch.contract import DeadLetter, RejectReason
from villagewatch_dev.testing import MemoryStore


def test_paging_as_javascript_reads_numbers_repeats_and_skips_nothing(ctx: ApiContext) -> None:
    """Letters 1 ns apart (as a busy broker's can be), read with every JSON number a double as
    the console's fetch().json() reads them: each page follows the last, none twice."""
    store = ctx.store
    assert isinstance(store, MemoryStore)
    t = 1_796_528_025_606_895_613
    store.letters += [
        DeadLetter(t + i, "vw/v1/dongcun/wl-bridge/telemetry", RejectReason.BAD_JSON,
                   "not JSON", f"letter {i}".encode()) for i in range(7)
    ]  # fmt: skip
    op = Client(ctx).as_("op")
    seen: list[str] = []
    before = ""
    for _ in range(10):
        page = json.loads(op.get(f"/api/dead-letters?limit=3{before}").text, parse_int=float)
        seen += [d["payload"] for d in page["letters"]]
        if page["next_before"] is None:
            break
        assert isinstance(page["next_before"], str) and page["next_before"].isdigit()
        before = f"&before={page['next_before']}"
    assert seen == [f"letter {i}" for i in range(6, -1, -1)]
