"""The Cargo workspace as cargo describes it (``cargo metadata``), cached by what it depends on.

cargo is the source of truth about packages, targets, crate types and path
dependencies; this module never parses a ``Cargo.toml`` itself. The answer is
cached under the output directory, keyed by the workspace's absolute path (a
copied or moved project asks again), every manifest (those above it too), the
configuration files and the variables cargo reads (the target directory can
come from either), and what each directory searched for manifests holds (a new
member, a new ``src/lib.rs``), so a no-op run spawns no cargo at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _fs
from ._toml import tomllib
from .cargoenv import config_files, tracked_environment
from .errors import WorkspaceError
from .layout import Layout

_CACHE_VERSION = 3
# `cargo metadata --no-deps` reads manifests, never the lockfile (which a build may rewrite).
_MANIFEST_NAMES = frozenset({"Cargo.toml"})
_LIB_KINDS = frozenset({"lib", "staticlib", "rlib", "cdylib", "dylib"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Crate:
    """A workspace member package and its library target."""

    name: str
    lib_name: str
    manifest_dir: Path
    src_path: Path
    edition: str
    crate_types: tuple[str, ...]
    path_deps: tuple[str, ...]

    @property
    def is_ext(self) -> bool:
        """An ext crate is one whose library target builds a C-ABI staticlib."""
        return "staticlib" in self.crate_types

    @property
    def archive_name(self) -> str:
        return f"lib{self.lib_name}.a"


@dataclass(frozen=True, kw_only=True, slots=True)
class Workspace:
    root: Path
    target_dir: Path
    crates: tuple[Crate, ...]
    manifests: tuple[Path, ...] = ()  # every package's, as cargo reported it (binary-only ones too)

    def crate(self, name: str) -> Crate:
        for crate in self.crates:
            if crate.name == name:
                return crate
        raise KeyError(name)

    @property
    def ext_crates(self) -> tuple[Crate, ...]:
        return tuple(crate for crate in self.crates if crate.is_ext)

    def unlisted_package(self, name: str) -> Path | None:
        """The manifest of a package called ``name`` in a folder just below the workspace root that
        is not a member (read only to explain a name the configuration cannot find)."""
        for manifest in sorted(self.root.glob("*/Cargo.toml")):
            try:
                package = tomllib.loads(manifest.read_text(encoding="utf-8")).get("package", {})
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if isinstance(package, dict) and package.get("name") == name:
                return manifest
        return None

    def with_path_deps(self, name: str) -> list[Crate]:
        """``name`` and every workspace crate it reaches through path dependencies."""
        seen: dict[str, Crate] = {}
        stack = [name]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            crate = self.crate(current)
            seen[current] = crate
            stack.extend(dep for dep in crate.path_deps if dep not in seen)
        return list(seen.values())


def parse_metadata(metadata: dict[str, Any]) -> Workspace:
    """Build a Workspace from ``cargo metadata --format-version 1`` output.

    Raises WorkspaceError when the JSON lacks what cargo always provides.
    """
    try:
        members = set(metadata["workspace_members"])
        packages = [p for p in metadata["packages"] if p["id"] in members]
        by_dir = {str(Path(p["manifest_path"]).parent): p["name"] for p in packages}
        crates = tuple(_crate_from_package(p, by_dir) for p in packages)
        return Workspace(
            root=Path(str(metadata["workspace_root"])),
            target_dir=Path(str(metadata["target_directory"])),
            crates=tuple(crate for crate in crates if crate is not None),
            manifests=tuple(Path(str(package["manifest_path"])) for package in packages),
        )
    except (KeyError, TypeError) as e:
        raise WorkspaceError(f"cargo metadata output lacks an expected field: {e}") from e


def _crate_from_package(package: dict[str, Any], by_dir: dict[str, str]) -> Crate | None:
    libs = [t for t in package["targets"] if set(t["kind"]) & _LIB_KINDS]
    if not libs:
        return None  # a binary-only package has nothing to link
    lib = libs[0]
    path_deps = []
    for dep in package["dependencies"]:
        if dep.get("path") and dep.get("kind") != "dev" and dep["path"] in by_dir:
            path_deps.append(by_dir[dep["path"]])
    return Crate(
        name=str(package["name"]),
        lib_name=lib["name"].replace("-", "_"),
        manifest_dir=Path(str(package["manifest_path"])).parent,
        src_path=Path(lib["src_path"]),
        edition=str(lib.get("edition", package.get("edition", "2015"))),
        crate_types=tuple(lib["crate_types"]),
        path_deps=tuple(sorted(set(path_deps))),
    )


def find_files(
    top: Path,
    names: frozenset[str],
    *,
    skip: frozenset[Path] = frozenset(),
    searched: list[str] | None = None,
    links: list[str] | None = None,
) -> list[Path]:
    """Files named one of ``names`` under ``top``, pruning ``target/``, hidden directories and ``skip``;
    each directory listed is appended to ``searched``, and each symbolic link met but not followed
    (to a directory, or dangling) to ``links``, when given.

    A link can lead anywhere (a build tool's output tree, the whole file system): the members
    behind one are found through cargo's answer instead (``outside_reads``). Only what it returns
    becomes a Path: it runs on every plan, over the whole workspace.
    """
    skipped = {str(path) for path in skip}
    found: list[Path] = []
    stack = [str(top)]
    while stack:
        directory = stack.pop()
        if searched is not None:
            searched.append(directory)
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != "target" and entry.path not in skipped:
                            stack.append(entry.path)
                    elif entry.name in names and entry.is_file():
                        found.append(Path(entry.path))
                    elif links is not None and entry.is_symlink() and not entry.is_file():
                        links.append(entry.path)
        except OSError:
            continue
    return found


def outside_reads(root: Path, manifests: Iterable[Path], found: Collection[Path]) -> tuple[list[Path], list[Path]]:
    """For the manifests cargo reported that the search did not find (a member behind a symbolic
    link): the directories to list, from below ``root`` down to each one's (a new member can
    appear in any of them) and its ``src/`` (where cargo finds its targets), and the manifests."""
    outside = [manifest for manifest in manifests if manifest not in found]
    directories = [
        directory
        for manifest in outside
        for directory in (manifest.parent / "src", manifest.parent, *manifest.parent.parents)
        if directory.parent == manifest.parent or (directory != root and directory.is_relative_to(root))
    ]
    return list(dict.fromkeys(directories)), outside


def _ancestor_manifests(root: Path) -> list[Path]:
    """The manifests cargo looks for above ``root``, present or not: one whose ``[workspace]`` lists
    ``root`` makes it a member of that workspace."""
    return [directory / "Cargo.toml" for directory in root.parents]


def _workspace_reads(
    root: Path, *, out_dir: Path, target_dir: Path | None = None, environ: Mapping[str, str] = os.environ
) -> tuple[list[Path], list[Path]]:
    """What ``load_workspace`` reads or searches under ``root``: the directories of which it reads
    what they hold (those searched for manifests: one gains an entry when a crate is added; and
    each symbolic link met, not followed: a member can appear behind one), and the files of
    ``cargo metadata``. The output directory and cargo's ``target_dir``, when known, are not searched."""
    searched: list[str] = []
    skip = frozenset({out_dir, *([target_dir] if target_dir else [])})
    manifests = find_files(root, _MANIFEST_NAMES, skip=skip, searched=searched, links=searched)
    return list(map(Path, searched)), [*manifests, *_ancestor_manifests(root), *config_files(root, environ)]


