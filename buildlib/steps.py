"""The operations the tasks run: build a unit, verify a crate into the store, link.

Each raises BuildlibError (with a message naming the crate) on an expected
failure; the doit layer turns that into a failed task.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .archive import read_archive
from .build import BuildRecord, run_unit
from .errors import BuildlibError
from .exports import scan_crate
from .link import run_link
from .plan import BuildUnit, Plan, Route
from .store import StoreEntry, load_entry, promote
from .verify import format_failures, verify_archive


class VerifyFailed(BuildlibError):
    """An archive lacks linkable exports; the store keeps the previous entry."""


def build_step(plan: Plan, unit: BuildUnit, *, out: TextIO = sys.stderr) -> list[BuildRecord]:
    for warning in plan.warnings:
        if warning.startswith(unit.routing_class.key + "."):
            out.write(f"warning: {warning}\n")
    records = run_unit(unit, out=out)
    for record in records:
        out.write(f"build:{unit.name}: {record.crate} built in {record.seconds:.1f}s ({describe_lto(record)})\n")
    return records


def describe_lto(record: BuildRecord) -> str:
    """Requested and applied LTO as a user reads it: "lto=thin applied", "lto=thin NOT applied: …"."""
    if not record.lto_observed:
        return f"lto={record.lto} requested; cargo reused a fresh build, -C lto not observed"
    if record.lto_applied:
        return f"lto={record.lto} applied"
    passed = f"-C lto={record.lto_passed}" if record.lto_passed else "no -C lto"
    return f"lto={record.lto} NOT applied: cargo passed {passed}"


def verify_step(route: Route, *, out: TextIO = sys.stderr) -> StoreEntry:
    """Verify the freshly built archive of ``route`` and promote it into the store.

    Raises VerifyFailed naming each export that cannot link and why; the
    store's previous entry for the crate is left as it was.
    """
    started = time.monotonic()
    record = BuildRecord.from_file(route.record)
    scan = scan_crate(route.crate.src_path)
    result = verify_archive(read_archive(route.archive), scan.names)
    if not result.ok:
        raise VerifyFailed(
            format_failures(route.crate.name, result),
            hint="the previous verified archive, if any, is kept; the link will not run",
        )
    entry = promote(route, record, result, scan)
    out.write(f"verify:{route.crate.name}: {len(result.symbols)} exports ok in {time.monotonic() - started:.2f}s\n")
    for undecided in scan.undecided:
        out.write(f"verify:{route.crate.name}: note: {undecided.file}:{undecided.line}: {undecided.reason}\n")
    return entry


def link_step(plan: Plan, *, out: TextIO = sys.stderr) -> None:
    """Link the host program from the store entry of every route, in plan order."""
    entries = [load_entry(route) for route in plan.routes]
    program = run_link(plan, entries)
    out.write(f"link: {program} from {len(entries)} verified archives\n")
