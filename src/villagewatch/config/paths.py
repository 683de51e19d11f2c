"""Paths in config files, resolved one way: relative to the file that names them.

A path field is typed :data:`ConfigPath` (a place the program reads or writes
later: a database, a folder) or one of the file types read at start
(:data:`PasswordFile`, :data:`CaFile` …). Validating a model with a
:class:`PathContext` (``model_validate(data, context=PathContext(...))``)
makes every relative path relative to ``PathContext.base`` and keeps absolute
ones as written; with ``PathContext.read_files`` set, a secret or certificate
that cannot be read is a validation error at its own key — so a service
refuses to start instead of running without its password or TLS. Validation
without a context (models built in code) leaves paths as given.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, ValidationInfo
from pydantic_core import CoreSchema, core_schema

__all__ = [
    "SECTION",
    "CaFile",
    "CertFile",
    "ConfigPath",
    "KeyFile",
    "PasswordFile",
    "PathContext",
    "SecretFile",
    "TokenFile",
    "unreadable",
]


@dataclass(frozen=True, slots=True)
class PathContext:
    """How the paths of one config file are resolved (the pydantic validation context)."""

    base: Path
    """The folder of the config file."""
    read_files: bool | frozenset[str] = True
    """Check that every secret and certificate named can be read (false for ``config
    check`` on a machine other than the one that runs the service); or, a set of the
    settings file's sections (``mqtt``, ``store`` …): only those — a service checks the
    secrets it uses, not another service's on another host."""

    def reads(self) -> bool:
        """Whether the files of the part being validated must be readable."""
        if isinstance(self.read_files, bool):
            return self.read_files
        return SECTION.get() in self.read_files


SECTION: ContextVar[str | None] = ContextVar("config_section", default=None)
"""The settings file's section being validated (set by the Settings model)."""


@dataclass(frozen=True, slots=True)
class _InConfig:
    """Annotated metadata: resolve the path; if ``read_as`` names it, it must be readable."""

    read_as: str | None = None

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.with_info_after_validator_function(self._resolve, handler(source))

    def _resolve(self, value: Path, info: ValidationInfo) -> Path:
        context = info.context
        if not isinstance(context, PathContext):
            return value
        path = value if value.is_absolute() else context.base / value
        if self.read_as is not None and context.reads():
            problem = unreadable(path, self.read_as)
            if problem is not None:
                raise ValueError(problem)
        return path


def unreadable(path: Path, what: str) -> str | None:
    """Why the file ``path`` (a ``what``: "password file") cannot be read; None if it can."""
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        return f"cannot read the {what} {path}: {exc.strerror}"
    return None


ConfigPath = Annotated[Path, _InConfig()]
"""A file or folder the program uses later, relative to the config file."""
PasswordFile = Annotated[Path, _InConfig("password file")]
"""A file holding a password; must be readable at start."""
TokenFile = Annotated[Path, _InConfig("token file")]
"""A file holding an API token; must be readable at start."""
SecretFile = Annotated[Path, _InConfig("secret file")]
"""A file holding a signing secret; must be readable at start."""
CaFile = Annotated[Path, _InConfig("CA certificate")]
"""A CA certificate (PEM); must be readable at start."""
CertFile = Annotated[Path, _InConfig("client certificate")]
"""A client certificate (PEM); must be readable at start."""
KeyFile = Annotated[Path, _InConfig("client key")]
"""A client certificate's private key (PEM); must be readable at start."""
