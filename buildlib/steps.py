"""The operations the tasks run: build a unit, verify a crate into the store, link.

Each raises BuildlibError (with a message naming the crate) on an expected
failure; the doit layer turns that into a failed task.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from .archive import Archive, read_archive
from .audit import audit_line, link_symbols
from .build import run_unit
from .errors import LinkError, VerifyFailed
from .exports import Cfg, ExportScan, read_exports_file, scan_crate, scan_files
from .link import run_link
from .names import TaskNames
from .plan import BuildUnit, Plan, Staticlib
from .records import BuildRecord, write_audit
from .seal import seal_archive
from .status import project_status, status_table
from .store import StoreEntry, load_entry, promote
from .verify import VerifyResult, format_failures, verify_archive
from .workspace import Crate

# Each step writes its summary to ``out`` (stderr: doit shows it as it comes) and its detail to
# ``detail`` (stdout: doit keeps it back unless run with -v 2; buildlib's reporter shows it on failure).


def build_step(
    plan: Plan, unit: BuildUnit, names: TaskNames, *, out: TextIO = sys.stderr, detail: TextIO = sys.stdout
) -> list[BuildRecord]:
    root, label = plan.workspace.root, names.build(unit.name)
    detail.write(f"{label}: {shlex.join(unit.command)}\n")
    detail.flush()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    records = run_unit(
        unit,
        label=label,
        target_dir=plan.workspace.target_dir,
        workspace_files=[root / "Cargo.toml", root / "Cargo.lock"],
        out=out,
    )
    kept = [record.name for record in records if record.built_at < started]
    for record in records:
        if record.name not in kept:
            cache = f"; {record.cache.tool}: {record.cache.describe()}" if record.cache else ""
            out.write(f"{label}: {record.name} built in {record.seconds:.1f}s ({describe_lto(record)}{cache})\n")
    if kept:
        shown = ", ".join(kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
        out.write(f"{label}: {shown}: fresh, archive{'s' * (len(kept) > 1)} and record{'s' * (len(kept) > 1)} kept\n")
    return records


def describe_lto(record: BuildRecord) -> str:
    """Requested and applied LTO as a user reads it: "lto=thin applied", "lto=thin NOT applied: …"."""
    if not record.lto_observed:
        return f"lto={record.lto} requested; cargo reused a fresh build, -C lto not observed"
    if record.lto_applied:
        return f"lto={record.lto} applied"
    passed = f"-C lto={record.lto_passed}" if record.lto_passed else "no -C lto"
    return f"lto={record.lto} NOT applied: cargo passed {passed}"


def crate_sources(record: BuildRecord, crate: Crate) -> list[Path]:
    """The crate's own Rust files among those cargo compiled into the archive (dep-info).

    Path dependencies' files are left out: their exports are expected of their own crates.
    """
    root = crate.manifest_dir
    return sorted(path for path in map(Path, record.sources) if path.suffix == ".rs" and path.is_relative_to(root))


def expected_exports(record: BuildRecord, staticlib: Staticlib) -> ExportScan:
    """What every crate the staticlib carries exports in this build: from the sources it compiled
    (before cargo recorded any, from each crate's source tree), under the build's cfg set and
    that crate's features."""
    scans = []
    for crate in staticlib.crates:
        cfg = Cfg.of(record.cfg, record.features.get(crate.name, ())) if record.cfg else None
        sources = crate_sources(record, crate)
        scans.append(scan_files(sources, cfg) if record.sources else scan_crate(crate.src_path, cfg))
    return ExportScan(
        exports=tuple(e for scan in scans for e in scan.exports),
        undecided=tuple(u for scan in scans for u in scan.undecided),
    )


def expected_names(scan: ExportScan, staticlib: Staticlib) -> list[str]:
    """The scanned exports, less the configuration's ``ignore``, plus its ``expect`` and exports files."""
    extra = [*staticlib.expect, *(name for path in staticlib.exports_files for name in read_exports_file(path))]
    return sorted({name for name in scan.names if name not in staticlib.ignore} | set(extra))


def verify_step(
    staticlib: Staticlib, names: TaskNames, *, out: TextIO = sys.stderr, detail: TextIO = sys.stdout
) -> StoreEntry:
    """Verify the freshly built ``staticlib`` against all its crates' exports and promote it into
    the store.

    Raises VerifyFailed naming each export that cannot link and why; the
    store's previous entry is left as it was.
    """
    started = time.monotonic()
    label = names.verify(staticlib.name)
    record = BuildRecord.from_file(staticlib.record)
    scan = expected_exports(record, staticlib)
    archive = read_archive(staticlib.built)
    result = verify_archive(archive, expected_names(scan, staticlib))
    detail.write("".join(f"{label}: {s.name}: {s.status} ({s.member or 'no member'})\n" for s in result.symbols))
    if not result.ok:
        raise VerifyFailed(
            format_failures(label, result),
            hint="the previous verified archive, if any, is kept; the link will not run",
        )
    sealed = ""
    if staticlib.routing_class.seal:
        archive, result = _seal(staticlib, result, label=label, detail=detail)
        sealed = ", sealed"
    entry = promote(staticlib, record, result, scan, link_symbols(archive), sealed=bool(sealed))
    count = len(result.symbols)
    out.write(f"{label}: {count} export{'s' * (count != 1)} ok{sealed} in {time.monotonic() - started:.2f}s\n")
    for undecided in scan.undecided:
        out.write(f"{label}: note: {undecided.file}:{undecided.line}: {undecided.reason}\n")
    return entry


def _seal(staticlib: Staticlib, result: VerifyResult, *, label: str, detail: TextIO) -> tuple[Archive, VerifyResult]:
    """Seal the verified archive (seal.py) and verify the sealed one again against the same names."""
    keep = [symbol.name for symbol in result.symbols]
    seal_archive(staticlib.built, keep, staticlib.sealed, label=label)
    archive = read_archive(staticlib.sealed)
    sealed = verify_archive(archive, keep)
    detail.write(f"{label}: sealed into {staticlib.sealed}: global symbols kept: {', '.join(sorted(keep))}\n")
    if not sealed.ok:
        raise VerifyFailed(
            format_failures(f"{label} (sealed)", sealed),
            hint="the sealed archive lost an export; the previous verified archive, if any, is kept",
        )
    return archive, sealed


def link_step(plan: Plan, names: TaskNames, *, out: TextIO = sys.stderr, detail: TextIO = sys.stdout) -> None:
    """Link the host program from the store entry of every staticlib, in plan order.

    Refuses when a staticlib's current build is not the verified one, or when the
    duplicate-definition audit finds a real conflict. Raises BuildlibError.
    """
    entries = [
        load_entry(staticlib, hint=f"verify it again: {names.again(names.verify(staticlib.name))}")
        for staticlib in plan.staticlibs
    ]
    for staticlib, entry in zip(plan.staticlibs, entries, strict=True):
        current = BuildRecord.from_file(staticlib.record)
        if current.built_at != entry.built_at:
            verify = names.verify(staticlib.name)
            raise LinkError(
                f"{names.link}: {staticlib.label}: its current build ({current.built_at}) is not verified; "
                f"the store holds the build of {entry.built_at}",
                hint=f"run: {names.run(verify)} (or {names.run(names.link)}, which runs it first)",
            )
    audit = audit_line(
        entries,
        lib_names={staticlib.name: staticlib.lib_name for staticlib in plan.staticlibs},
        workspace_crates=frozenset(crate.lib_name for crate in plan.workspace.crates),
    )
    audit_file = write_audit(plan.layout, dataclasses.asdict(audit))
    out.write("".join(f"{message}\n" for message in audit.summary()))
    detail.write("".join(f"{names.link}: {line}\n" for line in audit.detail()))
    if audit.conflicts:
        raise LinkError(
            "\n".join(
                [
                    f"{names.link}: the duplicate-definition audit found conflicts the linker would fail on or hide:",
                    *(f"  {c}" for c in audit.conflicts),
                ]
            ),
            hint=f"details in {audit_file}",
        )
    program = run_link(plan, entries, label=names.link, detail=detail)
    out.write("".join(f"{row}\n" for row in status_table(project_status(plan, next_build=False), summary=True)))
    archives, crates = len(entries), len(plan.routes)
    out.write(
        f"{names.link}: {program} from {archives} verified archive{'s' * (archives != 1)} "
        f"of {crates} crate{'s' * (crates != 1)}\n"
    )


def remove_orphans(plan: Plan, *, out: TextIO = sys.stdout) -> list[Path]:
    """Remove what earlier builds left in the output directory for crates, classes or bundles the
    plan no longer has (a crate removed from the workspace or moved to another class): its store
    entry, archive, record and inputs document. Only buildlib's own kinds of files are touched."""
    layout = plan.layout
    current = {
        path
        for unit in plan.units
        for path in (unit.inputs, *(p for s in unit.staticlibs for p in (s.built, s.record, s.sealed)))
    }
    entries = {staticlib.report.parent for staticlib in plan.staticlibs}
    bundles = {unit.bundle.directory for unit in plan.units if unit.bundle is not None}
    found: list[Path] = []
    for kind, keep in (("verified", entries), ("bundles", bundles)):
        found += [path for path in _children(layout.root / kind) if path.is_dir() and path not in keep]
    for class_dir in _children(layout.root / "archives"):
        found += [
            path
            for path in (_children(class_dir) if class_dir.is_dir() else [])
            if path.is_file() and path.name.endswith((".a", ".build.json", ".inputs.json")) and path not in current
        ]
    for path in found:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        out.write(f"removed {path} (no crate of the plan builds it now)\n")
    return found


def _children(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.is_dir() else []
