"""The documents buildlib writes in the output directory and reads back (build records, verify
reports with their link symbols, the link audit); where each lives is ``layout``'s.

Every other module reads or writes a document through here. A
document carries a format version, checked on every read: one that is missing,
from another buildlib or damaged is one clear error (``StoreError`` for a report,
``BuildError`` for a record), never a ``KeyError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, cast

from . import _fs
from .errors import BuildError, StoreError
from .layout import Layout

# Bumped when a document changes: what an older buildlib wrote is then built or verified again.
RECORD_FORMAT = 7
REPORT_FORMAT = "7"


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheStats:
    """What one cargo call's rustc calls did in the cache: sccache's counters over that call."""

    tool: str
    hits: int
    misses: int
    # Calls sccache did not look up, by its reason ("crate-type" for build scripts and proc-macros, ...).
    not_cached: dict[str, int] = field(default_factory=dict)
    # Failed reads, writes and timeouts of the storage: a shared cache that is not being filled.
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "hits": self.hits,
            "misses": self.misses,
            "not_cached": dict(sorted(self.not_cached.items())),
            "errors": self.errors,
        }

    @classmethod
    def from_dict(cls, data: Any) -> CacheStats:
        """Raises KeyError, TypeError or ValueError for data ``to_dict`` did not write."""
        return cls(
            tool=str(data["tool"]),
            hits=int(data["hits"]),
            misses=int(data["misses"]),
            not_cached={str(k): int(v) for k, v in data["not_cached"].items()},
            errors=int(data["errors"]),
        )

    def minus(self, before: CacheStats) -> CacheStats:
        """The counts added since ``before``."""
        reasons = {k: v - before.not_cached.get(k, 0) for k, v in self.not_cached.items()}
        return CacheStats(
            tool=self.tool,
            hits=self.hits - before.hits,
            misses=self.misses - before.misses,
            not_cached={k: v for k, v in reasons.items() if v},
            errors=self.errors - before.errors,
        )

    def describe(self) -> str:
        """``3 hits, 1 miss``, and the cache errors when there are any (the calls it would not
        cache, mostly cargo's own questions to rustc, are in the record only)."""
        text = f"{self.hits} hit{'s' * (self.hits != 1)}, {self.misses} miss{'es' * (self.misses != 1)}"
        return text + (f", {self.errors} cache error{'s' * (self.errors != 1)}" if self.errors else "")


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildRecord:
    """What one build of one staticlib was: written next to the archive as JSON."""

    name: str  # the staticlib's: its crate, or its bundle class
    routing_class: str
    method: str
    lto: str
    # What cargo passed to rustc for this staticlib: "thin", "fat", "off", or None for no -C lto.
    # None in lto_passed with lto_observed False means cargo reused a fresh build and printed no command.
    lto_passed: str | None
    lto_observed: bool
    lto_applied: bool
    command: tuple[str, ...]
    # Run in ``cwd`` with these variables set (None: removed) over the user's environment:
    # re-running that reproduces the build (cargo then finds every unit fresh).
    env: dict[str, str | None]
    cwd: str
    toolchain: str
    artifact: str
    native_static_libs: tuple[str, ...]
    sources: tuple[str, ...]
    # What `#[cfg(...)]` on an export saw: the toolchain's cfg set, and each crate's enabled features.
    cfg: tuple[str, ...]
    features: dict[str, tuple[str, ...]]
    # Units of the cargo call: found fresh, and compiled (0 compiled: cargo had nothing to do).
    units_fresh: int
    units_compiled: int
    built_at: str
    seconds: float
    # Where native_static_libs came from: "rustc" (its --print for this archive) or "probe" (with a
    # compile cache: the toolchain probe and the build scripts' link requests, see nativelibs).
    native_static_libs_source: str = "rustc"
    # What the compile cache did for the cargo call (every staticlib of the call has the same), or None.
    cache: CacheStats | None = None
    # (size, mtime_ns) of cargo's artifact when it was installed, and (size, mtime_ns, inode) of the
    # build's file (a hard link to it, or a copy): while both still hold, a later cargo call that
    # found the unit fresh leaves file and record be.
    artifact_identity: tuple[int, int] = (0, 0)
    built_identity: tuple[int, int, int] = (0, 0, 0)
    # SHA-256 of the build's file, hashed when it was staged: the store names the archive by it.
    built_sha256: str = ""
    format: int = RECORD_FORMAT

    def to_dict(self) -> dict[str, Any]:
        # Field by field: dataclasses.asdict copies every nested value, a cost paid per archive.
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["cache"] = self.cache.to_dict() if self.cache else None
        return data

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2).encode() + b"\n"

    @classmethod
    def from_dict(cls, data: Any) -> BuildRecord:
        """Raises ValueError, TypeError or KeyError for data this buildlib did not write."""
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, this buildlib reads {RECORD_FORMAT}")
        data = dict(data)
        for key in ("command", "native_static_libs", "sources", "cfg"):
            data[key] = tuple(data[key])
        data["features"] = {crate: tuple(features) for crate, features in data["features"].items()}
        data["cache"] = CacheStats.from_dict(data["cache"]) if data.get("cache") is not None else None
        size, mtime = (int(n) for n in data["artifact_identity"])
        built_size, built_mtime, inode = (int(n) for n in data["built_identity"])
        data["artifact_identity"], data["built_identity"] = (size, mtime), (built_size, built_mtime, inode)
        return cls(**data)

    @classmethod
    def from_file(cls, path: Path) -> BuildRecord:
        """Raises BuildError when the record is missing, from another buildlib, or damaged."""
        try:
            return _read_once(path, lambda raw: cls.from_dict(json.loads(raw)))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
            raise BuildError(
                f"{path}: unreadable build record ({e})",
                hint="run the build again: a build record that changed makes its crate build again",
            ) from e


