"""The console's page is well formed: every element it opens is closed where it should be (a
lost ``</main>`` once hid the alert detail inside another view)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from villagewatch.api.app import CONSOLE_DIR

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class _Nesting(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []
        self.views: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        element_id = dict(attrs).get("id")
        if element_id and tag in ("main", "aside"):
            self.views[element_id] = list(self.open)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            line = self.getpos()[0]
            self.problems.append(f"line {line}: </{tag}> closes <{self.open[-1:]}>")
            return
        self.open.pop()


def test_every_element_of_the_console_page_is_closed_and_views_are_side_by_side() -> None:
    page = _Nesting()
    page.feed((Path(CONSOLE_DIR) / "index.html").read_text(encoding="utf-8"))
    page.close()
    assert page.problems == [] and page.open == []
    # each view and the detail panel sit directly in the app, none inside another
    parents = {name: where[-1] for name, where in page.views.items()}
    assert set(parents.values()) == {"div"}, parents
