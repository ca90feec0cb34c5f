"""buildlib: build Rust crates as C-ABI static libraries, prove their exports, link only proven archives."""

from .errors import ArchiveError, BuildError, BuildlibError, ConfigError, LinkError, WorkspaceError
from .project import load_project

__all__ = [
    "ArchiveError",
    "BuildError",
    "BuildlibError",
    "ConfigError",
    "LinkError",
    "WorkspaceError",
    "load_project",
]
__version__ = "0.1.0"
