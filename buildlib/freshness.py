"""Whether a build unit's archives are still what cargo would build: the inputs document.

After every cargo call buildlib writes ``<unit>.inputs.json`` beside the build
records, listing what cargo's fingerprint of every unit of that call depends on
(F13), each with its state at the time of the build:

- the sources rustc's dep-info lists for every local unit (workspace members, path
  dependencies, ``[patch]`` path crates, build scripts), whether cargo compiled the
  unit or found it fresh, from cargo's ``compiler-artifact`` messages;
- the manifests of those packages, the lockfile, every configuration file cargo
  reads (present or absent);
- each build script's ``rerun-if-changed`` paths, read from the ``output`` file
  cargo keeps under ``target/``; a local build script that declares none is rerun
  by cargo when any file of its package changes, so the package tree is an input;
- the environment: cargo's own variables (``cargoenv``), each build script's
  ``rerun-if-env-changed`` variables and each ``env!``/``option_env!`` rustc
  recorded (``# env-dep:`` lines of the dep-info);
- the unit's command, environment overrides and toolchain, and its own outputs.

The next run compares exactly that list, so the check agrees with cargo and the
second run after any build is a no-op. Like cargo, it compares modification
times: a file touched without a change rebuilds, as cargo would. A source
modified while cargo ran is recorded as changed, so the next run builds again.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import _fs
from .cargoenv import config_files, tracked_environment
from .workspace import iter_tree

INPUTS_FORMAT = 1
ABSENT = "absent"
CHANGED_DURING_BUILD = "changed during the build"
_TREE = "tree:"
_ENV_DEP = "# env-dep:"
_DIRECTIVE = re.compile(r"^cargo::?(rerun-if-changed|rerun-if-env-changed)=(.*)$")
# Artifacts under deps/ are lib<name>-<hash>.<ext>; rustc writes the dep-info as <name>-<hash>.d.
_DEPS_ARTIFACT = re.compile(r"^(?:lib)?([A-Za-z0-9_]+-[0-9a-f]+)\.[A-Za-z.]+$")


@dataclass(frozen=True, kw_only=True, slots=True)
class DepInfo:
    """What one Makefile-style dep-info file of rustc lists: source files and environment reads."""

    files: tuple[Path, ...]
    env: tuple[str, ...]


def parse_dep_info(text: str, base: Path) -> DepInfo:
    """Every prerequisite of every rule (relative paths taken from ``base``, the directory rustc ran
    in) and every ``# env-dep:NAME[=value]`` line."""
    files: dict[Path, None] = {}
    env: dict[str, None] = {}
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith(_ENV_DEP):
            env[line[len(_ENV_DEP) :].partition("=")[0]] = None
            continue
        _, sep, tail = line.partition(": ")
        if not sep:
            continue
        for part in re.split(r"(?<!\\)\s+", tail.strip()):
            if part:
                files[base / part.replace("\\ ", " ")] = None
    return DepInfo(files=tuple(files), env=tuple(env))


def dep_info_of(kind: tuple[str, ...], filenames: Iterable[Path]) -> list[Path]:
    """The dep-info files rustc wrote for a unit cargo reported with ``filenames``."""
    found: dict[Path, None] = {}
    for filename in filenames:
        if "custom-build" in kind:
            # build/<pkg>-<hash>/build-script-build beside build_script_build-<hash>.d
            found.update(dict.fromkeys(sorted(filename.parent.glob("*.d"))))
            continue
        match = _DEPS_ARTIFACT.match(filename.name) if filename.parent.name == "deps" else None
        candidate = filename.parent / f"{match.group(1)}.d" if match else filename.with_suffix(".d")
        found[candidate] = None
    return list(found)


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildScriptOutput:
    """The ``rerun-if-*`` directives a build script printed (cargo's ``output`` file under target/)."""

    rerun_if_changed: tuple[Path, ...]
    rerun_if_env_changed: tuple[str, ...]


def parse_build_script_output(text: str, package_dir: Path) -> BuildScriptOutput:
    changed: dict[Path, None] = {}
    env: dict[str, None] = {}
    for line in text.splitlines():
        match = _DIRECTIVE.match(line.strip())
        if match is None:
            continue
        directive, value = match.groups()
        if directive == "rerun-if-changed":
            changed[package_dir / value] = None
        else:
            env[value] = None
    return BuildScriptOutput(rerun_if_changed=tuple(changed), rerun_if_env_changed=tuple(env))


@dataclass(kw_only=True, slots=True)
class CargoUnits:
    """What cargo's JSON messages of one call said about the units it built or found fresh."""

    # package id -> manifest path, for packages with a local (path) source
    local_manifests: dict[str, Path] = field(default_factory=dict)
    # (package id, target kind, output files) of every unit of a local package
    local_units: list[tuple[str, tuple[str, ...], tuple[Path, ...]]] = field(default_factory=list)
    # (package id, the out dir of one run of its build script: the ``output`` file sits beside it)
    build_scripts: list[tuple[str, Path]] = field(default_factory=list)
    fresh: int = 0
    compiled: int = 0

    def feed(self, message: Mapping[str, object]) -> None:
        reason = message.get("reason")
        package_id = str(message.get("package_id", ""))
        if reason == "compiler-artifact":
            if message.get("fresh") is True:
                self.fresh += 1
            else:
                self.compiled += 1
            if not is_local(package_id):
                return
            target = message.get("target")
            kind = tuple(str(k) for k in target.get("kind", ())) if isinstance(target, dict) else ()
            filenames = message.get("filenames")
            paths = tuple(Path(str(f)) for f in filenames) if isinstance(filenames, list) else ()
            self.local_units.append((package_id, kind, paths))
            if message.get("manifest_path"):
                self.local_manifests[package_id] = Path(str(message["manifest_path"]))
        elif reason == "build-script-executed" and message.get("out_dir"):
            self.build_scripts.append((package_id, Path(str(message["out_dir"]))))


