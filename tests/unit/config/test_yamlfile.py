"""Config files are read without YAML's expansions: aliases, runaway sizes and values Python
cannot hold are refused with a sentence and a line, never an exception or a memory blow-up."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from villagewatch.config.yamlfile import read_yaml
from villagewatch.errors import ConfigError

MAX_VALUES = 100_000  # the documented limits (docs/config.md)
MAX_DEPTH = 64
LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _issues(tmp_path: Path, text: str) -> list[tuple[int | None, str]]:
    path = tmp_path / "v.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    return [(i.line, i.message) for i in caught.value.issues]


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        pytest.param(
            LAUGHS, 1, "YAML anchors (&a) and aliases are not allowed", id="billion-laughs"
        ),
        pytest.param("a: 1\nb: *x\n", 2, "YAML aliases (*x) are not allowed", id="alias"),
        pytest.param("base: &b {x: 1}\nc:\n  <<: *b\n", 1, "anchors (&b)", id="merge-key"),
        pytest.param(
            "a: [" + "1," * MAX_VALUES + "1]\n", 1, f"more than {MAX_VALUES} values", id="wide"
        ),
        pytest.param("a: " + "[" * 5000 + "]" * 5000, 1, f"more than {MAX_DEPTH} deep", id="deep"),
        pytest.param("a: 1\nb: " + "1" * 5000 + "\n", 2, "too many digits", id="huge-int"),
        pytest.param("when: 2026-13-45\n", 1, "month must be in 1..12", id="bad-date"),
        pytest.param("\x1f", None, "not valid YAML: unacceptable character", id="control"),
    ],
)
def test_expansions_and_runaway_documents_are_refused_with_a_line(
    tmp_path: Path, text: str, line: int, says: str
) -> None:
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (issue,) = _issues(tmp_path, text)
    assert issue[0] == line
    assert says in issue[1]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb < 100_000


def test_an_ordinary_file_reads_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text("a: 1\nb:\n  - {c: 2026-11-21}\n", encoding="utf-8")
    doc = read_yaml(path)
    assert doc.data == {"a": 1, "b": [{"c": __import__("datetime").date(2026, 11, 21)}]}
    assert doc.line_of(("b", 0, "c")) == 3
