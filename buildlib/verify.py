"""Proving from an archive's bytes that each expected export can satisfy a link.

For each expected name the verifier finds the members that can define it
(those the index names, and any whose bytes contain the name), reads their
symbol tables, and makes one decision over all of them. It never runs ``nm``:
GNU nm and llvm-nm 14 print nothing for objects that carry LLVM 22 bitcode
beside their machine code, although those link fine (F1).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .archive import Archive, Member
from .errors import ArchiveError
from .objfile import ObjectSymbols, detect_format, read_symbols, symbol_prefix

Status = Literal["ok", "missing", "local", "hidden", "undefined", "bitcode-only", "not-indexed"]

# When members disagree, the best evidence wins: one member that can satisfy the link decides.
_PRECEDENCE: tuple[Status, ...] = ("ok", "hidden", "not-indexed", "bitcode-only", "local", "undefined")

# An indexed member that defines the name settles these; anything else needs every member.
_SETTLED_BY_INDEX: frozenset[Status] = frozenset({"ok", "hidden", "bitcode-only"})

REASONS: dict[str, str] = {
    "ok": "defined, global and indexed",
    "missing": "no member defines or mentions it",
    "local": "defined only as a local symbol (internalized, e.g. by LTO); a link cannot use it",
    "hidden": "defined with hidden visibility: fine in an executable, not exported from a shared library",
    "undefined": "only referenced, never defined",
    "bitcode-only": "defined only in LLVM bitcode; a native linker cannot use it (built with -Clinker-plugin-lto?)",
    "not-indexed": "defined, but the archive index has no entry for it (run ranlib / llvm-ar s)",
}

HINTS: dict[str, str] = {
    "ok": "",
    "missing": "export it with #[no_mangle] or #[export_name], or check the archive is this crate's",
    "local": 'build the crate so cargo does not internalize it: lto = "off", or method = "staticlib"',
    "hidden": "give it default visibility if a shared library must export it",
    "undefined": "link the archive of the crate that defines it",
    "bitcode-only": "drop -Clinker-plugin-lto (or link with an LTO-aware linker plugin of the same LLVM)",
    "not-indexed": "add an index: ranlib ARCHIVE, or llvm-ar s ARCHIVE",
}
EMBEDDED_BITCODE_NOTE = (
    "members carry embedded LLVM bitcode (.llvmbc / __LLVM) beside their machine code: harmless to a "
    "native link, but why an nm built on an older LLVM prints no symbols for them"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SymbolResult:
    name: str
    status: Status
    member: str | None
    reason: str
    hint: str


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyResult:
    archive: str
    format: str
    shared: bool
    symbols: tuple[SymbolResult, ...]
    embedded_bitcode: bool

    @property
    def failures(self) -> list[SymbolResult]:
        return [s for s in self.symbols if not is_linkable(s.status, shared=self.shared)]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, object]:
        return {
            "archive": self.archive,
            "format": self.format,
            "ok": self.ok,
            "shared": self.shared,
            "embedded_bitcode": self.embedded_bitcode,
            "symbols": [
                {"name": s.name, "status": s.status, "member": s.member, "reason": s.reason, "hint": s.hint}
                for s in self.symbols
            ],
        }


def is_linkable(status: Status, *, shared: bool) -> bool:
    return status == "ok" or (status == "hidden" and not shared)


def verify_archive(archive: Archive, expected: Iterable[str], *, shared: bool = False) -> VerifyResult:
    """Decide, for every expected export, whether ``archive`` can satisfy a link against it.

    Every name is decided before anything is reported. Raises ArchiveError when
    a member that must be read is corrupt.
    """
    cache: dict[int, ObjectSymbols] = {}

    def symbols_of(member: Member) -> ObjectSymbols:
        if member.index not in cache:
            cache[member.index] = read_symbols(archive.member_data(member), f"{archive.path}({member.name})")
        return cache[member.index]

    results = []
    for name in sorted(set(expected)):
        indexed = _indexed(archive, name)
        # The index names the members to parse; when they settle the question, the
        # other members (a Rust staticlib has hundreds) are never read.
        result = _decide(
            name, [(archive.members[i], symbols_of(archive.members[i])) for i in sorted(indexed)], indexed, archive
        )
        if result.status not in _SETTLED_BY_INDEX:
            candidates = {m.index: m for m in archive.find_bytes(name.encode())}
            candidates.update({i: archive.members[i] for i in indexed})
            result = _decide(name, [(m, symbols_of(m)) for m in candidates.values()], indexed, archive)
        results.append(result)

    return VerifyResult(
        archive=archive.path,
        format=archive_format(archive),
        shared=shared,
        symbols=tuple(results),
        embedded_bitcode=any(objects.embedded_bitcode for objects in cache.values()),
    )


def _indexed(archive: Archive, name: str) -> set[int]:
    """Members the index lists for the C name ``name``: as ``_name`` where the format adds ``_`` (Mach-O)."""
    return {
        position
        for prefix in ("", "_")
        for position in archive.lookup(prefix + name)
        if symbol_prefix(archive.member_head(archive.members[position])) == prefix
    }


def archive_format(archive: Archive) -> str:
    """The native object format of the archive's members (``bitcode`` when it has no other)."""
    seen = "unknown"
    for member in archive.members:
        kind = detect_format(archive.member_head(member))
        if kind in ("elf", "macho", "coff"):
            return kind
        if kind == "bitcode":
            seen = kind
    return seen


