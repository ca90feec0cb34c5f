"""Per-crate status from the build records and verify reports on disk; runs no tool."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .build import BuildRecord
from .errors import BuildError
from .plan import Plan, Route


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
    exports_expected: int | None
    verified_at: str | None
    built_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _report(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def crate_status(route: Route) -> CrateStatus:
    try:
        record: BuildRecord | None = BuildRecord.from_file(route.record)
    except BuildError:
        record = None
    report = _report(route.report)
    symbols = report["verify"]["symbols"] if report else None
    return CrateStatus(
        crate=route.crate.name,
        routing_class=route.routing_class.name,
        method=route.routing_class.method,
        lto_requested=route.routing_class.lto,
        lto_passed=record.lto_passed if record else None,
        lto_applied=record.lto_applied if record and record.lto_observed else None,
        archive_bytes=report.get("archive_size") if report else None,
        exports_ok=sum(s["status"] == "ok" for s in symbols) if symbols is not None else None,
        exports_expected=len(symbols) if symbols is not None else None,
        verified_at=report.get("verified_at") if report else None,
        built_at=record.built_at if record else None,
    )


def project_status(plan: Plan) -> list[CrateStatus]:
    """One row per ext crate, in link order."""
    return [crate_status(route) for route in plan.routes]
