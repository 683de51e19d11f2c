"""Detect's store on both engines (an SQLite file, PostgreSQL's shared ``detect`` schema): the
same calls, the same answers; writers at once never make a reader skip a transition; a
database of the previous schema (checked-in fixtures) is upgraded in place with its data
kept; the alert engine reads detect's schema and is woken by its commits."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from villagewatch.alerts import AlertDatabase
from villagewatch.alerts.engine import AlertEngine
from villagewatch.cli import app
from villagewatch.config import AlertsSettings
from villagewatch.contract import DeadLetter, RejectReason
from villagewatch.db.database import Location, PostgresLocation, open_database, peek_version
from villagewatch.db.transition_log import WAKE_CHANNEL, DatabaseTransitionLog
from villagewatch.detect.store import MIGRATIONS, DetectStore
from villagewatch.transitions import AlertKey, LoggedTransition, Severity, Transition
from villagewatch_dev.servers import Postgres

DATA = Path(__file__).parents[1] / "db" / "data"
NOW = 1_795_000_000_000
LEVEL = AlertKey("water_level", "v", "wl-1", "level")
DOOR = AlertKey("lock", "v", "lock-1", "forced_open")
OLD_IDS = [  # the transitions of the v2 fixtures, in the order they were recorded
    "water_level/v/wl-1/level#fire@1795000000000",
    "lock/v/lock-1/forced_open#fire@1795000000500",
    "water_level/v/wl-1/level#update@1795000060000",
]


def logged(where: Location, cursor: int = 0) -> list[LoggedTransition]:
    db = open_database(where, name="detect", migrations=MIGRATIONS, busy_timeout_s=5)
    try:
        got = DatabaseTransitionLog(db).read_after(cursor, 100_000)
    finally:
        db.close()
    assert all(isinstance(r, LoggedTransition) for r in got)
    return [r for r in got if isinstance(r, LoggedTransition)]


def test_state_transitions_firing_and_dead_letters_work_alike_on_both_engines(
    relational: Callable[[str], Location],
) -> None:
    where = relational("detect")
    poison = DeadLetter(NOW * 1_000_000, "vw/v1/x", RejectReason.BAD_JSON, "not JSON", b"\x00{")

    async def go() -> None:
        store = DetectStore(where, reserve_bytes=0)
        fire = Transition(DOOR, "fire", Severity.RED, NOW, "Door forced", needs_close=True)
        rise = Transition(LEVEL, "fire", Severity.BLUE, NOW, "Water up", {"cm": 205.5})
        assert await store.commit({"lock/v/lock-1": '{"open": true}'}, [fire, rise], [poison]) == 2
        assert await store.commit({"lock/v/lock-1": '{"open": false}'}, [fire]) == 0
        clear = Transition(LEVEL, "clear", Severity.BLUE, NOW + 1, "Water down")
        assert await store.commit({}, [clear]) == 1
        assert store.load_states() == [("lock/v/lock-1", {"open": False})]
        firing = await store.firing()
        assert [(a["key"], a["severity"], a["needs_close"]) for a in firing] == [
            (str(DOOR), "red", 1)
        ]
        assert await store.dead_letters() == [poison]
        await store.close()

    asyncio.run(go())
    assert [r.transition.action for r in logged(where)] == ["fire", "fire", "clear"]


def test_writers_at_once_never_make_a_reader_skip_a_transition(
    relational: Callable[[str], Location],
) -> None:
    """Four detect stores (four connections, as four processes) commit while a reader follows
    the log after its cursor: it sees every transition once, in order of position — no row
    becomes visible behind the cursor with a lower position."""
    where = relational("detect")
    open_database(where, name="detect", migrations=MIGRATIONS, busy_timeout_s=5).close()
    writers, commits, per_commit = 4, 25, 3
    total = writers * commits * per_commit
    done = threading.Event()

    def write(w: int) -> None:
        async def go() -> None:
            store = DetectStore(where, reserve_bytes=0)
            for c in range(commits):
                ts = [
                    Transition(AlertKey("water_level", "v", f"wl-{w}", "level"), "update",
                               Severity.BLUE, NOW + c * per_commit + i, f"{w}/{c}/{i}")
                    for i in range(per_commit)
                ]  # fmt: skip
                await store.commit({f"wl-{w}": str(c)}, ts)
            await store.close()

        asyncio.run(go())

    seen: list[LoggedTransition] = []

    def read() -> None:
        db = open_database(where, name="detect", migrations=MIGRATIONS, busy_timeout_s=5)
        log = DatabaseTransitionLog(db)
        cursor = 0
        while len(seen) < total:
            batch = [r for r in log.read_after(cursor, 7) if isinstance(r, LoggedTransition)]
            seen.extend(batch)
            cursor = batch[-1].position if batch else cursor
            if not batch and done.is_set() and not log.read_after(cursor, 1):
                break  # everything committed and read
        db.close()

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert len(seen) == total == len({r.id for r in seen}), "none skipped, none twice"
    positions = [r.position for r in seen]
    assert positions == sorted(positions)


def _settings(tmp_path: Path, relational: str) -> Path:
    (tmp_path / "v.yaml").write_text("id: v\n")
    path = tmp_path / "settings.yaml"
    path.write_text(f"villages: [v.yaml]\napi: {{state_dir: api}}\n{relational}\n")
    return path


def _kept(where: Location) -> None:
    """The fixture's state, transitions, firing alert and dead letter, readable by today's
    code; a new transition goes after the old ones."""

    async def go() -> None:
        store = DetectStore(where, reserve_bytes=0)
        assert store.load_states() == [("water_level/v/wl-1", {"level": 205.5, "band": "blue"})]
        assert [a["key"] for a in await store.firing()] == ["lock/v/lock-1/forced_open"]
        (dead,) = await store.dead_letters()
        assert (dead.reason, dead.payload) == (RejectReason.UNKNOWN_DEVICE, b"\x00{not json")
        new = Transition(LEVEL, "clear", Severity.YELLOW, NOW + 120_000, "Water down")
        assert await store.commit({}, [new]) == 1
        await store.close()

    asyncio.run(go())
    records = logged(where)
    assert [r.id for r in records][:3] == OLD_IDS
    assert records[0].transition.message_key == "level.near"
    assert len(records) == 4 and records[3].transition.action == "clear"
    assert [r.position for r in records] == sorted({r.position for r in records})


def test_an_sqlite_file_of_the_previous_schema_is_upgraded_by_opening(tmp_path: Path) -> None:
    path = tmp_path / "detect.db"
    shutil.copy(DATA / "detect-v2.db", path)
    _kept(path)
    assert [r.position for r in logged(path)][:3] == [1, 2, 3], "the rowids, kept as positions"
    assert peek_version(path) == len(MIGRATIONS)


def test_an_sqlite_file_of_the_previous_schema_is_upgraded_by_db_upgrade(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    shutil.copy(DATA / "detect-v2.db", tmp_path / "var" / "detect.db")
    done = CliRunner().invoke(app, ["db", "upgrade", "--config", str(_settings(tmp_path, ""))])
    assert done.exit_code == 0, done.output
    assert f"detect ({tmp_path / 'var' / 'detect.db'}): version 2, applied:\n  3: " in done.output
    assert peek_version(tmp_path / "var" / "detect.db") == len(MIGRATIONS)
    _kept(tmp_path / "var" / "detect.db")


def test_a_postgres_schema_of_the_previous_version_is_upgraded_by_db_upgrade(
    tmp_path: Path, shared_postgres: Postgres, pg_dsn: str
) -> None:
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg_dsn, "-f",
         str(DATA / "detect-v2.postgres.sql")],
        check=True, capture_output=True,
    )  # fmt: skip
    where = PostgresLocation(pg_dsn, "detect")
    assert peek_version(where) == 2
    settings = _settings(tmp_path, f"relational: {{kind: postgres, dsn: '{pg_dsn}'}}")
    done = CliRunner().invoke(app, ["db", "upgrade", "--config", str(settings)])
    assert done.exit_code == 0, done.output
    assert "detect (schema detect of PostgreSQL database" in done.output
    assert "version 2, applied:\n  3: transitions get an explicit position" in done.output
    assert peek_version(where) == len(MIGRATIONS)
    _kept(where)


def test_the_alert_engine_reads_detects_postgres_schema_once_even_after_a_restart(
    tmp_path: Path, pg_dsn: str
) -> None:
    where = PostgresLocation(pg_dsn, "detect")

    def record(transitions: list[Transition]) -> None:
        async def go() -> None:
            store = DetectStore(where)
            await store.commit({}, transitions)
            await store.close()

        asyncio.run(go())

    settings = AlertsSettings(state_path=tmp_path / "alerts.db")
    store = AlertDatabase(settings.state_path)
    engine = AlertEngine(settings=settings, store=store, sources=[where])
    assert engine.pump(NOW) == 0, "the engine may start before any detect: the schema is made"
    record([Transition(LEVEL, "fire", Severity.BLUE, NOW, "up")])
    assert engine.pump(NOW) == 1
    assert engine.pump(NOW) == 0
    engine.close()
    record([Transition(LEVEL, "update", Severity.ORANGE, NOW + 1, "higher")])
    restarted = AlertEngine(settings=settings, store=store, sources=[where])
    assert restarted.pump(NOW) == 1
    restarted.close()
    (alert,) = store.recent(10)
    assert alert.severity is Severity.ORANGE
    store.close()


def test_a_commit_with_new_transitions_wakes_a_listener(pg_dsn: str) -> None:
    from villagewatch.db.wakeup import listen

    where = PostgresLocation(pg_dsn, "detect")

    async def go() -> None:
        store = DetectStore(where)
        woken = asyncio.Event()
        task = asyncio.create_task(listen(where, WAKE_CHANNEL, woken))
        await asyncio.wait_for(woken.wait(), 30)  # listening: set once on connecting
        woken.clear()
        await store.commit({}, [Transition(LEVEL, "fire", Severity.BLUE, NOW, "up")])
        await asyncio.wait_for(woken.wait(), 30)
        task.cancel()
        await store.close()

    asyncio.run(go())


def test_detect_files_listed_for_the_alert_engine_on_postgres_are_refused_in_words(
    tmp_path: Path,
) -> None:
    from villagewatch.config import load_settings
    from villagewatch.errors import ConfigError

    relational = "relational: {kind: postgres, dsn: 'host=127.0.0.1 dbname=vw'}"
    assert load_settings(_settings(tmp_path, relational)).alerts.detect_state_paths
    listed = f"{relational}\nalerts: {{detect_state_paths: [a.db, b.db]}}"
    with pytest.raises(ConfigError) as refused:
        load_settings(_settings(tmp_path, listed))
    assert "Remove alerts.detect_state_paths" in str(refused.value)


def test_a_lost_wake_up_only_delays_a_transition_to_the_next_poll(
    tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No NOTIFY reaches the engine (its listener never connects): the poll finds it."""
    from unittest.mock import AsyncMock

    monkeypatch.setattr("villagewatch.db.wakeup.listen", AsyncMock())
    where = PostgresLocation(pg_dsn, "detect")
    settings = AlertsSettings(state_path=tmp_path / "alerts.db", poll_s=0.2)
    store = AlertDatabase(settings.state_path)

    async def go() -> None:
        engine = AlertEngine(settings=settings, store=store, sources=[where])
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        detect = DetectStore(where)
        await detect.commit({}, [Transition(LEVEL, "fire", Severity.BLUE, NOW, "up")])
        for _ in range(300):
            if store.recent(10):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await task
        await detect.close()

    asyncio.run(go())
    assert [a.kind for a in store.recent(10)] == ["level"]
    store.close()


