"""Routing and build plans: which class each ext crate is in, and the cargo calls that build them.

Everything here is a pure function of the configuration, the workspace, the
toolchain and the environment, so the doit layer only turns the plan into task
dicts, and tests can check plans without running anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import bundle, cargoenv
from .bundle import Bundle
from .cache import UnitCache
from .config import ClassConfig, ProjectConfig, close_match
from .errors import ConfigError
from .layout import Layout
from .toolchain import Toolchain
from .workspace import Crate, Workspace


@dataclass(frozen=True, kw_only=True, slots=True)
class Staticlib:
    """One static archive on the link line: the crates it carries (one crate, or every member of a
    bundle), built by one cargo call, recorded, verified against all its crates' exports and
    stored once."""

    name: str  # its crate's name, or its bundle class's: names its verify task and its store entry
    lib_name: str  # the library target cargo builds it as
    crates: tuple[Crate, ...]
    routing_class: ClassConfig
    # Expectations scanning cannot decide, from [tool.buildlib.crates.<crate>]: added, dropped, files.
    expect: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exports_files: tuple[Path, ...] = ()
    built: Path  # where the build puts it, beside its record
    record: Path
    verified_archive: Path  # the store's stable path (a symlink to the content-addressed copy)
    report: Path

    @property
    def sealed(self) -> Path:
        """Where sealing puts the archive that exports only the verified C surface (seal.py)."""
        return self.built.with_name(f"{self.built.stem}.sealed.a")

    @property
    def label(self) -> str:
        """How messages name it: the crate, or the bundle and its crates."""
        names = [crate.name for crate in self.crates]
        return self.name if names == [self.name] else f"{self.name} ({', '.join(names)})"


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    """An ext crate, its routing class, and the staticlib that carries it."""

    crate: Crate
    routing_class: ClassConfig
    staticlib: Staticlib


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildUnit:
    """One cargo call, producing one or more staticlibs."""

    name: str
    routing_class: ClassConfig
    staticlibs: tuple[Staticlib, ...]
    command: tuple[str, ...]
    # Variables set (or, with None, removed) in cargo's environment, over the user's.
    env: tuple[tuple[str, str | None], ...]
    cwd: Path
    toolchain: str
    inputs: Path  # the inputs document of its last build (freshness)
    cfg: tuple[str, ...] = ()  # the toolchain's cfg set: what `#[cfg]` on an export sees
    bundle: Bundle | None = None
    cache: UnitCache | None = None

    @property
    def fingerprint(self) -> str:
        """What the archives depend on besides files: the command and its environment, the toolchain,
        a bundle's manifest."""
        return "\n".join(
            [
                json.dumps(self.command),
                json.dumps(self.env),
                self.toolchain,
                self.bundle.manifest if self.bundle else "",
            ]
        )

    @property
    def cargo_root(self) -> Path:
        """The directory of the manifest cargo builds: rustc's relative paths start there."""
        return Path(self.command[self.command.index("--manifest-path") + 1]).parent

    @property
    def crates(self) -> tuple[Crate, ...]:
        return tuple(crate for staticlib in self.staticlibs for crate in staticlib.crates)


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    config: ProjectConfig
    workspace: Workspace
    routes: tuple[Route, ...]  # every ext crate, in link order
    staticlibs: tuple[Staticlib, ...]  # the archives that carry them, in link order
    units: tuple[BuildUnit, ...]
    toolchain: Toolchain
    warnings: tuple[str, ...] = ()

    @property
    def layout(self) -> Layout:
        return Layout(self.config.out_dir)

    @property
    def program(self) -> Path:
        return self.layout.program(self.config.host.program)

    def route(self, crate: str) -> Route:
        for route in self.routes:
            if route.crate.name == crate:
                return route
        raise KeyError(crate)


