"""The config version store: numbers per file, diffs, the required note, rollbacks as new
versions, two writers at once, and the one apply path (check, write, record)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from villagewatch.db.database import Location
from villagewatch.versions import (
    NOTE_MAX,
    ON_DISK,
    Applied,
    Refused,
    UnknownVersion,
    VersionRefused,
    VersionStore,
    apply_village,
    village_file,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def store(relational: Callable[[str], Location]) -> Iterator[VersionStore]:
    """An empty version store in a temp dir, or in PostgreSQL."""
    s = VersionStore(relational("config_versions"))
    yield s
    s.close()


def test_versions_are_numbered_per_file_from_one(store: VersionStore) -> None:
    for text in ("a: 1\n", "a: 2\n"):
        store.record("village:x", text, who="wang", note="tune", at_ms=1)
    other = store.record("village:y", "b: 1\n", who="li", note="first", at_ms=2)
    assert [v.n for v in store.versions("village:x")] == [2, 1], "newest first"
    assert other.n == 1


def test_a_version_keeps_who_when_why_text_and_the_diff_to_the_one_before(
    store: VersionStore,
) -> None:
    store.record("village:x", "warning: 150\nalarm: 200\n", who="wang", note="start", at_ms=10)
    store.record("village:x", "warning: 180\nalarm: 200\n", who="li", note=" flood ", at_ms=20)
    v = store.version("village:x", 2)
    assert (v.summary.who, v.summary.at_ms, v.summary.note) == ("li", 20, "flood")
    assert v.text == "warning: 180\nalarm: 200\n"
    assert "-warning: 150\n+warning: 180\n" in v.diff and "village:x v1" in v.diff
    assert store.version("village:x", 1).diff.startswith("--- /dev/null")
    assert "-warning: 150\n+warning: 180\n" in store.diff("village:x", 1)
    assert "+warning: 150\n" in store.diff("village:x", 2, 1)


@pytest.mark.parametrize(
    ("note", "says"),
    [
        pytest.param("", "a note is required", id="empty"),
        pytest.param(" \n\t", "a note is required", id="blank"),
        pytest.param("x" * (NOTE_MAX + 1), f"at most {NOTE_MAX}", id="too-long"),
        pytest.param("raise\nlevel", "one line", id="two-lines"),
        pytest.param("\x1b[2Jraise", "one line", id="terminal-escape"),
    ],
)
def test_a_version_without_a_usable_note_is_refused_and_nothing_is_kept(
    store: VersionStore, note: str, says: str
) -> None:
    with pytest.raises(VersionRefused, match=says):
        store.record("village:x", "a: 1\n", who="wang", note=note, at_ms=1)
    with pytest.raises(VersionRefused, match="who"):
        store.record("village:x", "a: 1\n", who=" ", note="fine", at_ms=1)
    assert store.versions("village:x") == []


def test_an_unknown_version_is_named(store: VersionStore) -> None:
    store.record("village:x", "a: 1\n", who="wang", note="start", at_ms=1)
    with pytest.raises(UnknownVersion, match="village:x has no version 7"):
        store.version("village:x", 7)
    with pytest.raises(UnknownVersion, match="no versions yet"):
        store.diff("village:y", 1)


def test_the_file_on_disk_is_kept_first_and_a_hand_edit_before_the_next(
    store: VersionStore,
) -> None:
    disk = ["original\n"]
    store.record("village:x", "one\n", who="wang", note="a", at_ms=1, on_disk=lambda: disk[0])
    disk[0] = "one\nby hand\n"
    store.record("village:x", "two\n", who="wang", note="b", at_ms=2, on_disk=lambda: disk[0])
    found = store.versions("village:x")
    assert [(v.n, v.who) for v in found] == [(4, "wang"), (3, ON_DISK), (2, "wang"), (1, ON_DISK)]
    assert store.version("village:x", 1).text == "original\n"
    assert "+by hand\n" in store.version("village:x", 3).diff
    assert "-by hand\n" in store.version("village:x", 4).diff


def test_a_failed_write_of_the_file_records_nothing(store: VersionStore) -> None:
    def broken() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.record("village:x", "a\n", who="wang", note="a", at_ms=1, then=broken)
    assert store.versions("village:x") == []


def test_two_writers_at_once_get_distinct_numbers(relational: Callable[[str], Location]) -> None:
    """Two stores on one file (as two processes would be), writing together: every number
    once, and each diff is against the version really before it."""
    path = relational("config_versions")
    stores = [VersionStore(path), VersionStore(path)]
    try:

        def write(i: int) -> int:
            s = stores[i % 2]
            return s.record("village:x", f"v: {i}\n", who=f"u{i}", note="race", at_ms=i).n

        with ThreadPoolExecutor(8) as pool:
            numbers = list(pool.map(write, range(40)))
        assert sorted(numbers) == list(range(1, 41))
        for n in range(2, 41):
            before = stores[0].version("village:x", n - 1).text
            assert f"-{before}" in stores[0].version("village:x", n).diff
    finally:
        for s in stores:
            s.close()


@pytest.fixture
def village(tmp_path: Path) -> Path:
    """A copy of the demo village's file."""
    target = tmp_path / "dongcun.yaml"
    shutil.copy(REPO / "config/demo/dongcun.yaml", target)
    return target


