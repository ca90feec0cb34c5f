"""doit tasks for the registry-crate workspace: `doit link` builds, verifies and links; `doit exec` runs it.

`doit list --all` shows every task. The tasks come from the project object below.
"""

from pathlib import Path

import buildlib

PROJECT = buildlib.Project.for_dodo(Path(__file__).parent / "pyproject.toml")
DOIT_CONFIG = PROJECT.doit_config()