def one_call(routing_class: ClassConfig, members: tuple[Staticlib, ...]) -> bool:
    """Whether a ``staticlib`` class's crates build in one ``cargo build -p a -p b …``, on every core
    at once: with LTO off cargo passes ``-C lto=off -C embed-bitcode=no`` there as to ``cargo rustc
    --crate-type staticlib`` (measured, cargo 1.95). Thin and fat need ``cargo rustc`` (F1, F2)."""
    return routing_class.method == "staticlib" and routing_class.lto == "off" and len(members) > 1


def profile_name(routing_class: ClassConfig) -> str:
    """The custom cargo profile of a class: classes never share an output directory (F5)."""
    return f"buildlib-{routing_class.name}"


def make_plan(
    config: ProjectConfig,
    workspace: Workspace,
    toolchain: Toolchain,
    environ: Mapping[str, str],
    profiles: Mapping[str, object] | None = None,
    sccache: Path | None = None,
) -> Plan:
    """Route every ext crate to its class and plan one cargo call per build unit.

    ``environ`` is the environment cargo will inherit, ``profiles`` the workspace
    manifest's ``[profile]`` tables (a bundle crate copies them), ``sccache`` the
    binary of the compile cache when the configuration asks for one. Reads nothing.
    Raises ConfigError for a class that names an unknown or non-staticlib crate,
    an ext crate in no class, or a build unit name used twice.
    """
    routes = _route_crates(config, workspace)
    units = []
    staticlibs = tuple(dict.fromkeys(route.staticlib for route in routes))
    for routing_class in config.classes:
        members = tuple(s for s in staticlibs if s.routing_class is routing_class)
        if not members:
            continue
        if routing_class.method in ("together", "bundle") or one_call(routing_class, members):
            units.append(_unit(config, workspace, toolchain, environ, profiles or {}, sccache, routing_class, members))
        else:
            units.extend(
                _unit(config, workspace, toolchain, environ, profiles or {}, sccache, routing_class, (s,))
                for s in members
            )
    _check_unique_unit_names(config, units)
    return Plan(
        config=config,
        workspace=workspace,
        routes=routes,
        staticlibs=staticlibs,
        units=tuple(units),
        toolchain=toolchain,
    )


def _check_crate_name(file: str, key: str, name: str, workspace: Workspace, *, ext: bool) -> None:
    known = [crate.name for crate in workspace.crates]
    if name not in known:
        manifest = workspace.unlisted_package(name)
        if manifest is not None:
            raise ConfigError(
                file,
                key,
                f"crate {name!r} ({manifest}) is not a workspace member",
                hint=f'add "{manifest.parent.relative_to(workspace.root)}" to [workspace] members in '
                f"{workspace.root / 'Cargo.toml'}",
            )
        close = close_match(name, known)
        hint = f"did you mean '{close}'?" if close else f"workspace crates: {', '.join(known)}"
        raise ConfigError(file, key, f"no crate {name!r} in the workspace {workspace.root}", hint=hint)
    if ext and not workspace.crate(name).is_ext:
        raise ConfigError(
            file,
            key,
            f"crate {name!r} does not build a staticlib",
            hint='add "staticlib" to its [lib] crate-type, or remove it from the class',
        )


def _memberships(config: ProjectConfig, workspace: Workspace) -> dict[str, list[tuple[ClassConfig, str]]]:
    """For each ext crate, the classes that claim it and why (a list entry or a dependency rule)."""
    file = str(config.file)
    claims: dict[str, list[tuple[ClassConfig, str]]] = {crate.name: [] for crate in workspace.ext_crates}
    for crate_config in config.crates:
        _check_crate_name(file, crate_config.key, crate_config.name, workspace, ext=True)
    for routing_class in config.classes:
        for index, name in enumerate(routing_class.crates):
            key = f"{routing_class.key}.crates[{index}]"
            _check_crate_name(file, key, name, workspace, ext=True)
            claims[name].append((routing_class, f"listed in {key}"))
        for index, dep in enumerate(routing_class.depends_on):
            _check_crate_name(file, f"{routing_class.key}.depends-on[{index}]", dep, workspace, ext=False)
        if not routing_class.depends_on:
            continue
        for crate in workspace.ext_crates:
            reached = {c.name for c in workspace.with_path_deps(crate.name)} - {crate.name}
            hits = [dep for dep in routing_class.depends_on if dep in reached]
            if hits and crate.name not in routing_class.crates:
                claims[crate.name].append((routing_class, f"depends on {hits[0]!r} ({routing_class.key}.depends-on)"))
    return claims


