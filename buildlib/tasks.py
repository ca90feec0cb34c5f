"""doit task dicts assembled from a plan: the only module that knows doit.

Graph: ``build:<unit>`` (one cargo call) -> ``verify:<crate>`` (reads the
archive, promotes it into the verified store) -> ``link`` (file_dep is exactly
the store reports plus the host sources) -> ``exec``.
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import shlex
import shutil
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from doit.exceptions import TaskFailed
from doit.tools import config_changed

from .config import ProjectConfig
from .errors import user_message
from .freshness import why_stale
from .link import planned_link_line
from .names import TaskNames
from .plan import BuildUnit, Plan, Staticlib
from .progress import Reporter
from .records import RECORD_FORMAT, REPORT_FORMAT, Layout

TaskDict = dict[str, Any]


def _as_action(step: Callable[[], object], name: str) -> Callable[[], bool | TaskFailed]:
    """Wrap ``step`` so that an expected failure (ours, the system's, Ctrl-C) ends the task with its
    one-line message (``user_message``), not a traceback."""

    def action() -> bool | TaskFailed:
        try:
            step()
        except (Exception, KeyboardInterrupt) as e:
            message = user_message(e)
            if message is None:
                raise
            return TaskFailed(message)
        return True

    action.__name__ = name
    return action


# The steps (archives, LIEF, the audit) are imported when a task runs, so a run where
# everything is up to date never loads them (F8).
def _build(plan: Plan, unit: BuildUnit, names: TaskNames) -> None:
    from .steps import build_step

    build_step(plan, unit, names)


def _verify(staticlib: Staticlib, names: TaskNames) -> None:
    from .steps import verify_step

    verify_step(staticlib, names)


def _link(plan: Plan, names: TaskNames) -> None:
    from .steps import link_step

    link_step(plan, names)


def doit_config(plan: Plan) -> dict[str, object]:
    """DOIT_CONFIG for a dodo file: ``link`` by default, the state database under the output dir,
    a first build's tasks side by side on every core.

    The sqlite3 backend is chosen because doit's default dbm backend is not safe
    when two runs touch it at once. When some build unit was never built here (a
    first build, a new class), tasks run in forked processes, one per core (doit's
    "process" mode, where only doit's parent writes the database): the build tasks
    of different classes are different cargo calls, and every archive's verify is
    CPU-bound. Measured on 2 cores: the fixtures cold, twice each, serial 4.28 s and
    4.36 s, -n 2 3.88 s and 4.06 s; the registry-crate workspace cold (the bench)
    11.7 s serial, 9.4 s side by side. A later run rebuilds what changed, mostly one
    cargo call, one verify and the link, where forking the workers and sending their
    results back costs more than it saves: one crate of 200 edited, 6 runs each,
    1.08 s serial against 1.19 s with -n 2 (median). ``doit -n N`` chooses either way.
    Only where multiprocessing forks: doit's process mode sends a task to a worker
    started any other way (spawn, forkserver: macOS, Python 3.14 on Linux) by
    pickling it, and buildlib's actions are closures.
    """
    plan.config.out_dir.mkdir(parents=True, exist_ok=True)
    cores = usable_cores()
    first_build = any(not unit.inputs.exists() for unit in plan.units)
    # The start method in force, or the platform's default (listed first), without fixing it.
    start = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
    side_by_side = cores > 1 and first_build and start == "fork"
    return {
        "default_tasks": ["link"],
        "dep_file": str(database_path(plan.config)),
        "backend": "sqlite3",
        "num_process": cores if side_by_side else 0,
        "par_type": "process",
        # Archives are 20 MB each: doit's default md5 of every file_dep after each run costs
        # seconds per build. An edited source gets a new modification time, and buildlib
        # replaces every file it writes, so the time marks every change.
        "check_file_uptodate": "timestamp",
        # [n/total] progress, each failure once in buildlib's words, totals at the end.
        "reporter": Reporter,
    }


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def project_tasks(plan: Plan, names: TaskNames) -> Iterator[TaskDict]:
    """Every task of ``plan``: build, verify, link, exec."""
    yield from build_tasks(plan, names)
    yield from verify_tasks(plan, names)
    yield link_task(plan, names)
    yield exec_task(plan, names)


def _clean_link(plan: Plan) -> None:
    from .steps import remove_orphans

    plan.program.unlink(missing_ok=True)
    remove_orphans(plan)


def build_tasks(plan: Plan, names: TaskNames) -> Iterator[TaskDict]:
    basename = names("build")
    yield {
        "basename": basename,
        "name": None,
        "doc": "build every ext crate's staticlib with its class's cargo profile",
    }
    for unit in plan.units:
        crates = ", ".join(crate.name for crate in unit.crates)
        yield {
            "basename": basename,
            "name": unit.name,
            "doc": f"cargo {unit.routing_class.method} build of {crates} (class {unit.routing_class.name}, lto={unit.routing_class.lto})",
            "actions": [_as_action(partial(_build, plan, unit, names), "build_step")],
            "meta": {"progress": _build_note(unit)},
            # No file_dep: the inputs are what the last build recorded (freshness), compared below.
            "targets": [
                *(str(path) for staticlib in unit.staticlibs for path in (staticlib.built, staticlib.record)),
                str(unit.inputs),
            ],
            "uptodate": [_UnitFresh(unit)],
            "clean": True,
        }


def _build_note(unit: BuildUnit) -> str | None:
    """What the progress line says of a build beside its name: what makes it slow or special."""
    routing_class = unit.routing_class
    notes = [
        f"{routing_class.lto} LTO" if routing_class.lto != "off" else "",
        "bundle" * (routing_class.method == "bundle"),
    ]
    return ", ".join(note for note in notes if note) or None


def verify_tasks(plan: Plan, names: TaskNames) -> Iterator[TaskDict]:
    basename = names("verify")
    yield {
        "basename": basename,
        "name": None,
        "doc": "prove each archive exports its crate's #[no_mangle] symbols, then promote it to the verified store",
    }
    for staticlib in plan.staticlibs:
        yield {
            "basename": basename,
            "name": staticlib.name,
            "doc": f"verify {staticlib.built.name} ({', '.join(c.name for c in staticlib.crates)}) from its bytes "
            f"and promote it to {staticlib.verified_archive.parent}",
            "actions": [_as_action(partial(_verify, staticlib, names), "verify_step")],
            # The record changes with every build, and names the sources the expectations come from.
            "file_dep": [str(staticlib.built), str(staticlib.record), *map(str, staticlib.exports_files)],
            "targets": [str(staticlib.verified_archive), str(staticlib.report)],
            # The symlink resolves only while the report's archive exists; the format version
            # re-verifies entries an older buildlib wrote.
            "uptodate": [_EntryPresent(staticlib)],
            "clean": [(shutil.rmtree, [str(staticlib.report.parent)], {"ignore_errors": True})],
        }
    # A bundle is verified once, as a whole; `verify:<crate>` still names each of its crates.
    for route in plan.routes:
        if route.staticlib.name != route.crate.name:
            yield {
                "basename": basename,
                "name": route.crate.name,
                "doc": f"verify {route.crate.name}'s exports in its bundle ({names.verify(route.staticlib.name)})",
                "actions": None,
                "task_dep": [names.verify(route.staticlib.name)],
            }


class _Saved:
    """An up-to-date check that also wants its ``value`` saved by the last successful run, as doit's
    ``config_changed`` does: after `doit forget`, or with another value, the task runs again.

    One callable per task: doit inspects each check's signature on every run, so the signature is
    given (``inspect.signature`` of a callable object costs as much as the check itself).
    """

    key = "_buildlib"
    __signature__ = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in ("task", "values")]
    )

    def __init__(self, value: str) -> None:
        self.value = value

    def __call__(self, task: Any, values: dict[str, object]) -> bool:
        task.value_savers.append(lambda: {self.key: self.value})
        return values.get(self.key) == self.value and self.check()

    def check(self) -> bool:
        raise NotImplementedError


class _UnitFresh(_Saved):
    """Nothing the unit's last cargo call depended on changed (freshness)."""

    def __init__(self, unit: BuildUnit) -> None:
        # A new record format builds again: the next steps read the records this build writes.
        super().__init__(f"{unit.fingerprint}\nrecord format {RECORD_FORMAT}")
        self.unit = unit

    def check(self) -> bool:
        return why_stale(self.unit.inputs, self.unit.fingerprint) is None


class _EntryPresent(_Saved):
    """The store entry was written by this store format, and its symlink resolves (the report's archive exists)."""

    def __init__(self, staticlib: Staticlib) -> None:
        # The configuration's expectations are part of what was verified: changing them verifies again.
        super().__init__(
            f"{REPORT_FORMAT}\nexpect {staticlib.expect}\nignore {staticlib.ignore}\nseal {staticlib.routing_class.seal}"
        )
        self.staticlib = staticlib

    def check(self) -> bool:
        return self.staticlib.verified_archive.exists()


class _LinkLine:
    """The link line, read from the store reports only when shown: ``doit info link`` prints it,
    every other run would pay for reading every report at start-up."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def __repr__(self) -> str:
        return shlex.join(planned_link_line(self.plan)[0])


def link_task(plan: Plan, names: TaskNames) -> TaskDict:
    host = plan.config.host
    return {
        "basename": names.link,
        "doc": f"link {plan.program} from the verified archives only",
        # `doit info link` shows meta: the link line as the plan and the store make it.
        "meta": {"link_line": _LinkLine(plan)},
        "actions": [_as_action(partial(_link, plan, names), "link_step")],
        "file_dep": [
            *(str(source) for source in host.sources),
            # A report names its archive by content hash: it changes whenever the archive does.
            *(str(staticlib.report) for staticlib in plan.staticlibs),
        ],
        "targets": [str(plan.program)],
        "uptodate": [config_changed(repr((host.cc, host.cflags, host.ldflags, [s.name for s in plan.staticlibs])))],
        # `doit clean` removes the program, and what earlier builds left for crates the plan no longer has.
        "clean": [_as_action(partial(_clean_link, plan), "clean_link")],
    }


def exec_task(plan: Plan, names: TaskNames) -> TaskDict:
    return {
        "basename": names("exec"),
        "doc": f"run the linked program {plan.program}",
        "actions": [[str(plan.program)]],
        "task_dep": [names.link],
        "uptodate": [False],
        "verbosity": 2,
    }


def database_path(config: ProjectConfig) -> Path:
    return Layout(config.out_dir).database