def test_detect_processes_sharing_one_database_keep_their_own_disk_state(
    relational: Callable[[str], Location],
) -> None:
    """Two detect processes (villages v and w) on one database: one's data disk alert is not
    overwritten by the other's state, so its restart does not fire it again."""
    from tests.unit.detect.test_engine import VILLAGE
    from villagewatch.detect.engine import DetectEngine
    from villagewatch.detect.store import dump_states

    where = relational("detect")
    other = VILLAGE.model_copy(update={"id": "w"})
    full, total = 1 << 20, 100 << 30

    async def go() -> None:
        store = DetectStore(where, reserve_bytes=0)
        a, b = DetectEngine([VILLAGE], now_ms=NOW), DetectEngine([other], now_ms=NOW)
        fired = a.disk("/data", ["/data/vw"], full, total, NOW)
        assert [t.action for t in fired] == ["fire"]
        await store.commit(dump_states(a.dirty_states()), fired)
        b_fired = b.disk("/data", ["/data/vw"], full, total, NOW)
        b_fired += b.disk("/data", ["/data/vw"], total // 2, total, NOW + 1)
        await store.commit(dump_states(b.dirty_states()), b_fired)
        restarted = DetectEngine([VILLAGE], now_ms=NOW)
        restarted.restore(store.load_states(), now_ms=NOW)
        assert restarted.disk("/data", ["/data/vw"], full, total, NOW + 2) == []
        await store.close()

    asyncio.run(go())


def test_a_disk_state_saved_under_the_old_owner_name_is_still_restored() -> None:
    from tests.unit.detect.test_engine import VILLAGE
    from villagewatch.detect.engine import DetectEngine

    restarted = DetectEngine([VILLAGE], now_ms=NOW)
    assert restarted.restore([("@disks", {"/data": "red"})], now_ms=NOW) == 1
    assert restarted.disk("/data", ["/data/vw"], 1 << 20, 100 << 30, NOW) == []