Origin = tuple[str, str] | None  # (crate, metadata hash) of an archive member, None when unknown


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkSymbols:
    """What the link audit needs of one archive: its indexed symbols outside std, each with the
    (crate, hash) its member came from, and every Rust crate build the archive carries."""

    symbols: tuple[tuple[str, Origin], ...]
    builds: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {"symbols": [[name, *(origin or (None, None))] for name, origin in self.symbols], "builds": self.builds}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinkSymbols:
        """Raises KeyError, TypeError or ValueError for data not written by ``to_json``."""
        symbols = tuple(
            (str(name), (str(crate), str(hash_)) if crate else None) for name, crate, hash_ in data["symbols"]
        )
        return cls(symbols=symbols, builds=tuple((str(crate), str(hash_)) for crate, hash_ in data["builds"]))


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyReport:
    """A verified-store entry's report: which archive passed, for which exports, from which build.

    Its rename into place is the store's commit point (``store.promote``).
    """

    name: str  # the staticlib's
    crates: tuple[str, ...]  # the crates it carries
    routing_class: str
    verified_at: str
    archive_file: str  # the content-addressed archive's file name, beside the report
    archive_sha256: str
    archive_size: int
    # (size, mtime_ns, inode) when verified: unchanged, the bytes are unchanged for a file nobody
    # rewrites, so the link checks this and hashes only when it differs.
    archive_identity: tuple[int, int, int]
    native_static_libs: tuple[str, ...]
    build: BuildRecord
    undecided: tuple[dict[str, Any], ...]  # expectations the source scan could not decide
    verify: dict[str, Any]  # the verify result (``VerifyResult.to_dict``)
    link_symbols: LinkSymbols
    sealed: bool = False  # the store holds the sealed archive: only the verified C surface is global

    @property
    def exports(self) -> tuple[str, ...]:
        """The expected exports it was verified for."""
        return tuple(str(symbol["name"]) for symbol in self.verify["symbols"])

    @property
    def exports_ok(self) -> int:
        return sum(symbol["status"] == "ok" for symbol in self.verify["symbols"])

    def to_json(self) -> bytes:
        data = {
            "format": REPORT_FORMAT,
            "name": self.name,
            "crates": list(self.crates),
            "class": self.routing_class,
            "verified_at": self.verified_at,
            "archive_file": self.archive_file,
            "archive_sha256": self.archive_sha256,
            "archive_size": self.archive_size,
            "archive_identity": list(self.archive_identity),
            "native_static_libs": list(self.native_static_libs),
            "build": self.build.to_dict(),
            "undecided": list(self.undecided),
            "verify": self.verify,
            "link_symbols": self.link_symbols.to_json(),
            "sealed": self.sealed,
        }
        return json.dumps(data, indent=2).encode() + b"\n"


# Each document read in this process, by path: (size, mtime_ns, ctime_ns, inode) when read, and what it held.
_read: dict[Path, tuple[tuple[int, int, int, int], Any]] = {}
_T = TypeVar("_T")