def test_a_rollback_is_a_new_version_with_the_old_text(store: VersionStore, village: Path) -> None:
    original = village.read_text(encoding="utf-8")
    changed = original.replace("name: 石桥水位计", "name: 新水位计", 1)
    applied = apply_village(store, village, changed, village="dongcun", who="wang",
                            note="rename", at_ms=1)  # fmt: skip
    assert isinstance(applied, Applied) and applied.version.n == 2
    assert village.read_text(encoding="utf-8") == changed
    back = apply_village(store, village, store.version(village_file("dongcun"), 1).text,
                         village="dongcun", who="li", note="undo", at_ms=2,
                         rollback_of=1)  # fmt: skip
    assert isinstance(back, Applied) and back.version.n == 3
    assert back.version.rollback_of == 1
    assert village.read_text(encoding="utf-8") == original
    assert [v.n for v in store.versions(village_file("dongcun"))] == [3, 2, 1]


def test_an_invalid_text_is_refused_with_issues_and_nothing_changes(
    store: VersionStore, village: Path
) -> None:
    before = village.read_text(encoding="utf-8")
    refused = apply_village(store, village, before + "bogus: 1\n", village="dongcun",
                            who="wang", note="oops", at_ms=1)  # fmt: skip
    assert isinstance(refused, Refused)
    (issue,) = refused.issues
    assert issue.path == "bogus" and issue.file == str(village), "named after the file"
    other = apply_village(store, village, before.replace("id: dongcun", "id: xicun", 1),
                          village="dongcun", who="wang", note="oops", at_ms=1)  # fmt: skip
    assert isinstance(other, Refused) and "village 'xicun'" in other.issues[0].message
    assert village.read_text(encoding="utf-8") == before
    assert store.versions(village_file("dongcun")) == []


def test_a_text_made_from_the_last_version_inside_the_transaction(store: VersionStore) -> None:
    """The text may be built from the last version's text and the new number, so two writers
    at once each build on the other's (camera zones: the agent's desired config)."""
    seen: list[tuple[str | None, int]] = []

    def add_line(previous: str | None, n: int) -> str:
        seen.append((previous, n))
        return (previous or "") + f"line {n}\n"

    store.record("agent:v/a", add_line, who="wang", note="one", at_ms=1)
    store.record("agent:v/a", add_line, who="li", note="two", at_ms=2)
    assert seen == [(None, 1), ("line 1\n", 2)]
    assert store.version("agent:v/a", 2).text == "line 1\nline 2\n"
