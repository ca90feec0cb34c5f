"""What cargo says a build read: rustc's dep-info files, build scripts' ``output`` files, and the
units of one cargo call from its JSON messages. Parsed here, used by ``freshness`` after a build.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

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


class DepsListing:
    """The files of each ``deps/`` directory by (name before the hash, extension), listed once:
    with 200 crates it holds thousands, and every uplifted artifact looks for its original there."""

    def __init__(self) -> None:
        self._index: dict[Path, dict[tuple[str, str], list[str]]] = {}

    def candidates(self, deps: Path, stem: str, suffix: str) -> list[Path]:
        """What ``deps/<stem>-*<suffix>`` matches, sorted."""
        index = self._index.get(deps)
        if index is None:
            index = {}
            try:
                names = os.listdir(deps)
            except OSError:
                names = []
            for name in names:
                base, dash, rest = name.rpartition("-")
                if dash:
                    index.setdefault((base, os.path.splitext(rest)[1]), []).append(name)
            self._index[deps] = index
        return [deps / name for name in sorted(index.get((stem, suffix), []))]


def dep_info_of(kind: tuple[str, ...], filenames: Iterable[Path], listing: DepsListing | None = None) -> list[Path]:
    """The dep-info files rustc wrote for a unit cargo reported with ``filenames``.

    An artifact cargo uplifted out of ``deps/`` (the staticlib, say) is a hard
    link of ``deps/lib<name>-<hash>.<ext>``: both the dep-info cargo writes beside
    it (the unit's and its local dependencies' sources) and rustc's own in
    ``deps/`` (which also lists the ``env!`` reads) count. ``listing`` lists each
    ``deps/`` once over many calls.
    """
    listing = listing or DepsListing()
    found: dict[Path, None] = {}
    for filename in filenames:
        if "custom-build" in kind:
            # build/<pkg>-<hash>/build-script-build beside build_script_build-<hash>.d
            found.update(dict.fromkeys(sorted(filename.parent.glob("*.d"))))
            continue
        if filename.parent.name != "deps":
            found[filename.with_suffix(".d")] = None
            filename = deps_original(filename, listing) or filename
        match = _DEPS_ARTIFACT.match(filename.name) if filename.parent.name == "deps" else None
        if match:
            found[filename.parent / f"{match.group(1)}.d"] = None
    return list(found)


def deps_original(uplifted: Path, listing: DepsListing) -> Path | None:
    """The file in ``deps/`` that ``uplifted`` is a hard link of, if any."""
    for candidate in listing.candidates(uplifted.parent / "deps", uplifted.stem, uplifted.suffix):
        try:
            if os.path.samefile(candidate, uplifted):
                return candidate
        except OSError:
            continue
    return None


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
class CargoReads:
    """What cargo's fingerprint of the units of one call depends on, as cargo's own files say."""

    files: tuple[Path, ...]
    trees: tuple[Path, ...]  # directories cargo checks as a whole (the newest file in them)
    env: tuple[str, ...]


def cargo_reads(units: CargoUnits, cargo_root: Path) -> CargoReads:
    """Every file and variable the units of a finished cargo call read.

    ``cargo_root`` is the directory of the manifest cargo built (rustc's relative
    paths start there). The dep-info of every local unit (the staticlibs cargo
    reported are among them), the manifests of local packages, each build script's
    ``rerun-if-*`` directives; a local build script that declares neither is
    rerun by cargo when any file of its package changes, so the package is a tree.
    """
    files: dict[Path, None] = {}
    trees: dict[Path, None] = {}
    env: dict[str, None] = {}
    listing = DepsListing()
    dep_infos = [
        dep_info for _, kind, filenames in units.local_units for dep_info in dep_info_of(kind, filenames, listing)
    ]
    for dep_info_file in dict.fromkeys(dep_infos):
        try:
            info = parse_dep_info(dep_info_file.read_text(), cargo_root)
        except OSError:
            continue
        files.update(dict.fromkeys(info.files))
        env.update(dict.fromkeys(info.env))
    files.update(dict.fromkeys(units.local_manifests.values()))
    for package_id, out_dir in units.build_scripts:
        manifest = units.local_manifests.get(package_id)
        try:
            text = (out_dir.parent / "output").read_text()
        except OSError:
            continue
        directives = parse_build_script_output(text, manifest.parent if manifest else out_dir)
        env.update(dict.fromkeys(directives.rerun_if_env_changed))
        if manifest is None:
            continue  # a registry package: cargo takes its rerun-if-changed paths to never change
        if directives.rerun_if_changed or directives.rerun_if_env_changed:
            for path in directives.rerun_if_changed:
                (trees if path.is_dir() else files)[path] = None
        else:
            trees[manifest.parent] = None
    return CargoReads(files=tuple(files), trees=tuple(trees), env=tuple(env))