def is_local(package_id: str) -> bool:
    """A package cargo reads from a path (its fingerprint checks files), not from a registry or git."""
    return package_id.startswith("path+") or "(path+" in package_id


@dataclass(frozen=True, kw_only=True, slots=True)
class Inputs:
    """One build unit's inputs, each with its state when the unit was built."""

    format: int
    unit: str  # the unit's command, environment overrides, toolchain and bundle manifest
    files: dict[str, str]  # path -> stamp (see ``stamp``)
    env: dict[str, str | None]

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode() + b"\n"


def stamp(path: Path, *, tree: bool = False) -> str:
    """What a file's state is compared by, as cargo compares it: modification time (and size).

    ``tree`` stamps a directory by its newest entry, as cargo does for a package's files.
    """
    try:
        status = path.stat()
    except OSError:
        return ABSENT
    if not tree:
        return f"{status.st_mtime_ns}:{status.st_size}"
    newest, count = status.st_mtime_ns, 0
    for file in iter_tree(path):
        try:
            newest = max(newest, file.stat().st_mtime_ns)
        except OSError:
            continue
        count += 1
    return f"{_TREE}{newest}:{count}"


def _stamp_after_build(path: Path, started_ns: int, cargo_owned: tuple[Path, ...]) -> str:
    """The stamp of an input read after the build: one modified after cargo started may have been
    read in its old state, so it is recorded as changed, and the next run builds again."""
    value = stamp(path)
    if value == ABSENT or path.name == "Cargo.lock" or any(path.is_relative_to(d) for d in cargo_owned):
        return value  # cargo writes these itself
    return CHANGED_DURING_BUILD if int(value.partition(":")[0]) >= started_ns else value


def collect_inputs(
    *,
    unit: str,
    cwd: Path,
    cargo_root: Path,
    target_dir: Path,
    units: CargoUnits,
    artifacts: Iterable[Path],
    extra_files: Iterable[Path],
    outputs: Iterable[Path],
    environ: Mapping[str, str],
    started_ns: int,
) -> Inputs:
    """The inputs of a cargo call that has just succeeded.

    ``cwd`` is where cargo ran (configuration files are found from there),
    ``cargo_root`` the directory of the manifest it built (rustc's relative paths
    start there), ``artifacts`` the archives cargo reported, ``extra_files`` the
    workspace manifest and lockfile, ``outputs`` what buildlib wrote from the build.
    """
    files: dict[Path, None] = dict.fromkeys(extra_files)
    trees: dict[Path, None] = {}
    env_names: dict[str, None] = {}
    dep_infos = [artifact.with_suffix(".d") for artifact in artifacts]
    for _, kind, filenames in units.local_units:
        dep_infos.extend(dep_info_of(kind, filenames))
    for dep_info_file in dict.fromkeys(dep_infos):
        try:
            info = parse_dep_info(dep_info_file.read_text(), cargo_root)
        except OSError:
            continue
        files.update(dict.fromkeys(info.files))
        env_names.update(dict.fromkeys(info.env))
    files.update(dict.fromkeys(units.local_manifests.values()))
    for package_id, out_dir in units.build_scripts:
        manifest = units.local_manifests.get(package_id)
        try:
            text = (out_dir.parent / "output").read_text()
        except OSError:
            continue
        directives = parse_build_script_output(text, manifest.parent if manifest else out_dir)
        env_names.update(dict.fromkeys(directives.rerun_if_env_changed))
        if manifest is None:
            continue  # a registry package: cargo checks its rerun-if-changed paths never change
        if directives.rerun_if_changed or directives.rerun_if_env_changed:
            for path in directives.rerun_if_changed:
                (trees if path.is_dir() else files)[path] = None
        else:
            trees[manifest.parent] = None
    cargo_owned = (target_dir,)
    stamps = {str(path): _stamp_after_build(path, started_ns, cargo_owned) for path in files}
    stamps.update({str(path): stamp(path, tree=True) for path in trees})
    stamps.update({str(path): stamp(path) for path in config_files(cwd, environ)})
    stamps.update({str(path): stamp(path) for path in outputs})
    return Inputs(format=INPUTS_FORMAT, unit=unit, files=stamps, env=tracked_environment(environ, env_names))


def write_inputs(path: Path, inputs: Inputs) -> None:
    _fs.write_atomic(path, inputs.to_json())


def why_stale(path: Path, unit: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """Why the unit whose inputs ``path`` records must be built again, or None when nothing changed."""
    try:
        data = json.loads(path.read_text())
        recorded = Inputs(**data)
    except FileNotFoundError:
        return "never built"
    except (OSError, ValueError, TypeError):
        return f"{path} is unreadable"
    if recorded.format != INPUTS_FORMAT:
        return f"{path} was written by another buildlib"
    if recorded.unit != unit:
        return "its cargo command, environment or toolchain changed"
    for name, value in recorded.files.items():
        if value == CHANGED_DURING_BUILD:
            return f"{name} changed while cargo was building"
        if stamp(Path(name), tree=value.startswith(_TREE)) != value:
            return f"{name} changed"
    current = tracked_environment(environ, recorded.env)
    if current != recorded.env:
        changed = sorted(k for k in current.keys() | recorded.env.keys() if current.get(k) != recorded.env.get(k))
        return f"environment variable {changed[0]} changed"
    return None
