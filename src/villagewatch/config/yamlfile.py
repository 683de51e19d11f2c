"""Read a YAML config file and validate it into a typed model, with errors a maintainer can act on.

Every problem is reported as a :class:`~villagewatch.errors.ConfigIssue` naming
the file, the line, the path inside the file (``devices[3].kind``) and the
reason — all problems at once, not just the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from villagewatch.errors import ConfigError, ConfigIssue

__all__ = ["YamlDocument", "format_path", "read_yaml"]

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]
_SECRET_HINTS = ("password", "token", "secret")


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
            raise ConfigError([self._issue_of(loc, err) for err in exc.errors()]) from None

    def _issue_of(self, prefix: Loc, err: Any) -> ConfigIssue:
        loc: Loc = prefix + tuple(p for p in err["loc"] if isinstance(p, str | int))
        message = str(err["msg"]).removeprefix("Value error, ")
        hidden = any(hint in str(part).lower() for part in loc for hint in _SECRET_HINTS)
        scalar = isinstance(err.get("input"), str | int | float | bool)
        if err["type"] not in ("missing", "extra_forbidden") and scalar and not hidden:
            shown = repr(err.get("input"))
            message += f" (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
        if err["type"] == "extra_forbidden":
            message = "unknown key; check its spelling and the config reference"
        return self.issue(loc, message)


def read_yaml(path: Path, *, shown_as: str | None = None) -> YamlDocument:
    """Parse ``path``; syntax errors, duplicate keys and unreadable files raise ConfigError."""
    name = shown_as or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(name, "", f"cannot read the file: {exc}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
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