def _decide(
    name: str, candidates: list[tuple[Member, ObjectSymbols]], indexed: set[int], archive: Archive
) -> SymbolResult:
    found: dict[Status, str] = {}
    for member, objects in candidates:
        if objects.format == "bitcode":
            # Every candidate is indexed for the name or contains it: a bitcode one "defines" it.
            found.setdefault("bitcode-only", member.name)
            continue
        for symbol in objects.named(name):
            if not symbol.defined:
                found.setdefault("undefined", member.name)
            elif symbol.binding == "local":
                found.setdefault("local", member.name)
            elif archive.kind != "object" and member.index not in indexed:
                found.setdefault("not-indexed", member.name)
            elif symbol.visibility in ("hidden", "internal"):
                found.setdefault("hidden", member.name)
            else:
                found.setdefault("ok", member.name)
    for status in _PRECEDENCE:
        if status in found:
            return SymbolResult(
                name=name, status=status, member=found[status], reason=REASONS[status], hint=HINTS[status]
            )
    return SymbolResult(name=name, status="missing", member=None, reason=REASONS["missing"], hint=HINTS["missing"])


def format_failures(label: str, result: VerifyResult) -> str:
    """The message that stops a link: ``label`` (the task), and each export that cannot link, with why."""
    lines = [
        f"{label}: {len(result.failures)} of {len(result.symbols)} expected exports cannot be linked from {result.archive}"
    ]
    for symbol in result.failures:
        where = f" (in {symbol.member})" if symbol.member else ""
        lines.append(f"  {symbol.name}: {symbol.status}{where}: {symbol.reason}")
    return "\n".join(lines)


def snapshot_exports(archive: Archive, pattern: str = "*") -> list[str]:
    """The exports really present: C names (Mach-O's leading ``_`` removed) of indexed symbols
    matching ``pattern`` that can satisfy a link. The list is sorted, ready to commit as an
    exports file (an ABI baseline for the C surface).

    Raises ArchiveError for an archive without a symbol index (the linker takes nothing from it:
    an empty baseline would pass every later check) and when nothing matches ``pattern``.
    """
    if archive.kind == "object":  # a linker takes a plain object whole: every global definition counts
        symbols = read_symbols(archive.member_data(archive.members[0]), archive.members[0].name).symbols
        candidates = {s.name for s in symbols if s.defined and s.binding != "local"}
    elif not archive.has_index:
        raise ArchiveError(
            f"{archive.path}: the archive has no symbol index, so a linker takes no export from it",
            hint=f"add one (ranlib {archive.path}) and snapshot again",
        )
    else:
        candidates = {_c_name(archive, name, positions) for name, positions in archive.index.items()}
    candidates = {name for name in candidates if fnmatch.fnmatchcase(name, pattern)}
    result = verify_archive(archive, sorted(candidates))
    names = [s.name for s in result.symbols if s.status in ("ok", "hidden")]
    if not names:
        raise ArchiveError(
            f"{archive.path}: no linkable export matches {pattern!r}; an empty baseline would check nothing",
            hint="check the pattern and that this is the crate's archive",
        )
    return names


def _c_name(archive: Archive, name: str, positions: tuple[int, ...]) -> str:
    """An index entry's C name: without the prefix its member's object format adds (Mach-O's ``_``)."""
    prefix = symbol_prefix(archive.member_head(archive.members[positions[0]])) if positions else ""
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name
