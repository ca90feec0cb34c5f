"""buildlib: build Rust crates as C-ABI static libraries, prove their exports, link only proven archives.

For a dodo file::

    import buildlib

    PROJECT = buildlib.Project.for_dodo("pyproject.toml")
    DOIT_CONFIG = PROJECT.doit_config()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    ArchiveError,
    BuildError,
    BuildlibError,
    ConfigError,
    LinkError,
    StoreError,
    ToolchainError,
    UsageError,
    VerifyFailed,
    WorkspaceError,
)

if TYPE_CHECKING:
    from .archive import Archive, read_archive
    from .plan import Plan
    from .project import Project, load_plan
    from .verify import VerifyResult, verify_archive

# Imported on first use: a dodo file whose tasks are all up to date needs only Project, and a
# run that inspects no archive must not load the archive reader or LIEF (F8).
_LAZY = {
    "Archive": "archive",
    "read_archive": "archive",
    "Plan": "plan",
    "load_plan": "project",
    "Project": "project",
    "VerifyResult": "verify",
    "verify_archive": "verify",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Archive",
    "ArchiveError",
    "BuildError",
    "BuildlibError",
    "ConfigError",
    "LinkError",
    "Plan",
    "Project",
    "StoreError",
    "ToolchainError",
    "UsageError",
    "VerifyFailed",
    "VerifyResult",
    "WorkspaceError",
    "load_plan",
    "read_archive",
    "verify_archive",
]
__version__ = "0.1.0"
