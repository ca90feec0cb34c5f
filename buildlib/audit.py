"""Duplicate-definition audit of a link line, before the linker runs.

Every Rust staticlib carries std, and each archive built on a shared runtime
carries that runtime too, so many symbols are defined by several archives on
one line. With a static link the linker takes the first definition it needs
and never looks at the others. That is harmless for identical std copies, but
it also decides *which copy of a runtime* the program runs: the report names the
winner of each shared runtime. Real conflicts are errors: an expected export
defined by two archives, and LTO combinations whose std copies collide (F4).

Symbols come from each verified archive's index; a member's name tells which
crate its code came from (``<crate>-<16 hex>.…rcgu.o``). They are read once, when
the archive is verified (``link_symbols``), and kept in its report, so a link
reads no archive: std's members, nearly all of every index, are left out then.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .guards import lto_line_problem
from .records import LinkSymbols, Origin

if TYPE_CHECKING:
    from .archive import Archive
    from .store import StoreEntry

# Crates of the Rust standard library that every std staticlib carries.
STD_CRATES = frozenset(
    {
        "std", "core", "alloc", "compiler_builtins", "panic_unwind", "panic_abort", "unwind", "addr2line",
        "gimli", "object", "memchr", "adler", "adler2", "miniz_oxide", "rustc_demangle", "hashbrown",
        "std_detect", "cfg_if", "libc", "rustc_std_workspace_core", "rustc_std_workspace_alloc",
    }
)  # fmt: skip
_ORIGIN = re.compile(r"([A-Za-z0-9_]+)-([0-9a-f]{16})\.")
# compiler_builtins' C objects (compiler-rt): "<16 hex>-absvdi2.o".
_BUILTINS_C = re.compile(r"^([0-9a-f]{16})-[A-Za-z0-9_]+\.o$")
# rustc writes an allocator shim (and personality reference) into every staticlib, under the
# staticlib's own crate: identical across archives, like std.
SHIMS = "rustc shims"
# A weak, hidden COMDAT pointer to the personality routine that every unwinding object carries.
_COMDAT_REFERENCE = "DW.ref."


@functools.cache
def member_origin(member: str) -> Origin:
    """(crate, hash) of the crate whose code an archive member holds, None for a non-Rust member."""
    builtins = _BUILTINS_C.match(member)
    if builtins:
        return ("compiler_builtins", builtins.group(1))
    found = _ORIGIN.findall(member)
    return (found[-1][0], found[-1][1]) if found else None


def link_symbols(archive: Archive) -> LinkSymbols:
    """Read what the audit needs from an archive's index and member names."""
    origins = [member_origin(member.name) for member in archive.members]
    outside_std = {i for i, origin in enumerate(origins) if origin is None or origin[0] not in STD_CRATES}
    symbols = tuple((name, origins[position]) for name, position in archive.index_entries(outside_std))
    builds = tuple(sorted({origin for origin in origins if origin is not None}))
    return LinkSymbols(symbols=symbols, builds=builds)


@dataclass(frozen=True, kw_only=True, slots=True)
class SharedCrate:
    """Symbols of one crate build defined by several archives; the first archive's copy wins."""

    crate: str
    hash: str
    archives: tuple[str, ...]
    symbols: int

    @property
    def winner(self) -> str:
        return self.archives[0]


