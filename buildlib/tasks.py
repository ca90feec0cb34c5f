"""doit task dicts assembled from a plan: the only module that knows doit.

Graph: ``build:<unit>`` (one cargo call) -> ``verify:<crate>`` (reads the
archive, promotes it into the verified store) -> ``link`` (file_dep is exactly
the store entries plus the host sources) -> ``run``.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any

from doit.exceptions import TaskFailed
from doit.tools import config_changed

from ._lock import hold_lock, set_aside_corrupt_database
from .config import ProjectConfig, load_config
from .errors import BuildlibError
from .link import planned_link_line
from .plan import Plan, Route, build_inputs
from .project import plan_project
from .steps import build_step, link_step, verify_step
from .store import STORE_FORMAT

TaskDict = dict[str, Any]


def _as_action(step: Callable[..., object], *args: object) -> Callable[[], bool | TaskFailed]:
    """Wrap a step so an expected failure ends the task with its message, not a traceback."""

    def action() -> bool | TaskFailed:
        try:
            step(*args)
        except BuildlibError as e:
            hint = f"\nhint: {e.hint}" if e.hint else ""
            return TaskFailed(f"{e}{hint}")
        return True

    action.__name__ = step.__name__
    return action


def doit_config(plan: Plan) -> dict[str, object]:
    """DOIT_CONFIG for a dodo file: ``link`` by default, the state database under the output dir.

    The sqlite3 backend is chosen because doit's default dbm backend is not safe
    when two runs touch it at once. ``doit -n N`` runs tasks in forked processes
    (doit's "process" mode, set here on purpose): verification is CPU-bound
    Python and runs on several cores that way, and only doit's parent process
    writes the database. Measured on the fixtures, cold, 2 cores: serial 9.2 s,
    -n 2 with threads 7.1 s, -n 2 with processes 5.8 s.
    """
    plan.config.out_dir.mkdir(parents=True, exist_ok=True)
    return {
        "default_tasks": ["link"],
        "dep_file": str(database_path(plan.config)),
        "backend": "sqlite3",
        "par_type": "process",
    }


def build_tasks(plan: Plan) -> Iterator[TaskDict]:
    yield {"name": None, "doc": "build every ext crate's staticlib with its class's cargo profile"}
    for unit in plan.units:
        crates = ", ".join(route.crate.name for route in unit.routes)
        yield {
            "name": unit.name,
            "doc": f"cargo {unit.routing_class.method} build of {crates} (class {unit.routing_class.name}, lto={unit.routing_class.lto})",
            "actions": [_as_action(build_step, plan, unit)],
            "file_dep": [str(path) for path in build_inputs(plan, unit)],
            "targets": [str(path) for route in unit.routes for path in (route.archive, route.record)],
            "uptodate": [config_changed(unit.fingerprint)],
            "clean": True,
        }


def verify_tasks(plan: Plan) -> Iterator[TaskDict]:
    yield {
        "name": None,
        "doc": "prove each archive exports its crate's #[no_mangle] symbols, then promote it to the verified store",
    }
    for route in plan.routes:
        yield {
            "name": route.crate.name,
            "doc": f"verify {route.crate.archive_name} from its bytes and promote it to {route.verified_archive.parent}",
            "actions": [_as_action(verify_step, route)],
            # The record changes with every build, and names the sources the expectations come from.
            "file_dep": [str(route.archive), str(route.record)],
            "targets": [str(route.verified_archive), str(route.report)],
            # The symlink resolves only while the report's archive exists; the format version
            # re-verifies entries an older buildlib wrote.
            "uptodate": [config_changed(STORE_FORMAT), partial(_store_entry_present, route)],
            "clean": [(shutil.rmtree, [str(route.report.parent)], {"ignore_errors": True})],
        }


def _store_entry_present(route: Route, task: object, values: object) -> bool:
    return route.verified_archive.exists()


def link_task(plan: Plan) -> TaskDict:
    host = plan.config.host
    return {
        "basename": "link",
        "doc": f"link {plan.program} from the verified archives only",
        # `doit info link` shows meta: the link line as the plan and the store make it.
        "meta": {"link_line": shlex.join(planned_link_line(plan))},
        "actions": [_as_action(link_step, plan)],
        "file_dep": [
            *(str(source) for source in host.sources),
            # A report names its archive by content hash: it changes whenever the archive does.
            *(str(route.report) for route in plan.routes),
        ],
        "targets": [str(plan.program)],
        "uptodate": [config_changed(repr((host.cc, host.cflags, host.ldflags, [r.crate.name for r in plan.routes])))],
        "clean": True,
    }


def run_task(plan: Plan) -> TaskDict:
    return {
        "basename": "exec",
        "doc": f"run the linked program {plan.program}",
        "actions": [[str(plan.program)]],
        "task_dep": ["link"],
        "uptodate": [False],
        "verbosity": 2,
    }


# doit commands that only read: they neither wait for the project lock nor take it.
_READ_ONLY_COMMANDS = frozenset({"list", "info", "help", "dumpdb", "tabcompletion"})
_held_lock: IO[str] | None = None


def database_path(config: ProjectConfig) -> Path:
    return config.out_dir / ".doit.db"


def load_plan_or_exit(pyproject: Path | str, *, argv: Sequence[str] | None = None) -> Plan:
    """``load_project`` for a dodo file.

    Unless the doit command only reads (``argv``, default ``sys.argv``), it first
    takes the project lock, waiting for another run to finish, and sets aside a
    corrupt doit database. A configuration mistake prints one line and exits 2.
    """
    global _held_lock
    command = list(sys.argv if argv is None else argv)[1:2]
    try:
        config = load_config(pyproject)
        if not set(command) & _READ_ONLY_COMMANDS and _held_lock is None:
            _held_lock = hold_lock(config.out_dir / ".buildlib" / "lock", out=sys.stderr)
            set_aside_corrupt_database(database_path(config), out=sys.stderr)
        return plan_project(config)
    except BuildlibError as e:
        print(f"error: {e}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        raise SystemExit(2) from None
