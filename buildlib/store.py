"""The verified store: archives that passed verification, each with its report.

An archive enters the store only through ``promote``: a copy to a temporary
name, fsync, rename; then the report, written the same way, which names the
archive's size and SHA-256. It is a copy, not a hard link, because anyone who
rewrites the built archive in place (``cp other.a build/archives/...``) would
otherwise rewrite the verified one with it. The link reads only store entries, and
``load_entry`` refuses an entry whose archive does not match its report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from . import _fs
from .errors import StoreError
from .plan import Route
from .records import BuildRecord, LinkSymbols, VerifyReport, read_report, write_report

if TYPE_CHECKING:
    from .exports import ExportScan
    from .verify import VerifyResult


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreEntry:
    crate: str
    archive: Path
    report: Path
    native_static_libs: tuple[str, ...]
    sha256: str
    exports: tuple[str, ...]  # the expected exports it was verified for
    built_at: str  # of the build that was verified
    lto_passed: str | None  # what cargo passed to rustc for it (None: no -C lto, or not observed)
    link_symbols: LinkSymbols  # what the link audit needs, read when it was verified


def _entry(route: Route, report: VerifyReport) -> StoreEntry:
    return StoreEntry(
        crate=route.crate.name,
        archive=route.report.parent / report.archive_file,
        report=route.report,
        native_static_libs=report.native_static_libs,
        sha256=report.archive_sha256,
        exports=report.exports,
        built_at=report.build.built_at,
        lto_passed=report.build.lto_passed,
        link_symbols=report.link_symbols,
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def promote(
    route: Route, record: BuildRecord, result: VerifyResult, scan: ExportScan, symbols: LinkSymbols
) -> StoreEntry:
    """Commit a verified archive and its report into the store; the previous entry stays whole until the report rename.

    Raises StoreError when the built archive changed while it was copied.
    """
    target = route.verified_archive
    archive, sha256 = _fs.copy_content_addressed(route.archive, target.parent, target.stem, target.suffix)
    stat = archive.stat()
    report = VerifyReport(
        crate=route.crate.name,
        routing_class=route.routing_class.name,
        verified_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        archive_file=archive.name,
        archive_sha256=sha256,
        archive_size=stat.st_size,
        archive_identity=_identity(stat),
        native_static_libs=record.native_static_libs,
        build=record,
        undecided=tuple({"file": str(u.file), "line": u.line, "reason": u.reason} for u in scan.undecided),
        verify=result.to_dict(),
        link_symbols=symbols,
    )
    write_report(route.report, report)  # the commit point
    _fs.symlink_atomic(archive.name, route.verified_archive)
    for stale in route.verified_archive.parent.glob(f"{route.verified_archive.stem}-*.a"):
        if stale != archive:
            stale.unlink(missing_ok=True)
    return _entry(route, report)


def _identity(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def load_entry(route: Route, *, hint: str) -> StoreEntry:
    """The store entry of ``route``, checked against its report; ``hint`` says how to verify it again.

    Raises StoreError when the entry is missing, unreadable, from another buildlib,
    or its archive is not the one that was verified.
    """
    try:
        report = read_report(route.report)
    except StoreError as e:
        raise StoreError(f"{route.crate.name}: {e}", hint=hint) from e
    entry = _entry(route, report)
    try:
        if _identity(entry.archive.stat()) == report.archive_identity:
            return entry
        actual = file_sha256(entry.archive)
    except OSError as e:
        raise StoreError(
            f"{route.crate.name}: verified archive {entry.archive} is unreadable: {e.strerror}", hint=hint
        ) from e
    if actual != entry.sha256:
        raise StoreError(
            f"{route.crate.name}: {entry.archive} is not the archive that was verified (sha256 differs)", hint=hint
        )
    return entry


def merge_shared(entries: list[StoreEntry]) -> list[StoreEntry]:
    """One entry per distinct archive, in first-seen order: the crates of a bundle share one archive,
    which goes on the link line once, as ``crate-a+crate-b``, with every crate's exports."""
    merged: dict[str, StoreEntry] = {}
    for entry in entries:
        first = merged.get(entry.sha256)
        if first is None:
            merged[entry.sha256] = entry
        else:
            merged[entry.sha256] = dataclasses.replace(
                first, crate=f"{first.crate}+{entry.crate}", exports=first.exports + entry.exports
            )
    return list(merged.values())
