from __future__ import annotations

from pathlib import Path

from buildlib.link import link_command, merge_native_libs
from buildlib.store import StoreEntry

from .test_plan import plan_for


def entry(crate: str, *libs: str) -> StoreEntry:
    return StoreEntry(
        crate=crate,
        archive=Path(f"/v/{crate}.a"),
        report=Path("/v/r.json"),
        native_static_libs=libs,
        sha256="0",
        exports=(),
        built_at="t",
        lto_passed=None,
    )


def test_native_libs_are_merged_in_first_seen_order() -> None:
    entries = [entry("a", "-lgcc_s", "-lc"), entry("b", "-lpthread", "-lc", "-lm"), entry("c")]
    assert merge_native_libs(entries) == ["-lgcc_s", "-lc", "-lpthread", "-lm"]


def test_link_command_order(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    entries = [entry(route.crate.name, "-lc") for route in plan.routes]
    command = link_command(plan, entries, tmp_path / "out")
    assert command == [
        "cc",
        str(tmp_path / "main.c"),
        *(f"/v/{route.crate.name}.a" for route in plan.routes),
        "-lc",
        "-o",
        str(tmp_path / "out"),
    ]
