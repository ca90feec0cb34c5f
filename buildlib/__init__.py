"""buildlib: build Rust crates as C-ABI static libraries, prove their exports, link only proven archives.

For a dodo file::

    import buildlib

    PROJECT = buildlib.Project.for_dodo("pyproject.toml")
    DOIT_CONFIG = PROJECT.doit_config()
"""

from .archive import Archive, read_archive
from .errors import ArchiveError, BuildError, BuildlibError, ConfigError, LinkError, WorkspaceError
from .plan import Plan
from .project import load_project
from .tasks import Project
from .verify import VerifyResult, verify_archive

__all__ = [
    "Archive",
    "ArchiveError",
    "BuildError",
    "BuildlibError",
    "ConfigError",
    "LinkError",
    "Plan",
    "Project",
    "VerifyResult",
    "WorkspaceError",
    "load_project",
    "read_archive",
    "verify_archive",
]
__version__ = "0.1.0"
