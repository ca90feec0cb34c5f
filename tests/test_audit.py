"""The duplicate-definition audit on crafted archives whose member names follow rustc's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from buildlib.archive import read_archive
from buildlib.audit import SHIMS, audit_line, link_symbols, member_origin
from buildlib.store import StoreEntry

from .conftest import compile_c, make_ar

STD = "std-d1237ef7159db0a2.std.e28293b1aa0f68bd-cgu.0.rcgu.o"
RUNTIME = "runtime-530a93a57a7444d8.runtime.935d37eeaab51018-cgu.0.rcgu.o"
OTHER_RUNTIME = "runtime-1111111111111111.runtime.935d37eeaab51018-cgu.0.rcgu.o"


def member(directory: Path, name: str, source: str) -> Path:
    obj = compile_c(directory, "obj", source)
    target = directory / name
    shutil.move(obj, target)
    return target


def archive(tmp_path: Path, crate: str, *members: tuple[str, str]) -> Path:
    directory = tmp_path / crate
    directory.mkdir()
    return make_ar(tmp_path / f"lib{crate}.a", *(member(directory, name, source) for name, source in members))


def entry(crate: str, path: Path, exports: tuple[str, ...], lto: str | None = "off") -> StoreEntry:
    return StoreEntry(
        name=crate,
        archive=path,
        report=path,
        native_static_libs=(),
        sha256="0",
        exports=exports,
        built_at="t",
        lto_passed=lto,
        link_symbols=link_symbols(read_archive(path)),
    )


def own(crate: str, export: str) -> tuple[str, str]:
    return (
        f"{crate.replace('-', '_')}-0123456789abcdef.{crate.replace('-', '_')}.aa-cgu.0.rcgu.o",
        f"int {export}(void) {{ return 1; }}\n",
    )


@pytest.fixture
def line(tmp_path: Path) -> list[StoreEntry]:
    std = (STD, "int std_panic_count(void) { return 0; }\nint std_hook(void) { return 0; }\n")
    runtime = (RUNTIME, "int runtime_state = 7;\nint runtime_get(void) { return runtime_state; }\n")
    return [
        entry("ext-a", archive(tmp_path, "ext-a", own("ext-a", "js_a"), std), ("js_a",)),
        entry("ext-net", archive(tmp_path, "ext-net", own("ext-net", "js_net"), std, runtime), ("js_net",)),
        entry(
            "ext-timers", archive(tmp_path, "ext-timers", own("ext-timers", "js_timers"), std, runtime), ("js_timers",)
        ),
    ]


LIBS = {"ext-a": "ext_a", "ext-net": "ext_net", "ext-timers": "ext_timers", "ext-b": "ext_b"}
WORKSPACE = frozenset({"ext_a", "ext_net", "ext_timers", "ext_b", "runtime"})


@pytest.mark.parametrize(
    ("name", "origin"),
    [
        (STD, ("std", "d1237ef7159db0a2")),
        (
            "ext_zlib-93f9f14adaf8ce58.std-d1237ef7159db0a2.std.e28293b1aa0f68bd-cgu.0.rcgu.o.rcgu.o",
            ("std", "d1237ef7159db0a2"),
        ),
        ("ext_zlib-23bf4d601937a6b3.ewa7xa85jaakxm3pucbowjibu.rcgu.o", ("ext_zlib", "23bf4d601937a6b3")),
        ("45c91108d938afe8-absvdi2.o", ("compiler_builtins", "45c91108d938afe8")),
        ("main.o", None),
    ],
    ids=["std", "std-under-thin-lto", "allocator-shim", "compiler-rt", "c-object"],
)
def test_member_origin(name: str, origin: tuple[str, str] | None) -> None:
    assert member_origin(name) == origin


def test_std_copies_and_the_shared_runtime_are_resolved_by_first_definition(line: list[StoreEntry]) -> None:
    audit = audit_line(line, lib_names=LIBS, workspace_crates=WORKSPACE)
    assert audit.conflicts == [] and audit.warnings == []
    assert audit.std_carriers == 3 and audit.std == []  # std's own symbols never reach the audit
    (runtime,) = audit.runtimes
    assert (runtime.crate, runtime.archives, runtime.symbols, runtime.winner) == (
        "runtime",
        ("ext-net", "ext-timers"),
        2,
        "ext-net",
    )
    assert audit.summary() == [
        "audit: 3 archives carry std (the linker takes the first); "
        "runtime (2 symbols) carried by ext-net, ext-timers: the program runs ext-net's copy"
    ], "one line on success: the detail is in link-audit.json"


def test_an_export_defined_by_two_archives_is_a_conflict(tmp_path: Path, line: list[StoreEntry]) -> None:
    twin = entry("ext-b", archive(tmp_path, "ext-b", own("ext-b", "js_a")), ("js_b",))
    audit = audit_line([*line, twin], lib_names=LIBS, workspace_crates=WORKSPACE)
    assert audit.conflicts == ["export js_a (of ext-a) is defined by ext-a, ext-b"]


def test_fat_lto_std_copies_are_a_conflict(line: list[StoreEntry]) -> None:
    line[1] = entry("ext-net", line[1].archive, ("js_net",), lto="fat")
    audit = audit_line(line, lib_names=LIBS, workspace_crates=WORKSPACE)
    (conflict,) = audit.conflicts
    assert "the fat-LTO archive of ext-net links beside other Rust archives" in conflict
    assert "rust_eh_personality" in conflict and "seal = true" in conflict


def test_two_builds_of_the_runtime_are_an_error_before_the_link(tmp_path: Path, line: list[StoreEntry]) -> None:
    stray = archive(
        tmp_path, "ext-b", own("ext-b", "js_b"), (OTHER_RUNTIME, "int runtime_other_build(void) { return 2; }\n")
    )
    audit = audit_line([*line, entry("ext-b", stray, ("js_b",))], lib_names=LIBS, workspace_crates=WORKSPACE)
    (conflict,) = audit.conflicts  # an error before the link, not a warning: two runtimes would run
    assert conflict.startswith(
        "runtime is built 2 different ways (530a93a57a7444d8 in ext-net, ext-timers; 1111111111111111 in ext-b)"
    )
    assert 'method = "bundle"' in conflict


def test_per_archive_rustc_shims_count_as_std(tmp_path: Path) -> None:
    shim = "int __rust_alloc_shim(void) { return 0; }\n"
    a = archive(tmp_path, "ext-a", (f"ext_a-{'a' * 16}.x1.rcgu.o", shim))
    b = archive(tmp_path, "ext-b", (f"ext_b-{'b' * 16}.x2.rcgu.o", shim))
    audit = audit_line([entry("ext-a", a, ()), entry("ext-b", b, ())], lib_names=LIBS, workspace_crates=WORKSPACE)
    assert [(s.crate, s.symbols) for s in audit.std] == [(SHIMS, 1)] and audit.std_carriers == 0
    assert audit.warnings == [] and audit.runtimes == []
