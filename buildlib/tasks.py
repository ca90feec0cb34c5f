"""doit task dicts assembled from a plan: the only module that knows doit.

Graph: ``build:<unit>`` (one cargo call) -> ``verify:<crate>`` (reads the
archive, promotes it into the verified store) -> ``link`` (file_dep is exactly
the store reports plus the host sources) -> ``exec``.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from doit.exceptions import TaskFailed
from doit.tools import config_changed

from ._lock import hold_lock, set_aside_corrupt_database
from .config import ProjectConfig, load_config, parse_config
from .errors import BuildlibError, ConfigError
from .freshness import why_stale
from .link import planned_link_line
from .plan import BuildUnit, Plan, Route
from .project import plan_project
from .store import STORE_FORMAT

TaskDict = dict[str, Any]


def _as_action(step: str, *args: object) -> Callable[[], bool | TaskFailed]:
    """Wrap the step named ``step`` so an expected failure ends the task with its message, not a traceback.

    The steps module (archives, LIEF, the audit) is imported when a task runs,
    so a run where everything is up to date never loads it.
    """

    def action() -> bool | TaskFailed:
        from . import steps

        try:
            getattr(steps, step)(*args)
        except BuildlibError as e:
            return TaskFailed(e.describe())
        return True

    action.__name__ = step
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
        # Archives are 20 MB each: doit's default md5 of every file_dep after each run costs
        # seconds per build. An edited source gets a new modification time, and buildlib
        # replaces every file it writes, so the time marks every change.
        "check_file_uptodate": "timestamp",
    }


@dataclass(frozen=True, slots=True)
class Names:
    """Task names under an optional prefix: ``link``, or ``rt.link`` inside an outer pipeline."""

    prefix: str = ""

    def __call__(self, base: str) -> str:
        return f"{self.prefix}.{base}" if self.prefix else base


def project_tasks(plan: Plan, names: Names) -> Iterator[TaskDict]:
    """Every task of ``plan``: build, verify, link, exec."""
    yield from build_tasks(plan, names)
    yield from verify_tasks(plan, names)
    yield link_task(plan, names)
    yield exec_task(plan, names)


def build_tasks(plan: Plan, names: Names) -> Iterator[TaskDict]:
    basename = names("build")
    yield {
        "basename": basename,
        "name": None,
        "doc": "build every ext crate's staticlib with its class's cargo profile",
    }
    for unit in plan.units:
        crates = ", ".join(route.crate.name for route in unit.routes)
        yield {
            "basename": basename,
            "name": unit.name,
            "doc": f"cargo {unit.routing_class.method} build of {crates} (class {unit.routing_class.name}, lto={unit.routing_class.lto})",
            "actions": [_as_action("build_step", plan, unit)],
            # No file_dep: the inputs are what the last build recorded (freshness), compared below.
            # dict.fromkeys: a bundle's crates share one archive, which is one target.
            "targets": [
                *dict.fromkeys(str(path) for route in unit.routes for path in (route.archive, route.record)),
                str(unit.inputs),
            ],
            "uptodate": [_UnitFresh(unit)],
            "clean": True,
        }


def verify_tasks(plan: Plan, names: Names) -> Iterator[TaskDict]:
    basename = names("verify")
    yield {
        "basename": basename,
        "name": None,
        "doc": "prove each archive exports its crate's #[no_mangle] symbols, then promote it to the verified store",
    }
    for route in plan.routes:
        yield {
            "basename": basename,
            "name": route.crate.name,
            "doc": f"verify {route.crate.archive_name} from its bytes and promote it to {route.verified_archive.parent}",
            "actions": [_as_action("verify_step", route)],
            # The record changes with every build, and names the sources the expectations come from.
            "file_dep": [str(route.archive), str(route.record)],
            "targets": [str(route.verified_archive), str(route.report)],
            # The symlink resolves only while the report's archive exists; the format version
            # re-verifies entries an older buildlib wrote.
            "uptodate": [_EntryPresent(route)],
            "clean": [(shutil.rmtree, [str(route.report.parent)], {"ignore_errors": True})],
        }


class _Saved:
    """An up-to-date check that also wants its ``value`` saved by the last successful run, as doit's
    ``config_changed`` does: after `doit forget`, or with another value, the task runs again.

    One callable per task: doit inspects each check's signature on every run.
    """

    key = "_buildlib"

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
        super().__init__(unit.fingerprint)
        self.unit = unit

    def check(self) -> bool:
        return why_stale(self.unit.inputs, self.unit.fingerprint) is None


class _EntryPresent(_Saved):
    """The store entry was written by this store format, and its symlink resolves (the report's archive exists)."""

    def __init__(self, route: Route) -> None:
        super().__init__(STORE_FORMAT)
        self.route = route

    def check(self) -> bool:
        return self.route.verified_archive.exists()


class _LinkLine:
    """The link line, read from the store reports only when shown: ``doit info link`` prints it,
    every other run would pay for reading every report at start-up."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def __repr__(self) -> str:
        return shlex.join(planned_link_line(self.plan))


def link_task(plan: Plan, names: Names) -> TaskDict:
    host = plan.config.host
    return {
        "basename": names("link"),
        "doc": f"link {plan.program} from the verified archives only",
        # `doit info link` shows meta: the link line as the plan and the store make it.
        "meta": {"link_line": _LinkLine(plan)},
        "actions": [_as_action("link_step", plan)],
        "file_dep": [
            *(str(source) for source in host.sources),
            # A report names its archive by content hash: it changes whenever the archive does.
            *(str(route.report) for route in plan.routes),
        ],
        "targets": [str(plan.program)],
        "uptodate": [config_changed(repr((host.cc, host.cflags, host.ldflags, [r.crate.name for r in plan.routes])))],
        "clean": True,
    }


def exec_task(plan: Plan, names: Names) -> TaskDict:
    return {
        "basename": names("exec"),
        "doc": f"run the linked program {plan.program}",
        "actions": [[str(plan.program)]],
        "task_dep": [names("link")],
        "uptodate": [False],
        "verbosity": 2,
    }


# doit commands that only read: they neither wait for the project lock nor take it.
_READ_ONLY_COMMANDS = frozenset({"list", "info", "help", "dumpdb", "tabcompletion"})
_held_locks: dict[Path, IO[str]] = {}


def database_path(config: ProjectConfig) -> Path:
    return config.out_dir / ".doit.db"


class Project:
    """A buildlib project as doit tasks: put one in a dodo file's globals and doit collects its tasks.

    ::

        PROJECT = buildlib.Project.for_dodo("pyproject.toml")              # build, verify, link, exec
        RT = buildlib.Project.for_dodo("rt/pyproject.toml", prefix="rt")   # rt.build, rt.verify, rt.link, rt.exec

    An outer pipeline's own tasks depend on ``RT.program`` or ``RT.verified_archive(crate)``
    (as ``file_dep``), or on ``RT.task("link")`` (as ``task_dep``).
    """

    def __init__(self, plan: Plan, *, prefix: str = "") -> None:
        self.plan = plan
        self.names = Names(prefix)

    @classmethod
    def load(
        cls, source: Path | str | Mapping[str, object], *, root: Path | str | None = None, prefix: str = ""
    ) -> Project:
        """A project from a ``pyproject.toml`` path, or from a ``[tool.buildlib]`` table given as a dict
        (its relative paths taken from ``root``, default the current directory).

        Raises BuildlibError (ConfigError, WorkspaceError, ToolchainError) when it cannot be planned.
        """
        return cls(plan_project(_config(source, root)), prefix=prefix)

    @classmethod
    def for_dodo(
        cls,
        source: Path | str | Mapping[str, object],
        *,
        root: Path | str | None = None,
        prefix: str = "",
        argv: Sequence[str] | None = None,
    ) -> Project:
        """``load`` for a dodo file: it takes the project lock first (waiting for another run,
        unless the doit command in ``argv``, default ``sys.argv``, only reads) and sets aside a
        corrupt doit database. A mistake prints one ``error:`` line and exits 2.
        """
        command = list(sys.argv if argv is None else argv)[1:2]
        try:
            config = _config(source, root)
            if not set(command) & _READ_ONLY_COMMANDS and config.out_dir not in _held_locks:
                _held_locks[config.out_dir] = hold_lock(config.out_dir / ".buildlib" / "lock", out=sys.stderr)
                set_aside_corrupt_database(database_path(config), out=sys.stderr)
            return cls(plan_project(config), prefix=prefix)
        except BuildlibError as e:
            print(f"error: {e.describe()}", file=sys.stderr)
            raise SystemExit(2) from None

    def create_doit_tasks(self) -> Iterator[TaskDict]:
        yield from project_tasks(self.plan, self.names)

    def task(self, base: str) -> str:
        """The full name of one of this project's tasks: ``task("link")``, ``task("verify:ext-zlib")``."""
        return self.names(base)

    @property
    def program(self) -> Path:
        """The linked program (the link task's target)."""
        return self.plan.program

    @property
    def crates(self) -> list[str]:
        """The ext crates, in link order."""
        return [route.crate.name for route in self.plan.routes]

    def verified_archive(self, crate: str) -> Path:
        """The stable path of ``crate``'s verified archive (a target of its verify task).

        Raises ConfigError for a crate that is not an ext crate of the project.
        """
        try:
            return self.plan.route(crate).verified_archive
        except KeyError:
            known = ", ".join(route.crate.name for route in self.plan.routes)
            raise ConfigError(
                str(self.plan.config.file), "crate", f"no ext crate {crate!r}", hint=f"ext crates: {known}"
            ) from None

    def doit_config(self) -> dict[str, object]:
        """DOIT_CONFIG for a dodo file whose main project this is (see ``doit_config``)."""
        config = doit_config(self.plan)
        config["default_tasks"] = [self.names("link")]
        return config


def _config(source: Path | str | Mapping[str, object], root: Path | str | None) -> ProjectConfig:
    if isinstance(source, Mapping):
        return parse_config(dict(source), file=Path(root or Path.cwd()).resolve() / "<[tool.buildlib] dict>")
    return load_config(source)
