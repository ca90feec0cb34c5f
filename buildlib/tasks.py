"""doit task dicts assembled from a plan: the only module that knows doit.

Graph: ``build:<unit>`` (one cargo call) -> ``verify:<crate>`` (reads the
archive, promotes it into the verified store) -> ``link`` (file_dep is exactly
the store reports plus the host sources) -> ``exec``.

The tasks are first written as specs: task dicts whose steps, checks and clean
actions are named, not callables (JSON, so the plan cache can keep them). One
function, ``materialize``, turns specs into doit's task dicts, whether they were
just made from a plan or read back from the cache; a step asks for the plan only
when it runs.
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import shlex
import shutil
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doit.exceptions import TaskFailed
from doit.tools import config_changed

from .errors import BuildlibError, user_message
from .freshness import why_stale
from .layout import Layout
from .names import TaskNames
from .progress import Reporter

if TYPE_CHECKING:
    from .plan import BuildUnit, Plan

TaskDict = dict[str, Any]
# A task dict with its callables named (see the module's docstring): JSON.
Spec = dict[str, Any]
# The plan, made or loaded when a step first asks for it.
PlanSource = Callable[[], "Plan"]


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
def _run_step(plan: PlanSource, names: TaskNames, step: str, name: str | None = None) -> None:
    from .steps import build_step, link_step, verify_step

    current = plan()
    if step == "build":
        build_step(current, _named(current.units, name, "build unit"), names)
    elif step == "verify":
        verify_step(_named(current.staticlibs, name, "staticlib"), names)
    else:
        link_step(current, names)


def _named(items: Iterable[Any], name: str | None, what: str) -> Any:
    for item in items:
        if item.name == name:
            return item
    raise BuildlibError(f"{what} {name!r} is not in the plan any more", hint="run the same command again")


def _clean_link(plan: PlanSource) -> None:
    from .steps import remove_orphans

    current = plan()
    current.program.unlink(missing_ok=True)
    remove_orphans(current)


def doit_config(out_dir: Path, unit_inputs: Iterable[Path]) -> dict[str, object]:
    """DOIT_CONFIG for a dodo file: ``link`` by default, the state database under the output dir
    ``out_dir``, a first build's tasks side by side on every core.

    The sqlite3 backend is chosen because doit's default dbm backend is not safe
    when two runs touch it at once. When some build unit was never built here (its
    inputs document, one of ``unit_inputs``, is missing: a first build, a new class),
    tasks run in forked processes, one per core (doit's "process" mode, where only
    doit's parent writes the database): the build tasks of different classes are
    different cargo calls, and every archive's verify is CPU-bound. Measured on 2
    cores: the fixtures cold, twice each, serial 4.28 s and 4.36 s, -n 2 3.88 s and
    4.06 s; the registry-crate workspace cold (the bench) 11.7 s serial, 9.4 s side
    by side. A later run rebuilds what changed, mostly one cargo call, one verify
    and the link, where forking the workers and sending their results back costs
    more than it saves: one crate of 200 edited, 6 runs each, 1.08 s serial against
    1.19 s with -n 2 (median). ``doit -n N`` chooses either way. Only where
    multiprocessing forks: doit's process mode sends a task to a worker started any
    other way (spawn, forkserver: macOS, Python 3.14 on Linux) by pickling it, and
    buildlib's actions are closures.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cores = usable_cores()
    first_build = any(not path.exists() for path in unit_inputs)
    # The start method in force, or the platform's default (listed first), without fixing it.
    start = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
    side_by_side = cores > 1 and first_build and start == "fork"
    return {
        "default_tasks": ["link"],
        "dep_file": str(database_path(out_dir)),
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


def task_specs(plan: Plan, names: TaskNames) -> list[Spec]:
    """Every task of ``plan`` as a spec: build, verify, link, exec."""
    return [*build_specs(plan, names), *verify_specs(plan, names), link_spec(plan, names), exec_spec(plan, names)]


def build_specs(plan: Plan, names: TaskNames) -> Iterator[Spec]:
    from .records import RECORD_FORMAT

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
            "step": ["build", unit.name],
            "meta": {"progress": _build_note(unit)},
            # No file_dep: the inputs are what the last build recorded (freshness), compared below.
            "targets": [
                *(str(path) for staticlib in unit.staticlibs for path in (staticlib.built, staticlib.record)),
                str(unit.inputs),
            ],
            # A new record format builds again: the next steps read the records this build writes.
            "uptodate": [
                ["unit", str(unit.inputs), unit.fingerprint, f"{unit.fingerprint}\nrecord format {RECORD_FORMAT}"]
            ],
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


def verify_specs(plan: Plan, names: TaskNames) -> Iterator[Spec]:
    from .records import REPORT_FORMAT

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
            "step": ["verify", staticlib.name],
            # The record changes with every build, and names the sources the expectations come from.
            "file_dep": [str(staticlib.built), str(staticlib.record), *map(str, staticlib.exports_files)],
            # doit runs the task when a target is missing: the symlink resolves only while the
            # report's archive exists.
            "targets": [str(staticlib.verified_archive), str(staticlib.report)],
            # The format version re-verifies entries an older buildlib wrote; the configuration's
            # expectations are part of what was verified: changing them verifies again.
            "uptodate": [
                [
                    "saved",
                    f"{REPORT_FORMAT}\nexpect {staticlib.expect}\nignore {staticlib.ignore}\n"
                    f"seal {staticlib.routing_class.seal}",
                ]
            ],
            "clean": ["rmtree", str(staticlib.report.parent)],
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


def link_spec(plan: Plan, names: TaskNames) -> Spec:
    host = plan.config.host
    return {
        "basename": names.link,
        "doc": f"link {plan.program} from the verified archives only",
        # `doit info link` shows meta: the link line as the plan and the store make it.
        "meta": {"link_line": True},
        "step": ["link"],
        "file_dep": [
            *(str(source) for source in host.sources),
            # A report names its archive by content hash: it changes whenever the archive does.
            *(str(staticlib.report) for staticlib in plan.staticlibs),
        ],
        "targets": [str(plan.program)],
        "uptodate": [["config", repr((host.cc, host.cflags, host.ldflags, [s.name for s in plan.staticlibs]))]],
        # `doit clean` removes the program, and what earlier builds left for crates the plan no longer has.
        "clean": ["clean_link"],
    }


def exec_spec(plan: Plan, names: TaskNames) -> Spec:
    return {
        "basename": names("exec"),
        "doc": f"run the linked program {plan.program}",
        "actions": [[str(plan.program)]],
        "task_dep": [names.link],
        "uptodate": [False],
        "verbosity": 2,
    }


def materialize(specs: Iterable[Spec], plan: PlanSource, names: TaskNames) -> Iterator[TaskDict]:
    """doit's task dicts of ``specs``: each named step, check and clean action made a callable.
    ``plan`` is called when a step runs (or ``doit info link`` shows the link line), not before."""
    for spec in specs:
        task = dict(spec)
        step = task.pop("step", None)
        if step is not None:
            task["actions"] = [_as_action(partial(_run_step, plan, names, *step), f"{step[0]}_step")]
        if "uptodate" in task:
            task["uptodate"] = [_check(check) for check in task["uptodate"]]
        clean = task.get("clean")
        if clean == ["clean_link"]:
            task["clean"] = [_as_action(partial(_clean_link, plan), "clean_link")]
        elif isinstance(clean, list):
            task["clean"] = [(shutil.rmtree, [clean[1]], {"ignore_errors": True})]
        if task.get("meta", {}).get("link_line"):
            task["meta"] = {"link_line": _LinkLine(plan)}
        yield task


def _check(check: Any) -> object:
    if not isinstance(check, list):
        return check  # a plain value: False runs the task every time
    kind, *args = check
    if kind == "unit":
        return _UnitFresh(Path(args[0]), args[1], args[2])
    if kind == "saved":
        return _Saved(args[0])
    return config_changed(args[0])


class _Saved:
    """An up-to-date check that wants its ``value`` saved by the last successful run, as doit's
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
        return True


class _UnitFresh(_Saved):
    """Nothing the unit's last cargo call depended on changed (freshness)."""

    def __init__(self, inputs: Path, fingerprint: str, value: str) -> None:
        super().__init__(value)
        self.inputs = inputs
        self.fingerprint = fingerprint

    def check(self) -> bool:
        return why_stale(self.inputs, self.fingerprint) is None


class _LinkLine:
    """The link line, read from the store reports only when shown: ``doit info link`` prints it,
    every other run would pay for reading every report at start-up."""

    def __init__(self, plan: PlanSource) -> None:
        self.plan = plan

    def __repr__(self) -> str:
        from .link import planned_link_line

        return shlex.join(planned_link_line(self.plan())[0])

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        # A worker process (doit -n) sends its task back pickled, meta included: the plan's source
        # does not pickle, and only `doit info link`, which runs no task, shows the line.
        return (str, ("shown by doit info link",))


def database_path(out_dir: Path) -> Path:
    return Layout(out_dir).database