def _route_crates(config: ProjectConfig, workspace: Workspace) -> tuple[Route, ...]:
    file = str(config.file)
    by_class: dict[str, list[Crate]] = {c.name: [] for c in config.classes}
    for crate_name, claims in _memberships(config, workspace).items():
        if len(claims) > 1:
            reasons = "; ".join(f"{c.name}: {why}" for c, why in claims)
            raise ConfigError(
                file,
                claims[1][0].key,
                f"crate {crate_name!r} is claimed by {len(claims)} classes ({reasons})",
                hint="a crate belongs to exactly one class: remove it from all but one",
            )
        if claims:
            routing_class = claims[0][0]
        elif config.default_class is not None:
            routing_class = config.class_named(config.default_class)
        else:
            raise ConfigError(
                file,
                "tool.buildlib.default-class",
                f"ext crate {crate_name!r} is in no class and no default class is set",
                hint=f"add it to a class's crates, or set default-class to one of: {', '.join(by_class)}",
            )
        by_class[routing_class.name].append(workspace.crate(crate_name))

    # Link order: classes in file order; within a class, its list order, then the rest in workspace order.
    ordered: list[Route] = []
    for routing_class in config.classes:
        rank = {name: i for i, name in enumerate(routing_class.crates)}
        members = sorted(by_class[routing_class.name], key=lambda c: rank.get(c.name, len(rank)))
        if routing_class.method == "bundle" and members:
            # Every crate of a bundle class is in the one bundle archive.
            shared = _staticlib(config, routing_class, routing_class.name, bundle.lib_name(routing_class), members)
            ordered.extend(Route(crate=c, routing_class=routing_class, staticlib=shared) for c in members)
        else:
            ordered.extend(
                Route(
                    crate=c,
                    routing_class=routing_class,
                    staticlib=_staticlib(config, routing_class, c.name, c.lib_name, [c]),
                )
                for c in members
            )
    return tuple(ordered)


def _staticlib(
    config: ProjectConfig, routing_class: ClassConfig, name: str, lib_name: str, crates: list[Crate]
) -> Staticlib:
    layout = Layout(config.out_dir)
    file_name = f"lib{lib_name}.a"
    names = {crate.name for crate in crates}
    settings = [c for c in config.crates if c.name in names]
    return Staticlib(
        name=name,
        lib_name=lib_name,
        crates=tuple(crates),
        routing_class=routing_class,
        expect=tuple(n for c in settings for n in c.expect),
        ignore=tuple(n for c in settings for n in c.ignore),
        exports_files=tuple(c.exports for c in settings if c.exports is not None),
        built=layout.archive(routing_class.name, file_name),
        record=layout.record(routing_class.name, name),
        verified_archive=layout.verified_file(name, file_name),
        report=layout.report(name),
    )


