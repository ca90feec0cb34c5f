"""doit tasks for the fixture workspace: `doit link` builds, verifies and links; `doit exec` runs it."""

from pathlib import Path

from buildlib.tasks import build_tasks, doit_config, link_task, load_plan_or_exit, run_task, verify_tasks

PLAN = load_plan_or_exit(Path(__file__).parent / "pyproject.toml")
DOIT_CONFIG = doit_config(PLAN)


def task_build():
    """Build every ext crate's staticlib with its class's cargo profile."""
    yield from build_tasks(PLAN)


def task_verify():
    """Prove each archive's exports from its bytes; promote it to the verified store."""
    yield from verify_tasks(PLAN)


def task_link():
    """Link the host program from the verified archives only."""
    return link_task(PLAN)


def task_exec():
    """Run the linked host program."""
    return run_task(PLAN)
