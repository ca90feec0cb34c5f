"""The verified store: archives that passed verification, each with its report.

An archive enters the store only through ``promote``; its report, written through a synced
temporary file and a rename, is the commit point and names the archive's size, identity and
SHA-256. The store's archive is one more hard link to the file cargo wrote (build.install_archives
gave it its name in the output directory, hashing it), so no bytes are copied: rustc, cargo and
sccache write a rebuilt archive as a new file renamed into place and leave this one be. Where hard
links fail, or the build's file is no longer the one its record describes, the archive is copied.

Someone who rewrites one of those names in place (``cp other.a target/release/libx.a``) rewrites
them all: the link reads only store entries, ``load_entry`` refuses an entry whose archive does
not match its report, and the next build sees the file touched, removes cargo's names of it and
has cargo build it again (build.run_unit).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from . import _fs
from .errors import StoreError
from .plan import Staticlib
from .records import BuildRecord, LinkSymbols, VerifyReport, read_report, write_report

if TYPE_CHECKING:
    from .exports import ExportScan
    from .verify import VerifyResult


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreEntry:
    name: str  # the staticlib's: its crate, or its bundle class
    archive: Path
    report: Path
    native_static_libs: tuple[str, ...]
    sha256: str
    exports: tuple[str, ...]  # the expected exports it was verified for
    built_at: str  # of the build that was verified
    lto_passed: str | None  # what cargo passed to rustc for it (None: no -C lto, or not observed)
    link_symbols: LinkSymbols  # what the link audit needs, read when it was verified
    sealed: bool = False  # only its verified C surface is global: its LTO mode collides with nothing


def _entry(staticlib: Staticlib, report: VerifyReport) -> StoreEntry:
    return StoreEntry(
        name=staticlib.name,
        archive=staticlib.report.parent / report.archive_file,
        report=staticlib.report,
        native_static_libs=report.native_static_libs,
        sha256=report.archive_sha256,
        exports=report.exports,
        built_at=report.build.built_at,
        lto_passed=report.build.lto_passed,
        link_symbols=report.link_symbols,
        sealed=report.sealed,
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def promote(
    staticlib: Staticlib,
    record: BuildRecord,
    result: VerifyResult,
    scan: ExportScan,
    symbols: LinkSymbols,
    *,
    sealed: bool = False,
) -> StoreEntry:
    """Commit a verified archive (the built one, or with ``sealed`` the sealed one) and its report
    into the store; the previous entry stays whole until the report rename. The archive is named
    after the SHA-256 of its bytes (``_store_archive``); the report records that name and the
    file's identity, which ``load_entry`` checks before a link uses it."""
    archive, sha256 = _store_archive(staticlib, record, sealed=sealed)
    identity = _fs.identity(archive)
    report = VerifyReport(
        name=staticlib.name,
        crates=tuple(crate.name for crate in staticlib.crates),
        routing_class=staticlib.routing_class.name,
        verified_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        archive_file=archive.name,
        archive_sha256=sha256,
        archive_size=identity[0],
        archive_identity=identity,
        native_static_libs=record.native_static_libs,
        build=record,
        undecided=tuple({"file": str(u.file), "line": u.line, "reason": u.reason} for u in scan.undecided),
        verify=result.to_dict(),
        link_symbols=symbols,
        sealed=sealed,
    )
    write_report(staticlib.report, report)  # the commit point
    _fs.symlink_atomic(archive.name, staticlib.verified_archive)
    for stale in staticlib.verified_archive.parent.glob(f"{staticlib.verified_archive.stem}-*.a"):
        if stale != archive:
            stale.unlink(missing_ok=True)
    _fs.remove_temporaries_in(staticlib.report.parent)  # a killed promotion's (the entry is buildlib's alone)
    return _entry(staticlib, report)


def _store_archive(staticlib: Staticlib, record: BuildRecord, *, sealed: bool) -> tuple[Path, str]:
    """The archive's content-addressed file in the store, and its SHA-256: a hard link to the
    build's file while that is the one the record describes, a copy otherwise."""
    target = staticlib.verified_archive
    source = staticlib.sealed if sealed else staticlib.built
    directory, stem, suffix = target.parent, target.stem, target.suffix
    if not sealed and record.built_sha256 and _fs.identity(source) == record.built_identity:
        try:
            return _fs.link_content_addressed(source, directory, stem, suffix, record.built_sha256), record.built_sha256
        except OSError as e:
            if e.errno not in _fs.NO_HARD_LINKS:
                raise
    return _fs.copy_content_addressed(source, directory, stem, suffix)


def load_entry(staticlib: Staticlib, *, hint: str) -> StoreEntry:
    """The store entry of ``staticlib``, checked against its report; ``hint`` says how to verify it again.

    Raises StoreError when the entry is missing, unreadable, from another buildlib,
    or its archive is not the one that was verified.
    """
    try:
        report = read_report(staticlib.report)
    except StoreError as e:
        raise StoreError(f"{staticlib.label}: {e}", hint=hint) from e
    entry = _entry(staticlib, report)
    try:
        if _fs.identity(entry.archive) == report.archive_identity:
            return entry
        actual = file_sha256(entry.archive)
    except OSError as e:
        raise StoreError(
            f"{staticlib.label}: verified archive {entry.archive} is unreadable: {e.strerror}", hint=hint
        ) from e
    if actual != entry.sha256:
        raise StoreError(
            f"{staticlib.label}: {entry.archive} is not the archive that was verified (sha256 differs)", hint=hint
        )
    return entry