def cargo_command(
    config: ProjectConfig,
    workspace: Workspace,
    routing_class: ClassConfig,
    crates: tuple[Crate, ...],
    environ: Mapping[str, str],
    sccache: Path | None = None,
) -> tuple[tuple[str, ...], tuple[tuple[str, str | None], ...]]:
    """The cargo call for a class's crates, with the class's profile set on the command line,
    and the variables to set (None: remove) in its environment.

    ``staticlib`` builds one crate with ``cargo rustc --crate-type staticlib`` so that cargo
    really passes ``-C lto`` (F1, F2), or with LTO off every crate of the class in one ``cargo
    build`` (``one_call``); ``together`` builds every crate of the class in one ``cargo build``
    so they share one build of their common dependencies. ``--print=native-static-libs`` makes
    rustc report the system libraries each archive needs (F6), unless ``RUSTC_WRAPPER`` runs
    rustc through ``sccache``, which caches no call with ``--print`` (F14; see nativelibs). The
    class's flags go to ``build.rustflags``, which cargo merges with the configuration's; a
    ``RUSTFLAGS`` or ``CARGO_ENCODED_RUSTFLAGS`` in the environment would replace them (F12), so
    then the user's flags and the class's are passed together in ``CARGO_ENCODED_RUSTFLAGS``.
    """
    profile = profile_name(routing_class)
    settings = [f'profile.{profile}.inherits="release"', f"profile.{profile}.lto={json.dumps(routing_class.lto)}"]
    if routing_class.codegen_units is not None:
        settings.append(f"profile.{profile}.codegen-units={routing_class.codegen_units}")
    rustflags = [*routing_class.rustflags, *([] if sccache else ["--print=native-static-libs"])]
    env: tuple[tuple[str, str | None], ...] = ()
    user = cargoenv.user_rustflags(environ)
    if user is None:
        settings.append(f"build.rustflags={json.dumps(rustflags)}")
    else:
        env = (("CARGO_ENCODED_RUSTFLAGS", cargoenv.encode_rustflags([*user[1], *rustflags])), ("RUSTFLAGS", None))
    env += (("RUSTC_WRAPPER", str(sccache)),) if sccache else ()

    command = [config.cargo]
    manifest = workspace.root / "Cargo.toml"
    if routing_class.method == "staticlib" and len(crates) == 1:
        (crate,) = crates
        command += ["rustc", "-p", crate.name, "--lib", "--crate-type", "staticlib"]
    elif routing_class.method == "bundle":
        manifest = bundle_directory(config, routing_class) / "Cargo.toml"
        command += ["build", "--lib", "--target-dir", str(workspace.target_dir)]
    else:
        command += ["build", "--lib"]
        for crate in crates:
            command += ["-p", crate.name]
    command += ["--manifest-path", str(manifest), "--profile", profile]
    for setting in settings:
        command += ["--config", setting]
    # -v prints each rustc command line: the record reads the -C lto cargo really passed.
    command += ["--message-format", "json", "-v"]
    return tuple(command), env


def _unit(
    config: ProjectConfig,
    workspace: Workspace,
    toolchain: Toolchain,
    environ: Mapping[str, str],
    profiles: Mapping[str, object],
    sccache: Path | None,
    routing_class: ClassConfig,
    staticlibs: tuple[Staticlib, ...],
) -> BuildUnit:
    crates = tuple(crate for staticlib in staticlibs for crate in staticlib.crates)
    name = staticlibs[0].name if len(crates) == 1 and routing_class.method == "staticlib" else routing_class.name
    command, env = cargo_command(config, workspace, routing_class, crates, environ, sccache)
    spec = None
    if routing_class.method == "bundle":
        text = bundle.manifest(routing_class, crates, profiles)
        spec = Bundle(
            directory=bundle_directory(config, routing_class), manifest=text, lib_name=bundle.lib_name(routing_class)
        )
    return BuildUnit(
        name=name,
        routing_class=routing_class,
        staticlibs=staticlibs,
        command=command,
        env=env,
        cwd=workspace.root,
        toolchain=toolchain.describe(),
        inputs=Layout(config.out_dir).inputs(routing_class.name, name),
        cfg=toolchain.cfg,
        bundle=spec,
        cache=UnitCache.plan(sccache, Layout(config.out_dir), name, routing_class, environ) if sccache else None,
    )


def bundle_directory(config: ProjectConfig, routing_class: ClassConfig) -> Path:
    return Layout(config.out_dir).bundle(routing_class.name)


def _check_unique_unit_names(config: ProjectConfig, units: list[BuildUnit]) -> None:
    seen: dict[str, BuildUnit] = {}
    for unit in units:
        if unit.name in seen:
            raise ConfigError(
                str(config.file),
                unit.routing_class.key,
                f"build unit name {unit.name!r} is taken by both a class and a crate",
                hint="rename the class",
            )
        seen[unit.name] = unit