def metadata_reads(
    root: Path,
    workspace_root: Path,
    *,
    out_dir: Path,
    target_dir: Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> tuple[list[Path], list[Path]]:
    """``_workspace_reads`` under the configured ``root`` and under ``workspace_root``, the root cargo
    reported, when ``root`` is one of its members."""
    listed: list[Path] = []
    files: list[Path] = []
    for top in dict.fromkeys([root, workspace_root]):
        top_listed, top_files = _workspace_reads(top, out_dir=out_dir, target_dir=target_dir, environ=environ)
        listed += top_listed
        files += top_files
    return listed, files


def _workspace_key(root: Path, workspace: Workspace, out_dir: Path, cargo: str, environ: Mapping[str, str]) -> str:
    """The metadata cache's key: the bytes of every file ``cargo metadata`` reads, and what each
    directory it lists holds (``metadata_reads``; ``outside_reads`` for the members behind a
    symbolic link)."""
    listed, files = metadata_reads(
        root, workspace.root, out_dir=out_dir, target_dir=workspace.target_dir, environ=environ
    )
    more_listed, outside = outside_reads(workspace.root, workspace.manifests, set(files))
    environment = json.dumps(tracked_environment(environ), sort_keys=True)
    contents = hashlib.sha256(f"v{_CACHE_VERSION}\0{cargo}\0{root}\0{environment}\0".encode())
    for path in sorted({*files, *outside}):
        contents.update(os.fsencode(path) + b"\0")
        try:
            contents.update(path.read_bytes() + b"\0")
        except OSError:
            contents.update(b"absent\0")
    listings = hashlib.sha256()
    for directory in sorted({*listed, *more_listed}):  # a dangling link's: None
        # Not what the search passes by (target directories, the output directory), nor the
        # lockfile `cargo metadata` writes when there is none (a --no-deps answer never reads it).
        passed_by = {directory / "target", directory / "Cargo.lock", out_dir, workspace.target_dir}
        held = _fs.listing_digest(directory, leave_out={str(path) for path in passed_by})
        listings.update(os.fsencode(f"{directory}\0{held}\0"))
    return contents.hexdigest() + listings.hexdigest()


def load_workspace(
    root: Path, *, out_dir: Path, cargo: str = "cargo", environ: Mapping[str, str] = os.environ
) -> Workspace:
    """The workspace at ``root``, from the cache when nothing ``cargo metadata`` reads changed.

    Raises WorkspaceError when there is no workspace, cargo is missing, or
    ``cargo metadata`` fails.
    """
    manifest = root / "Cargo.toml"
    if not manifest.is_file():
        raise WorkspaceError(
            f"{manifest}: no Cargo.toml", hint="set tool.buildlib.workspace to the directory of your Cargo workspace"
        )
    cache = Layout(out_dir).cache("metadata.json")
    known = Workspace(root=root, target_dir=root / "target", crates=())  # what was known before asking cargo
    try:
        cached = json.loads(cache.read_text())
        known = parse_metadata(cached["metadata"])
        before = _workspace_key(root, known, out_dir, cargo, environ)
        if cached.get("key") == before:
            return known
    except (OSError, ValueError, KeyError, TypeError, WorkspaceError):
        before = _workspace_key(root, known, out_dir, cargo, environ)  # no cache, or an unreadable one
    # Without a lockfile, the first build would write one and so change every build's inputs
    # (and this cache's key) behind the plan's back: let cargo write it now, resolving once.
    metadata = run_cargo_metadata(manifest, cargo, resolve=not (root / "Cargo.lock").is_file(), environ=environ)
    workspace = parse_metadata(metadata)
    key = _workspace_key(root, workspace, out_dir, cargo, environ)
    after = key if _same_reads(known, workspace) else _workspace_key(root, known, out_dir, cargo, environ)
    if after == before:  # else something changed as cargo read it: which state did it see?
        _fs.write_atomic(cache, json.dumps({"key": key, "metadata": metadata}).encode())
    return workspace


def _same_reads(one: Workspace, other: Workspace) -> bool:
    return (one.root, one.manifests, one.target_dir) == (other.root, other.manifests, other.target_dir)


def run_cargo_metadata(
    manifest: Path, cargo: str, *, resolve: bool = False, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """``cargo metadata`` of the workspace; ``resolve`` also resolves dependencies (writing Cargo.lock)."""
    command = [cargo, "metadata", "--format-version", "1", "--manifest-path", str(manifest)]
    if not resolve:
        command.append("--no-deps")
    try:
        # In the workspace, as the builds run: cargo reads the configuration from its working directory.
        result = subprocess.run(
            command, cwd=manifest.parent, env=dict(environ), capture_output=True, text=True, check=False
        )
    except FileNotFoundError as e:
        raise WorkspaceError(f"{cargo}: not found", hint="install Rust (rustup.rs) or set tool.buildlib.cargo") from e
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise WorkspaceError(f"{manifest}: cargo metadata failed: {last}", hint=" ".join(command))
    try:
        data = json.loads(result.stdout)
    except ValueError as e:
        raise WorkspaceError(f"{manifest}: cargo metadata printed something that is not JSON") from e
    if not isinstance(data, dict):
        raise WorkspaceError(f"{manifest}: cargo metadata printed {type(data).__name__}, expected an object")
    return data
