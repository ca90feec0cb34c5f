"""Loading a whole project: configuration, the workspace cargo describes, the toolchain, the plan."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from .config import ProjectConfig, load_config
from .guards import check_plan
from .plan import Plan, make_plan
from .toolchain import check_editions, check_method_supported, load_toolchain
from .workspace import load_workspace


def load_project(pyproject: Path | str) -> Plan:
    """Read ``[tool.buildlib]`` from ``pyproject`` and plan its build.

    ``cargo metadata`` and the toolchain's ``-vV`` run only when something they
    depend on changed since the last call. Raises ConfigError, WorkspaceError
    or ToolchainError (all BuildlibError) for a plan that cannot work.
    """
    return plan_project(load_config(pyproject))


def plan_project(config: ProjectConfig, environ: Mapping[str, str] = os.environ) -> Plan:
    """Plan the build ``config`` describes in the environment cargo will inherit (see ``load_project``)."""
    workspace = load_workspace(config.workspace, out_dir=config.out_dir, cargo=config.cargo, environ=environ)
    toolchain = load_toolchain(config.cargo, workspace=config.workspace, out_dir=config.out_dir, environ=environ)
    for routing_class in config.classes:
        check_method_supported(toolchain, routing_class.method, f"{config.file}: {routing_class.key}.method")
    check_editions(toolchain, workspace.crates)
    plan = make_plan(config, workspace, toolchain, environ)
    return dataclasses.replace(plan, warnings=tuple(check_plan(plan)))
