"""Read a YAML config file and validate it into a typed model, with errors a maintainer can act on.

Every problem is reported as a :class:`~villagewatch.errors.ConfigIssue` naming
the file, the line, the path inside the file (``devices[3].kind``) and the
reason — all problems at once, not just the first.

This is the one place villagewatch reads YAML, and it reads it plainly: anchors
and aliases are refused (a few hundred bytes of nested aliases expand into
billions of values), and so are documents of more than :data:`MAX_VALUES`
values or nested more than :data:`MAX_DEPTH` deep — each while the document
is composed, before anything grows. A value Python cannot hold (an integer of
thousands of digits, the 45th of a month) is an issue on its line too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from villagewatch.errors import ConfigError, ConfigIssue

__all__ = ["MAX_DEPTH", "MAX_VALUES", "YamlDocument", "format_path", "read_yaml"]

MAX_VALUES = 100_000
"""Most values (keys, scalars, lists and mappings) in one file: a village of a thousand
devices has some tens of thousands."""
MAX_DEPTH = 64
"""Deepest nesting in one file (villagewatch's own files nest less than ten deep)."""

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]
_SECRET_HINTS = ("password", "token", "secret")
_SCHEMA_PART = re.compile(r"[a-z-]+\[.*\]|[A-Z][A-Za-z0-9]*")
"""How pydantic names a validator or a union member in an error's location
(``function-after[_ordered(), LevelConfig]``, ``literal[False]``, a model member by its
class: ``RainConfig``); keys of our files are identifiers and never look like that (a key
of the file that does is kept: :meth:`YamlDocument._as_written` checks the data)."""
_OUR_MODEL = re.compile(r" or instance of \w+")
"""Where pydantic's messages name our model classes (words a user never wrote)."""


def _without_off_switches(errors: Sequence[Any]) -> list[Any]:
    """A section that is settings or ``false`` (off) fails both ways when its settings are
    wrong; the user meant the settings, so the ``false`` member's error ("Input should be
    False") goes, and an error on the section itself says that false is allowed too."""

    def member(err: Any) -> tuple[Loc, str] | None:
        for i, part in enumerate(err["loc"]):
            if isinstance(part, str) and _SCHEMA_PART.fullmatch(part):
                return tuple(err["loc"][:i]), part
        return None

    members = [member(err) for err in errors]
    settings = {m[0] for m in members if m is not None and not m[1].startswith("literal[")}
    kept = []
    for err, m in zip(errors, members, strict=True):
        if m is not None and m[1] == "literal[False]" and m[0] in settings:
            continue
        # a section given as something else than settings (`level: high`): false is allowed too
        wrong_type = err["type"] in ("model_type", "dict_type", "model_attributes_type")
        if m is not None and m[0] in settings and wrong_type:
            off = any(n is not None and n[0] == m[0] and n[1] == "literal[False]" for n in members)
            kept.append({**err, "off_switch": off})
        else:
            kept.append(err)
    return kept


