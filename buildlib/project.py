"""Loading a whole project: configuration, then the workspace cargo describes, then the plan."""

from __future__ import annotations

from pathlib import Path

from .config import load_config
from .plan import Plan, make_plan
from .workspace import load_workspace


def load_project(pyproject: Path | str) -> Plan:
    """Read ``[tool.buildlib]`` from ``pyproject`` and plan its build.

    ``cargo metadata`` runs only when a manifest or the lockfile changed since
    the last call. Raises ConfigError or WorkspaceError (both BuildlibError).
    """
    config = load_config(pyproject)
    workspace = load_workspace(config.workspace, out_dir=config.out_dir, cargo=config.cargo)
    return make_plan(config, workspace)
