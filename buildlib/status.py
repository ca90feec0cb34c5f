"""Per-crate status from the build records and verify reports on disk; runs no tool."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ._table import format_table
from .errors import BuildError, StoreError
from .freshness import why_stale
from .plan import BuildUnit, Plan, Route
from .records import BuildRecord, CacheStats, VerifyReport, read_report


@dataclass(frozen=True, kw_only=True, slots=True)
class CrateStatus:
    crate: str
    routing_class: str
    method: str
    lto_requested: str
    lto_passed: str | None
    lto_applied: bool | None  # None: not built yet, or cargo reused a fresh build
    archive_bytes: int | None
    exports_ok: int | None
    sealed: bool | None  # the verified archive is sealed (only its C surface global)
    exports_expected: int | None
    verified_at: str | None
    built_at: str | None
    build_seconds: float | None
    units_compiled: int | None  # 0: cargo found every unit of the last build fresh
    # Why the next build of the project builds it again; None: its build is up to date, or not asked
    # (the summary a link ends with does not show it).
    rebuild: str | None
    # What the compile cache did in the cargo call of its last build: {"tool", "hits", "misses",
    # "not_cached", "errors"}; None without a cache.
    cache: CacheStats | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cache"] = self.cache.to_dict() if self.cache else None
        return data


def crate_status(route: Route, unit: BuildUnit | None) -> CrateStatus:
    """The row of ``route``; its next build is compared only when ``unit`` is given."""
    try:
        record: BuildRecord | None = BuildRecord.from_file(route.staticlib.record)
    except BuildError:
        record = None
    try:
        report: VerifyReport | None = read_report(route.staticlib.report)
    except StoreError:
        report = None  # not verified yet, or verified by another buildlib: the next run verifies it
    return CrateStatus(
        crate=route.crate.name,
        routing_class=route.routing_class.name,
        method=route.routing_class.method,
        lto_requested=route.routing_class.lto,
        lto_passed=record.lto_passed if record else None,
        lto_applied=record.lto_applied if record and record.lto_observed else None,
        archive_bytes=report.archive_size if report else None,
        exports_ok=report.exports_ok if report else None,
        sealed=report.sealed if report else None,
        exports_expected=len(report.exports) if report else None,
        verified_at=report.verified_at if report else None,
        built_at=record.built_at if record else None,
        build_seconds=record.seconds if record else None,
        units_compiled=record.units_compiled if record else None,
        rebuild=why_stale(unit.inputs, unit.fingerprint) if unit is not None else None,
        cache=record.cache if record else None,
    )


def project_status(plan: Plan, *, next_build: bool = True) -> list[CrateStatus]:
    """One row per ext crate, in link order; ``next_build`` also compares each build's inputs
    (``buildlib status``), which the summary at the end of a link leaves out."""
    unit_of = {staticlib: unit for unit in plan.units for staticlib in unit.staticlibs}
    return [crate_status(route, unit_of[route.staticlib] if next_build else None) for route in plan.routes]


def status_table(rows: list[CrateStatus], *, summary: bool = False) -> list[str]:
    """``buildlib status``'s table; ``summary`` is the shorter one the link ends with. A ``cache``
    column (hits and misses of each crate's last cargo call) is there when a build used one."""
    head = (
        ("crate", "class", "lto", "applied", "exports", "build")
        if summary
        else ("crate", "class", "method", "lto", "applied", "archive", "exports", "verified", "next build")
    )
    cached = any(row.cache is not None for row in rows)
    table: list[tuple[str, ...]] = [head + ("cache",) * cached]
    for row in rows:
        applied = (
            "-" if row.lto_applied is None else "yes" if row.lto_applied else f"NO ({row.lto_passed or 'no -C lto'})"
        ) + (", sealed" if row.sealed else "")
        exports = "-" if row.exports_expected is None else f"{row.exports_ok}/{row.exports_expected}"
        cache = (("-" if row.cache is None else row.cache.describe()),) * cached
        if summary:
            seconds = (
                "-"
                if row.build_seconds is None
                else "fresh"
                if row.units_compiled == 0
                else f"{row.build_seconds:.1f}s"
            )
            table.append((row.crate, row.routing_class, row.lto_requested, applied, exports, seconds, *cache))
        else:
            size = "-" if row.archive_bytes is None else f"{row.archive_bytes / 1e6:.1f} MB"
            table.append(
                (
                    row.crate,
                    row.routing_class,
                    row.method,
                    row.lto_requested,
                    applied,
                    size,
                    exports,
                    row.verified_at or "never",
                    "up to date" if row.rebuild is None else f"rebuild: {row.rebuild}",
                    *cache,
                )
            )
    legend = []
    if any(row.lto_applied is None and row.built_at is not None for row in rows):
        legend.append(
            "applied -: cargo reused a build whose rustc command buildlib never saw (built by hand, or by an "
            "older buildlib); it is known from that crate's next compile"
        )
    if summary and any(row.units_compiled == 0 for row in rows):
        legend.append("build fresh: cargo found nothing to compile")
    return format_table(table) + legend