def format_path(loc: Sequence[str | int]) -> str:
    """``("devices", 3, "kind")`` → ``devices[3].kind``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class YamlDocument:
    """A parsed YAML file that remembers the line of every key and item."""

    def __init__(self, file: str, data: Any, lines: dict[Loc, int]) -> None:
        self.file = file
        self.data = data
        self._lines = lines

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Line of the deepest part of ``loc`` that exists in the file."""
        parts = tuple(loc)
        while parts:
            if parts in self._lines:
                return self._lines[parts]
            parts = parts[:-1]
        return self._lines.get((), None)

    def issue(self, loc: Sequence[str | int], message: str) -> ConfigIssue:
        """A :class:`ConfigIssue` located at ``loc`` in this file."""
        return ConfigIssue(self.file, format_path(loc), message, self.line_of(loc))

    def validate(
        self, model: type[M], *, data: Any = None, loc: Loc = (), context: Any = None
    ) -> M:
        """Validate (part of) the document into ``model``; ConfigError lists every issue.
        ``context`` is pydantic's validation context (paths: :class:`~.paths.PathContext`)."""
        target = self.data if data is None else data
        try:
            return model.model_validate(target, context=context)
        except ValidationError as exc:
            errors = _without_off_switches(exc.errors())
            raise ConfigError([self._issue_of(loc, err) for err in errors]) from None

    def _issue_of(self, prefix: Loc, err: Any) -> ConfigIssue:
        loc: Loc = prefix + tuple(p for p in err["loc"] if isinstance(p, str | int))
        loc = self._as_written(loc)
        message = _OUR_MODEL.sub("", str(err["msg"]).removeprefix("Value error, "))
        if err.get("off_switch"):
            message += ", or false to turn it off"
        hidden = any(hint in str(part).lower() for part in loc for hint in _SECRET_HINTS)
        scalar = isinstance(err.get("input"), str | int | float | bool)
        if err["type"] not in ("missing", "extra_forbidden") and scalar and not hidden:
            shown = repr(err.get("input"))
            message += f" (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
        if err["type"] == "extra_forbidden":
            message = "unknown key; check its spelling and the config reference"
        return self.issue(loc, message)

    def _as_written(self, loc: Loc) -> Loc:
        """``loc`` without the parts pydantic adds that are not in the file: the tag of a
        union member (``channels.duty.dingtalk.secret_file`` is written as
        ``channels.duty.secret_file``, with ``kind: dingtalk`` beside it), and the names of
        its validators and union members (``function-after[_ordered(), LevelConfig]``)."""
        out: list[str | int] = []
        node: Any = self.data
        for part in loc:
            if isinstance(node, dict) and part not in node and part in node.values():
                continue  # the tag (`kind: dingtalk`) pydantic names the union member by
            written = isinstance(node, dict) and part in node
            if isinstance(part, str) and _SCHEMA_PART.fullmatch(part) and not written:
                continue  # a validator or union member, not a key of the file
            out.append(part)
            node = node.get(part) if isinstance(node, dict) else (
                node[part] if isinstance(node, list) and isinstance(part, int)
                and 0 <= part < len(node) else None
            )  # fmt: skip
        return tuple(out)


def read_yaml(path: Path, *, shown_as: str | None = None) -> YamlDocument:
    """Parse ``path``; syntax errors, duplicate keys and unreadable files raise ConfigError."""
    name = shown_as or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(name, "", f"cannot read the file: {exc}")]) from None
    try:  # _PlainLoader raises ConfigError itself for what it refuses
        node, data = _parse(text, name)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(name, "", f"not valid YAML: {problem}", line)]) from None
    lines: dict[Loc, int] = {}
    issues: list[ConfigIssue] = []
    if node is not None:
        _index(node, (), lines, issues, name)
    if issues:
        raise ConfigError(issues)
    return YamlDocument(name, data if data is not None else {}, lines)


def _parse(text: str, name: str) -> tuple[yaml.Node | None, Any]:
    loader = _PlainLoader(text, name)  # checks the characters already
    try:
        node = loader.get_single_node()
        return node, None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


class _PlainLoader(yaml.SafeLoader):
    """YAML's safe subset without aliases, and bounded in size and depth while composing."""

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self._file = file
        self._values = 0
        self._depth = 0

    def _refuse(self, message: str, mark: Any) -> ConfigError:
        line = mark.line + 1 if mark is not None else None
        return ConfigError([ConfigIssue(self._file, "", message, line)])

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped stub
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise self._refuse(
                f"YAML aliases (*{event.anchor}) are not allowed in villagewatch files; "
                "write the values out",
                mark,
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise self._refuse(
                f"YAML anchors (&{anchor}) and aliases are not allowed in villagewatch "
                "files; write the values out",
                mark,
            )
        self._values += 1
        if self._values > MAX_VALUES:
            raise self._refuse(
                f"more than {MAX_VALUES} values; a villagewatch file is far smaller", mark
            )
        if self._depth >= MAX_DEPTH:
            raise self._refuse(f"nested more than {MAX_DEPTH} deep", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except ValueError as exc:
            # int("1" * 5000), date(2026, 13, 45): the value, not the syntax, is wrong
            reason = "too many digits" if "digits" in str(exc) else str(exc)
            raise self._refuse(f"this value cannot be read: {reason}", node.start_mark) from None


def _index(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], issues: list[ConfigIssue], file: str
) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                issues.append(
                    ConfigIssue(
                        file,
                        format_path((*loc, key)),
                        f"duplicate key (first on line {seen[key]}); YAML would keep only the last",
                        line,
                    )
                )
            seen[key] = line
            _index(value_node, (*loc, key), lines, issues, file)
            lines[(*loc, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*loc, i), lines, issues, file)