@dataclass(kw_only=True, slots=True)
class Audit:
    std_carriers: int = 0
    std: list[SharedCrate] = field(default_factory=list)
    runtimes: list[SharedCrate] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        """One line for a link that may go ahead (the detail is in link-audit.json), then any warnings."""
        parts = []
        if self.std_carriers > 1 or self.std:
            shims = sum(shared.symbols for shared in self.std)
            same = f" and the same {shims} rustc shim symbols" if shims else ""
            parts.append(f"{self.std_carriers} archives carry std{same} (the linker takes the first)")
        groups: dict[tuple[tuple[str, ...], str], list[SharedCrate]] = {}
        for shared in self.runtimes:
            groups.setdefault((tuple(shared.archives), shared.winner), []).append(shared)
        for (archives, winner), crates in groups.items():
            names = [shared.crate for shared in crates]
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            symbols = sum(shared.symbols for shared in crates)
            parts.append(
                f"{shown} ({symbols} symbols) carried by {', '.join(archives)}: the program runs {winner}'s "
                f"cop{'y' if len(names) == 1 else 'ies'}"
            )
        lines = [f"audit: {'; '.join(parts)}"] if parts else []
        return lines + [f"audit: warning: {warning}" for warning in self.warnings]

    def detail(self) -> list[str]:
        """Every crate build the archives share, one line each (what ``summary`` counts)."""
        return [
            f"audit: {shared.crate}{f' ({shared.hash})' if shared.hash else ''}: {shared.symbols} symbols "
            f"in {', '.join(shared.archives)}; the linker takes {shared.winner}'s"
            for shared in [*self.std, *self.runtimes]
        ]


def audit_line(entries: Sequence[StoreEntry], *, lib_names: dict[str, str], workspace_crates: frozenset[str]) -> Audit:
    """Audit the verified archives of a link line (in link order).

    ``lib_names`` maps each entry's crate to its library name; ``workspace_crates``
    are the workspace's library names: one build of such a crate carried by
    several archives is a runtime whose winning copy is reported, several
    builds of it are several copies of its state.
    """
    audit = Audit()
    problem = lto_line_problem([(entry.name, entry.lto_passed, entry.sealed) for entry in entries])
    if problem is not None:
        audit.conflicts.append(f"{problem.message}; {problem.hint}")

    definers: dict[str, list[tuple[str, Origin]]] = {}
    builds: dict[str, dict[str, list[str]]] = {}  # workspace crate -> hash -> archives carrying it
    for entry in entries:
        carried = entry.link_symbols.builds
        audit.std_carriers += any(crate == "std" for crate, _ in carried)
        for crate, hash_ in carried:
            if crate in workspace_crates:
                builds.setdefault(crate, {}).setdefault(hash_, []).append(entry.name)
        seen: set[str] = set()
        for symbol, origin in entry.link_symbols.symbols:
            if symbol not in seen:  # an index may list one name for several members: the first counts
                seen.add(symbol)
                definers.setdefault(symbol, []).append((entry.name, origin))

    exporters = {name: entry.name for entry in entries for name in entry.exports}
    shared: dict[tuple[str, str, tuple[str, ...]], int] = {}
    for symbol, where in definers.items():
        crates = tuple(dict.fromkeys(crate for crate, _ in where))
        if len(crates) < 2:
            continue
        origins = {origin for _, origin in where}
        if symbol in exporters:
            audit.conflicts.append(f"export {symbol} (of {exporters[symbol]}) is defined by {', '.join(crates)}")
        elif len(origins) == 1 and None not in origins:
            crate, hash_ = where[0][1]  # type: ignore[misc]
            shared[(crate, hash_, crates)] = shared.get((crate, hash_, crates), 0) + 1
        elif symbol.startswith(_COMDAT_REFERENCE) or all(
            origin is not None and origin[0] == lib_names.get(crate) for crate, origin in where
        ):
            shared[(SHIMS, "", crates)] = shared.get((SHIMS, "", crates), 0) + 1
        else:
            audit.warnings.append(f"{symbol} is defined by {', '.join(crates)}; {crates[0]}'s definition wins")
    for (crate, hash_, crates), count in sorted(shared.items()):
        bucket = audit.std if crate in STD_CRATES or crate == SHIMS else audit.runtimes
        bucket.append(SharedCrate(crate=crate, hash=hash_, archives=crates, symbols=count))

    for crate, by_hash in sorted(builds.items()):
        if len(by_hash) > 1:
            copies = "; ".join(f"{h} in {', '.join(archives)}" for h, archives in by_hash.items())
            # An error, not a warning: the program would run with two copies of its state (two runtimes).
            audit.conflicts.append(
                f"{crate} is built {len(by_hash)} different ways ({copies}): the program would get one copy of its "
                'global state per build; build every crate that uses it in one class with method = "bundle" '
                "(one archive, one copy)"
            )
    return audit
