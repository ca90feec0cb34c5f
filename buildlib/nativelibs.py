"""The system libraries a staticlib needs on the final link line (rustc's native-static-libs, F6),
found without asking the crate's own rustc call to print them.

A rustc call with ``--print`` is one sccache will not cache (F14), so with a compile cache
buildlib takes the list from two places that cost no compile of the crate:

- std's libraries, from a probe: an empty staticlib crate compiled once per toolchain, target
  and flags with ``rustc --crate-type staticlib --print native-static-libs``, cached under
  ``OUT/.buildlib/native-libs.json`` beside the toolchain's cache;
- the crates' own link requests, from cargo's ``build-script-executed`` messages
  (``linked_libs``, the ``cargo:rustc-link-lib`` lines of each build script).

rustc's order is kept: the dependencies' libraries (in the reverse of the order cargo ran their
build scripts, as rustc puts a crate before the crates it uses), std's, then the crate's own;
a library rustc bundles into the archive (``static`` without ``-bundle``) is not listed.
What this cannot see: a ``#[link(name = …)]`` attribute in Rust source (no build script says
it), and which of a ``together`` call's dependencies each of its crates really uses (each gets
them all); docs/cache.md says so, and without a cache buildlib still asks rustc itself.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from . import _fs
from .errors import ToolchainError
from .toolchain import run_tool

_PREFIX = "native-static-libs:"


def link_lib_flags(spec: str) -> list[str]:
    """One ``linked_libs`` entry of cargo (``[KIND[:MODIFIERS]=]NAME[:RENAME]``) as rustc prints it
    in native-static-libs; ``[]`` for a static library rustc bundles into the archive."""
    kind_part, sep, name = spec.partition("=")
    if not sep:
        kind_part, name = "dylib", spec
    kind, _, modifiers = kind_part.partition(":")
    name = name.partition(":")[2] or name  # NAME:RENAME links RENAME
    flags = set(modifiers.split(",")) if modifiers else set()
    if kind == "static" and "-bundle" not in flags:
        return []
    if kind == "framework":
        return ["-framework", name]
    return [f"-l:{name}" if "+verbatim" in flags else f"-l{name}"]


def combine(upstream: Iterable[str], std: Sequence[str], own: Iterable[str]) -> tuple[str, ...]:
    """native-static-libs in rustc's order, with consecutive duplicates dropped as rustc does."""
    flags: list[str] = []
    for flag in [*upstream, *std, *own]:
        if not flags or flags[-1] != flag:
            flags.append(flag)
    return tuple(flags)


def staticlib_native_libs(
    std: Sequence[str], build_scripts: Sequence[tuple[str, tuple[str, ...]]], own: set[str], others: set[str]
) -> tuple[str, ...]:
    """The native-static-libs of a staticlib whose own packages are ``own``.

    ``build_scripts`` are (package id, linked_libs) in the order cargo reported them; the
    packages in ``others`` are other staticlibs of the same cargo call, not dependencies.
    """
    upstream = [
        flag
        for package, specs in reversed(build_scripts)
        if package not in own and package not in others
        for spec in specs
        for flag in link_lib_flags(spec)
    ]
    mine = [
        flag for package, specs in build_scripts if package in own for spec in specs for flag in link_lib_flags(spec)
    ]
    return combine(upstream, std, mine)


def probe_std_libs(
    toolchain: str,
    *,
    rustc: str,
    target: str | None,
    flags: Sequence[str],
    cwd: Path,
    cache: Path,
    environ: Mapping[str, str],
) -> tuple[str, ...]:
    """std's native-static-libs for ``toolchain`` (its description), ``target`` (None: the host) and
    rustc ``flags``: from ``cache``, else from compiling an empty staticlib crate once.

    Raises ToolchainError when rustc fails or prints no native-static-libs.
    """
    key = json.dumps([toolchain, rustc, target, list(flags)])
    try:
        known: dict[str, list[str]] = json.loads(cache.read_text())
        if key in known:
            return tuple(known[key])
    except (OSError, ValueError, TypeError):
        known = {}
    with tempfile.TemporaryDirectory(prefix="buildlib-probe-") as scratch:
        source = Path(scratch) / "lib.rs"
        source.write_text("")
        args = ["--crate-type", "staticlib", "--crate-name", "buildlib_probe", "--edition", "2021"]
        args += ["--print", "native-static-libs", "-o", str(Path(scratch) / "libbuildlib_probe.a"), str(source)]
        args += ["--target", target] if target else []
        result = run_tool(rustc, [*args, *flags], cwd, environ)
    found = [line.partition(_PREFIX)[2].split() for line in result.stderr.splitlines() if _PREFIX in line]
    if not found:
        raise ToolchainError(
            f"{rustc} printed no native-static-libs for an empty staticlib crate",
            hint="check RUSTC and the rustc flags; command: " + " ".join([rustc, *args, *flags]),
        )
    libs = found[-1]
    known = known if isinstance(known, dict) else {}
    _fs.write_atomic(cache, json.dumps({**known, key: libs}, indent=2).encode())
    return tuple(libs)
