"""The operations the tasks run: build a unit, verify a crate into the store, link.

Each raises BuildlibError (with a message naming the crate) on an expected
failure; the doit layer turns that into a failed task.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import TextIO

from .archive import read_archive
from .audit import audit_line, link_symbols
from .build import run_unit
from .errors import LinkError, VerifyFailed
from .exports import scan_crate, scan_files
from .link import run_link
from .names import TaskNames
from .plan import BuildUnit, Plan, Route
from .records import BuildRecord, write_audit
from .status import project_status, status_table
from .store import StoreEntry, load_entry, merge_shared, promote
from .verify import format_failures, verify_archive


def build_step(plan: Plan, unit: BuildUnit, names: TaskNames, *, out: TextIO = sys.stderr) -> list[BuildRecord]:
    for warning in plan.warnings:
        if warning.startswith(unit.routing_class.key + "."):
            out.write(f"warning: {warning}\n")
    root, label = plan.workspace.root, names.build(unit.name)
    records = run_unit(
        unit,
        label=label,
        target_dir=plan.workspace.target_dir,
        workspace_files=[root / "Cargo.toml", root / "Cargo.lock"],
        out=out,
    )
    for record in records:
        out.write(f"{label}: {record.crate} built in {record.seconds:.1f}s ({describe_lto(record)})\n")
    return records


def describe_lto(record: BuildRecord) -> str:
    """Requested and applied LTO as a user reads it: "lto=thin applied", "lto=thin NOT applied: …"."""
    if not record.lto_observed:
        return f"lto={record.lto} requested; cargo reused a fresh build, -C lto not observed"
    if record.lto_applied:
        return f"lto={record.lto} applied"
    passed = f"-C lto={record.lto_passed}" if record.lto_passed else "no -C lto"
    return f"lto={record.lto} NOT applied: cargo passed {passed}"


def crate_sources(record: BuildRecord, route: Route) -> list[Path]:
    """The crate's own Rust files among those cargo compiled into the archive (dep-info).

    Path dependencies' files are left out: their exports are expected of their own crates.
    """
    root = route.crate.manifest_dir
    return sorted(path for path in map(Path, record.sources) if path.suffix == ".rs" and path.is_relative_to(root))


def verify_step(route: Route, names: TaskNames, *, out: TextIO = sys.stderr) -> StoreEntry:
    """Verify the freshly built archive of ``route`` and promote it into the store.

    Raises VerifyFailed naming each export that cannot link and why; the
    store's previous entry for the crate is left as it was.
    """
    started = time.monotonic()
    record = BuildRecord.from_file(route.record)
    scan = scan_files(crate_sources(record, route)) if record.sources else scan_crate(route.crate.src_path)
    archive = read_archive(route.archive)
    result = verify_archive(archive, scan.names)
    if not result.ok:
        raise VerifyFailed(
            format_failures(names.verify(route.crate.name), result),
            hint="the previous verified archive, if any, is kept; the link will not run",
        )
    entry = promote(route, record, result, scan, link_symbols(archive))
    label = names.verify(route.crate.name)
    out.write(f"{label}: {len(result.symbols)} exports ok in {time.monotonic() - started:.2f}s\n")
    for undecided in scan.undecided:
        out.write(f"{label}: note: {undecided.file}:{undecided.line}: {undecided.reason}\n")
    return entry


def link_step(plan: Plan, names: TaskNames, *, out: TextIO = sys.stderr) -> None:
    """Link the host program from the store entry of every route, in plan order.

    Refuses when a crate's current build is not the verified one, or when the
    duplicate-definition audit finds a real conflict. Raises BuildlibError.
    """
    entries = [
        load_entry(route, hint=f"verify it again: {names.again(names.verify(route.crate.name))}")
        for route in plan.routes
    ]
    for route, entry in zip(plan.routes, entries, strict=True):
        current = BuildRecord.from_file(route.record)
        if current.built_at != entry.built_at:
            raise LinkError(
                f"{names.link}: {route.crate.name}: its current build ({current.built_at}) is not verified; "
                f"the store holds the build of {entry.built_at}",
                hint=f"run: {names.run(names.verify(route.crate.name))} (or {names.run(names.link)}, which runs it first)",
            )
    line = merge_shared(entries)
    # The library each archive is the staticlib of: a bundle's for its crates, else the crate's own.
    own_lib = {route.crate.name: unit.artifact_name(route) for unit in plan.units for route in unit.routes}
    audit = audit_line(
        line,
        lib_names={entry.crate: own_lib[entry.crate.split("+")[0]] for entry in line},
        workspace_crates=frozenset(crate.lib_name for crate in plan.workspace.crates),
    )
    audit_file = write_audit(plan.layout, dataclasses.asdict(audit))
    out.write("".join(f"{message}\n" for message in audit.summary()))
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
    program = run_link(plan, line, label=names.link)
    out.write("".join(f"{row}\n" for row in status_table(project_status(plan), summary=True)))
    out.write(f"{names.link}: {program} from {len(line)} verified archives of {len(entries)} crates\n")
