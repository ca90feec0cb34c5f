from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildlib.archive import read_archive
from buildlib.build import BuildRecord
from buildlib.exports import ExportScan
from buildlib.store import StoreError, load_entry, promote
from buildlib.verify import verify_archive

from .conftest import compile_c, make_ar
from .test_plan import plan_for


def record(crate: str) -> BuildRecord:
    return BuildRecord(
        crate=crate,
        routing_class="routed",
        method="staticlib",
        lto="off",
        lto_passed="off",
        lto_observed=True,
        lto_applied=True,
        command=("cargo",),
        toolchain="cargo 1.95.0",
        artifact="/t/x.a",
        native_static_libs=("-lc", "-lm"),
        sources=(),
        built_at="now",
        seconds=1.0,
    )


def test_promote_then_load(tmp_path: Path) -> None:
    route = plan_for(tmp_path).route("ext-a")
    route.archive.parent.mkdir(parents=True)
    make_ar(route.archive, compile_c(tmp_path, "a", "int js_a(void) { return 1; }\n"))
    result = verify_archive(read_archive(route.archive), ["js_a"])
    entry = promote(route, record("ext-a"), result, ExportScan(exports=(), undecided=()))
    assert route.verified_archive.read_bytes() == route.archive.read_bytes()
    report = json.loads(route.report.read_text())
    assert report["verify"]["ok"] is True and report["native_static_libs"] == ["-lc", "-lm"]
    assert load_entry(route) == entry

    # A later build replaces the built archive by rename; the verified one must not change.
    (tmp_path / "new.a").write_bytes(b"!<arch>\n")
    (tmp_path / "new.a").replace(route.archive)
    assert load_entry(route) == entry


def test_load_entry_refuses_a_missing_or_swapped_archive(tmp_path: Path) -> None:
    route = plan_for(tmp_path).route("ext-a")
    with pytest.raises(StoreError, match="no verified archive yet"):
        load_entry(route)
    route.archive.parent.mkdir(parents=True)
    make_ar(route.archive, compile_c(tmp_path, "a", "int js_a(void) { return 1; }\n"))
    promote(
        route,
        record("ext-a"),
        verify_archive(read_archive(route.archive), ["js_a"]),
        ExportScan(exports=(), undecided=()),
    )
    route.verified_archive.unlink()
    route.verified_archive.write_bytes(b"!<arch>\nswapped")
    with pytest.raises(StoreError, match="not the archive that was verified"):
        load_entry(route)


def test_rewriting_the_built_archive_in_place_leaves_the_store_entry_intact(tmp_path: Path) -> None:
    route = plan_for(tmp_path).route("ext-a")
    route.archive.parent.mkdir(parents=True)
    make_ar(route.archive, compile_c(tmp_path, "a", "int js_a(void) { return 1; }\n"))
    entry = promote(
        route,
        record("ext-a"),
        verify_archive(read_archive(route.archive), ["js_a"]),
        ExportScan(exports=(), undecided=()),
    )
    with route.archive.open("r+b") as handle:  # what `cp other.a libext_a.a` does
        handle.write(b"!<arch>\nrewritten")
    assert load_entry(route) == entry