def _read_once(path: Path, parse: Callable[[bytes], _T]) -> _T:
    """``parse`` of the bytes of ``path``, parsed once per version of the file in this process (the
    link and its status table read every record and report). buildlib replaces every document it
    writes by rename; any write changes the change time too, which no one can set back, so
    (size, mtime_ns, ctime_ns, inode) of the open file names the version read."""
    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        version = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
        known = _read.get(path)
        if known is not None and known[0] == version:
            return cast(_T, known[1])
        value = parse(handle.read())
    _read[path] = (version, value)
    return value


def read_report(path: Path) -> VerifyReport:
    """The report at ``path``, its format checked.

    Raises StoreError (one line, with a hint) when it is missing, from another
    buildlib, or damaged.
    """
    hint = "verify the crate again: its next build or verify task writes a new report"
    try:
        return _read_once(path, lambda raw: _report_from(path, raw, hint))
    except FileNotFoundError as e:
        raise StoreError(f"{path}: no verified archive yet", hint=hint) from e
    except OSError as e:
        raise StoreError(f"{path}: unreadable verify report ({e})", hint=hint) from e


def _report_from(path: Path, raw: bytes, hint: str) -> VerifyReport:
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise StoreError(f"{path}: unreadable verify report ({e})", hint=hint) from e
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise StoreError(f"{path}: verify report of format {found!r}, this buildlib reads {REPORT_FORMAT!r}", hint=hint)
    try:
        name = str(data["archive_file"])
        if Path(name).name != name or name in (".", ".."):
            raise ValueError(f"archive_file {name!r} is not a file name")
        identity = [int(n) for n in data["archive_identity"]]
        return VerifyReport(
            name=str(data["name"]),
            crates=tuple(str(crate) for crate in data["crates"]),
            routing_class=str(data["class"]),
            verified_at=str(data["verified_at"]),
            archive_file=name,
            archive_sha256=str(data["archive_sha256"]),
            archive_size=int(data["archive_size"]),
            archive_identity=(identity[0], identity[1], identity[2]),
            native_static_libs=tuple(str(lib) for lib in data["native_static_libs"]),
            build=BuildRecord.from_dict(data["build"]),
            undecided=tuple(dict(u) for u in data["undecided"]),
            verify=dict(data["verify"]),
            link_symbols=LinkSymbols.from_json(data["link_symbols"]),
            sealed=bool(data["sealed"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise StoreError(f"{path}: unreadable verify report ({type(e).__name__}: {e})", hint=hint) from e


def write_report(path: Path, report: VerifyReport) -> None:
    """Write ``report`` through a synced temporary file and a rename: the store's commit point."""
    _fs.write_atomic(path, report.to_json())


def write_audit(layout: Layout, audit: dict[str, Any]) -> Path:
    """The last link audit, as JSON: people read it, nothing reads it back."""
    _fs.write_atomic(layout.audit, json.dumps(audit, indent=2).encode())
    return layout.audit


# The -C lto rustc got for an archive, kept beside the archive in cargo's target directory: it
# outlives the output directory (`doit clean`, `rm -rf build`), and cargo, finding the build
# fresh, prints no rustc command to read it from again. Valid while the archive is the same file.
LTO_EVIDENCE_FORMAT = 1


def _lto_evidence_path(artifact: Path) -> Path:
    return artifact.with_name(f".{artifact.name}.buildlib-lto.json")


def write_lto_evidence(artifact: Path, lto_passed: str | None) -> None:
    """Remember that rustc got ``-C lto=lto_passed`` (None: no -C lto) for this ``artifact`` as it is now."""
    document = {"format": LTO_EVIDENCE_FORMAT, "archive": list(_fs.identity(artifact)[:2]), "lto_passed": lto_passed}
    _fs.write_atomic(_lto_evidence_path(artifact), json.dumps(document).encode())


def read_lto_evidence(artifact: Path) -> tuple[bool, str | None]:
    """(observed, lto_passed) for ``artifact``: observed only while it is the file the evidence was
    written for; anything missing, older or damaged is simply not evidence."""
    try:
        document = json.loads(_lto_evidence_path(artifact).read_text(encoding="utf-8"))
        if document["format"] == LTO_EVIDENCE_FORMAT and document["archive"] == list(_fs.identity(artifact)[:2]):
            passed = document["lto_passed"]
            if passed is None or isinstance(passed, str):
                return True, passed
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return False, None
