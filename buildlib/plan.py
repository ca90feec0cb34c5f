"""Routing and build plans: which class each ext crate is in, and the cargo calls that build them.

Everything here is a pure function of the configuration and the workspace
(plus a directory walk for file dependencies), so the doit layer only turns
the plan into task dicts, and tests can check plans without running anything.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path

from .config import ClassConfig, ProjectConfig
from .errors import ConfigError
from .workspace import Crate, Workspace, iter_tree


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    """An ext crate, its routing class, and where its files live."""

    crate: Crate
    routing_class: ClassConfig
    archive: Path
    record: Path
    verified_archive: Path
    report: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildUnit:
    """One cargo call, producing the archives of one or more routes."""

    name: str
    routing_class: ClassConfig
    routes: tuple[Route, ...]
    command: tuple[str, ...]
    cwd: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    config: ProjectConfig
    workspace: Workspace
    routes: tuple[Route, ...]
    units: tuple[BuildUnit, ...]

    @property
    def program(self) -> Path:
        return self.config.out_dir / "bin" / self.config.host.program

    def route(self, crate: str) -> Route:
        for route in self.routes:
            if route.crate.name == crate:
                return route
        raise KeyError(crate)


def profile_name(routing_class: ClassConfig) -> str:
    """The custom cargo profile of a class: classes never share an output directory (F5)."""
    return f"buildlib-{routing_class.name}"


def make_plan(config: ProjectConfig, workspace: Workspace) -> Plan:
    """Route every ext crate to its class and plan one cargo call per build unit.

    Raises ConfigError for a class that names an unknown or non-staticlib crate,
    an ext crate in no class, or a build task name used twice.
    """
    routes = _route_crates(config, workspace)
    units = []
    for routing_class in config.classes:
        members = tuple(r for r in routes if r.routing_class is routing_class)
        if not members:
            continue
        if routing_class.method == "together":
            units.append(_unit(config, workspace, routing_class.name, routing_class, members))
        else:
            units.extend(_unit(config, workspace, r.crate.name, routing_class, (r,)) for r in members)
    _check_unique_unit_names(config, units)
    return Plan(config=config, workspace=workspace, routes=routes, units=tuple(units))


def _route_crates(config: ProjectConfig, workspace: Workspace) -> tuple[Route, ...]:
    file = str(config.file)
    known = [crate.name for crate in workspace.crates]
    listed: dict[str, ClassConfig] = {}
    for routing_class in config.classes:
        for index, name in enumerate(routing_class.crates):
            key = f"{routing_class.key}.crates[{index}]"
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"workspace crates: {', '.join(known)}"
                raise ConfigError(file, key, f"no crate {name!r} in the workspace {workspace.root}", hint=hint)
            if not workspace.crate(name).is_ext:
                raise ConfigError(
                    file,
                    key,
                    f"crate {name!r} does not build a staticlib",
                    hint='add "staticlib" to its [lib] crate-type, or remove it from the class',
                )
            listed[name] = routing_class

    by_class: dict[str, list[Route]] = {c.name: [] for c in config.classes}
    for crate in workspace.ext_crates:
        listed_class = listed.get(crate.name)
        if listed_class is not None:
            routing_class = listed_class
        else:
            if config.default_class is None:
                raise ConfigError(
                    file,
                    "tool.buildlib.default-class",
                    f"ext crate {crate.name!r} is in no class and no default class is set",
                    hint=f"add it to a class's crates, or set default-class to one of: {', '.join(by_class)}",
                )
            routing_class = config.class_named(config.default_class)
        by_class[routing_class.name].append(_route(config, crate, routing_class))

    # Link order: classes in file order; within a class, its list order, then the rest.
    ordered: list[Route] = []
    for routing_class in config.classes:
        rank = {name: i for i, name in enumerate(routing_class.crates)}
        members = by_class[routing_class.name]
        ordered.extend(sorted(members, key=lambda r: rank.get(r.crate.name, len(rank))))
    return tuple(ordered)


def _route(config: ProjectConfig, crate: Crate, routing_class: ClassConfig) -> Route:
    built = config.out_dir / "archives" / routing_class.name
    verified = config.out_dir / "verified" / crate.name
    return Route(
        crate=crate,
        routing_class=routing_class,
        archive=built / crate.archive_name,
        record=built / f"{crate.name}.build.json",
        verified_archive=verified / crate.archive_name,
        report=verified / "report.json",
    )


def cargo_command(
    config: ProjectConfig, workspace: Workspace, routing_class: ClassConfig, crates: tuple[Crate, ...]
) -> tuple[str, ...]:
    """The cargo call for a class's crates, with the class's profile set on the command line.

    ``staticlib`` builds one crate with ``cargo rustc --crate-type staticlib`` so
    that cargo really passes ``-C lto`` (F1, F2); ``together`` builds every crate
    of the class in one ``cargo build`` so they share one build of their common
    dependencies. ``--print=native-static-libs`` makes rustc report the system
    libraries each archive needs (F6).
    """
    profile = profile_name(routing_class)
    settings = [f'profile.{profile}.inherits="release"', f"profile.{profile}.lto={json.dumps(routing_class.lto)}"]
    if routing_class.codegen_units is not None:
        settings.append(f"profile.{profile}.codegen-units={routing_class.codegen_units}")
    rustflags = [*routing_class.rustflags, "--print=native-static-libs"]
    settings.append(f"build.rustflags={json.dumps(rustflags)}")

    command = [config.cargo]
    if routing_class.method == "staticlib":
        (crate,) = crates
        command += ["rustc", "-p", crate.name, "--lib", "--crate-type", "staticlib"]
    else:
        command += ["build", "--lib"]
        for crate in crates:
            command += ["-p", crate.name]
    command += ["--manifest-path", str(workspace.root / "Cargo.toml"), "--profile", profile]
    for setting in settings:
        command += ["--config", setting]
    command += ["--message-format", "json"]
    return tuple(command)


def _unit(
    config: ProjectConfig, workspace: Workspace, name: str, routing_class: ClassConfig, routes: tuple[Route, ...]
) -> BuildUnit:
    crates = tuple(r.crate for r in routes)
    return BuildUnit(
        name=name,
        routing_class=routing_class,
        routes=routes,
        command=cargo_command(config, workspace, routing_class, crates),
        cwd=workspace.root,
    )


def _check_unique_unit_names(config: ProjectConfig, units: list[BuildUnit]) -> None:
    seen: dict[str, BuildUnit] = {}
    for unit in units:
        if unit.name in seen:
            raise ConfigError(
                str(config.file),
                unit.routing_class.key,
                f"build task name 'build:{unit.name}' is taken by both a class and a crate",
                hint="rename the class",
            )
        seen[unit.name] = unit


def source_files(plan: Plan, unit: BuildUnit) -> list[Path]:
    """Every file that can change what ``unit`` builds: a safe superset of cargo's dep-info.

    The package directories of its crates and of every workspace crate they reach
    by path, plus the workspace manifest and lockfile.
    """
    workspace = plan.workspace
    package_dirs = {crate.manifest_dir for crate in workspace.crates}
    files: set[Path] = set()
    for route in unit.routes:
        for crate in workspace.with_path_deps(route.crate.name):
            nested = frozenset(d for d in package_dirs if d != crate.manifest_dir)
            files.update(iter_tree(crate.manifest_dir, skip=nested | {plan.config.out_dir}))
    for name in ("Cargo.toml", "Cargo.lock"):
        if (workspace.root / name).is_file():
            files.add(workspace.root / name)
    return sorted(files)
