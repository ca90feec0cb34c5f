"""The Rust toolchain in use: ``cargo -vV`` and ``rustc -vV``, cached so a no-op run spawns nothing.

The cache key is what can change the answer without a manifest changing: the
resolved binaries, rustup's settings and installed toolchains, the toolchain
override variables, ``rust-toolchain`` files from the workspace upwards, and the
binaries and channel manifest in the sysroot of the toolchain last read (``rustup
update`` replaces those in place, under the toolchain's name).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from . import _fs
from .errors import ToolchainError
from .layout import Layout
from .workspace import Crate

_CACHE_VERSION = 4
_OVERRIDE_VARIABLES = ("RUSTUP_TOOLCHAIN", "RUSTC", "RUSTUP_HOME", "CARGO_HOME")
_TOOLCHAIN_FILES = ("rust-toolchain", "rust-toolchain.toml")


@dataclass(frozen=True, kw_only=True, slots=True)
class Toolchain:
    cargo: str
    rustc: str
    host: str
    llvm: str
    commit: str  # rustc's commit hash: two nightlies share a version number
    # `rustc --print cfg -O` for the host: what `#[cfg(...)]` sees in a release build (features apart)
    cfg: tuple[str, ...] = ()
    sysroot: str = ""  # `rustc --print sysroot`: where the toolchain's own files are

    @property
    def cargo_version(self) -> Version:
        return Version(self.cargo)

    @property
    def rustc_version(self) -> Version:
        return Version(self.rustc)

    def describe(self) -> str:
        return f"cargo {self.cargo}, rustc {self.rustc} ({self.commit[:9]}, LLVM {self.llvm}, {self.host})"


def parse_version_output(text: str, tool: str) -> dict[str, str]:
    """The ``key: value`` lines of ``cargo -vV`` / ``rustc -vV``.

    Raises ToolchainError when the release line is missing or not a version.
    """
    fields = {}
    for line in text.splitlines()[1:]:
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    release = fields.get("release", "")
    try:
        Version(release.split("-")[0])
    except InvalidVersion as e:
        raise ToolchainError(f"{tool} -vV: cannot read a version from {release!r}") from e
    fields["release"] = release.split("-")[0]
    return fields


def _run_version(tool: str, cwd: Path, environ: Mapping[str, str]) -> dict[str, str]:
    return parse_version_output(run_tool(tool, ["-vV"], cwd, environ).stdout, tool)


def run_tool(tool: str, args: list[str], cwd: Path, environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run cargo or rustc in ``cwd`` (rustup picks the toolchain a rust-toolchain file there pins).

    Raises ToolchainError when the tool is missing or fails, with its last line of error output.
    """
    try:
        result = subprocess.run([tool, *args], cwd=cwd, env=dict(environ), capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise ToolchainError(
            f"{tool}: not found on PATH", hint="install Rust (rustup.rs) or set tool.buildlib.cargo"
        ) from e
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ToolchainError(f"{tool} {' '.join(args)} failed: {last}")
    return result


def _stat_key(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        stat = path.stat()
    except OSError:
        return f"{path}:absent"
    return f"{path}:{stat.st_mtime_ns}:{stat.st_size}:{stat.st_ino}"


def toolchain_reads(cargo: str, *, workspace: Path, environ: Mapping[str, str] = os.environ) -> list[Path | None]:
    """The files that decide which toolchain cargo runs in ``workspace``: the cargo and rustc found
    on PATH (None when not found), rustup's settings and toolchains, and each rust-toolchain file
    that may apply (present or not)."""
    found = [shutil.which(tool, path=environ.get("PATH")) for tool in (cargo, environ.get("RUSTC", "rustc"))]
    rustup_home = Path(environ.get("RUSTUP_HOME", Path.home() / ".rustup"))
    return [
        *(Path(tool).resolve() if tool else None for tool in found),
        rustup_home / "settings.toml",
        rustup_home / "toolchains",
        *(directory / name for directory in (workspace, *workspace.parents) for name in _TOOLCHAIN_FILES),
    ]


def sysroot_reads(sysroot: str) -> list[Path]:
    """The files of the toolchain at ``sysroot`` an update replaces: its cargo and rustc, and
    rustup's record of the release it installed there (absent without rustup)."""
    if not sysroot:
        return []
    root = Path(sysroot)
    return [
        root / "bin" / "rustc",
        root / "bin" / "cargo",
        root / "lib" / "rustlib" / "multirust-channel-manifest.toml",
    ]


def _cache_key(cargo: str, workspace: Path, environ: Mapping[str, str], sysroot: str) -> str:
    parts = [f"v{_CACHE_VERSION}", str(workspace), sysroot]
    reads = [*toolchain_reads(cargo, workspace=workspace, environ=environ), *sysroot_reads(sysroot)]
    parts += [_stat_key(path) for path in reads]
    parts += [f"{name}={environ.get(name, '')}" for name in _OVERRIDE_VARIABLES]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def load_toolchain(cargo: str, *, workspace: Path, out_dir: Path, environ: Mapping[str, str] = os.environ) -> Toolchain:
    """The toolchain cargo will use in ``workspace`` with ``environ``, from the cache when nothing
    could have changed it.

    Raises ToolchainError when cargo or rustc is missing or prints no version.
    """
    cache = Layout(out_dir).cache("toolchain.json")
    known = ""  # the sysroot of the toolchain last read
    try:
        cached = json.loads(cache.read_text())
        toolchain = Toolchain(**{**cached["toolchain"], "cfg": tuple(cached["toolchain"]["cfg"])})
        known = toolchain.sysroot
    except (OSError, ValueError, KeyError, TypeError):
        cached = None  # no cache or an unreadable one: ask the tools
    before = _cache_key(cargo, workspace, environ, known)
    if cached is not None and cached.get("key") == before:
        return toolchain
    cargo_fields = _run_version(cargo, workspace, environ)
    rustc = environ.get("RUSTC", "rustc")
    rustc_fields = _run_version(rustc, workspace, environ)
    # rustc prints what it is asked for in that order: the sysroot's one line, then the cfg set.
    printed = run_tool(rustc, ["--print", "sysroot", "--print", "cfg", "-O"], workspace, environ).stdout.splitlines()
    toolchain = Toolchain(
        cargo=cargo_fields["release"],
        rustc=rustc_fields["release"],
        host=rustc_fields.get("host", "unknown"),
        llvm=rustc_fields.get("LLVM version", "unknown"),
        commit=rustc_fields.get("commit-hash", "unknown"),
        cfg=tuple(line for line in printed[1:] if line),
        sysroot=printed[0] if printed else "",
    )
    # Kept unless something changed while the tools ran: which toolchain did they answer for?
    if _cache_key(cargo, workspace, environ, known) == before:
        key = _cache_key(cargo, workspace, environ, toolchain.sysroot)
        _fs.write_atomic(cache, json.dumps({"key": key, "toolchain": asdict(toolchain)}).encode())
    return toolchain


# The cargo features each method relies on, with the release that added them.
MINIMUM_CARGO = {
    "--config on the command line": Version("1.63"),
    "cargo rustc --crate-type": Version("1.64"),
}
METHOD_NEEDS = {
    "staticlib": ("--config on the command line", "cargo rustc --crate-type"),
    "together": ("--config on the command line",),
}


# The cargo release that first builds each edition.
EDITION_NEEDS = {"2015": Version("1.0"), "2018": Version("1.31"), "2021": Version("1.56"), "2024": Version("1.85")}


def check_editions(toolchain: Toolchain, crates: Iterable[Crate]) -> None:
    """Raise ToolchainError, before any build, for a crate whose edition this cargo cannot build."""
    for crate in crates:
        needed = EDITION_NEEDS.get(crate.edition)
        if needed is None or toolchain.cargo_version < needed:
            raise ToolchainError(
                f"{crate.manifest_dir / 'Cargo.toml'}: crate {crate.name!r} is edition {crate.edition}, "
                f"which needs cargo {needed or 'newer than this'}; this cargo is {toolchain.cargo}",
                hint="update Rust (rustup update), or point tool.buildlib.cargo at a newer cargo",
            )


def check_method_supported(toolchain: Toolchain, method: str, where: str) -> None:
    """Raise ToolchainError when cargo is too old for ``method`` (``where`` names the class key)."""
    for feature in METHOD_NEEDS.get(method, ()):
        needed = MINIMUM_CARGO[feature]
        if toolchain.cargo_version < needed:
            raise ToolchainError(
                f"{where}: method {method!r} needs {feature} (cargo {needed}), this cargo is {toolchain.cargo}",
                hint="update Rust (rustup update) or choose another method",
            )
