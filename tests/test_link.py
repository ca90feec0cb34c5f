from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.config import HostConfig, parse_config
from buildlib.errors import ConfigError, LinkError
from buildlib.link import (
    check_host,
    explain_duplicates,
    link_command,
    merge_native_libs,
    planned_link_line,
    run_link,
    undefined_symbols,
)
from buildlib.plan import make_plan
from buildlib.records import LinkSymbols
from buildlib.store import StoreEntry

from .conftest import TOOLCHAIN, compile_c, config_data, make_ar, plan_for, workspace


def entry(crate: str, archive: Path, *exports: str) -> StoreEntry:
    return StoreEntry(
        name=crate,
        archive=archive,
        report=archive.parent / "report.json",
        native_static_libs=("-lc",),
        sha256="0",
        exports=exports,
        built_at="t",
        lto_passed=None,
        link_symbols=LinkSymbols(symbols=(), builds=()),
    )


def test_native_libs_are_merged_in_first_seen_order() -> None:
    assert merge_native_libs([("-lgcc_s", "-lc"), ("-lpthread", "-lc", "-lm"), ()]) == [
        "-lgcc_s",
        "-lc",
        "-lpthread",
        "-lm",
    ]


def test_link_command_order(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    archives = [Path(f"/v/{route.crate.name}.a") for route in plan.routes]
    assert link_command(plan, archives, ["-lc"], tmp_path / "out") == [
        "cc",
        str(tmp_path / "main.c"),
        *map(str, archives),
        "-lc",
        "-o",
        str(tmp_path / "out"),
    ]


def test_planned_line_lists_every_route_even_before_verification(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    line, unverified = planned_link_line(plan)
    assert unverified == [s.label for s in plan.staticlibs]
    assert [arg for arg in line if arg.endswith(".a")] == [str(s.verified_archive) for s in plan.staticlibs]
    assert "<native-static-libs of ext-b: not verified yet>" in line


@pytest.mark.parametrize(
    ("output", "names"),
    [
        (
            "/usr/bin/ld: main.o: in function `main':\nmain.c:(.text+0x5): undefined reference to `js_a'\n"
            "main.c:(.text+0x9): undefined reference to `js_b'\nmain.c: undefined reference to `js_a'\n",
            ["js_a", "js_b"],
        ),
        ('Undefined symbols for architecture arm64:\n  "_js_c", referenced from:\n      _main in main.o\n', ["js_c"]),
        ("main.c: undefined reference to \u2018js_d\u2019\n", ["js_d"]),
    ],
    ids=["gnu-ld", "ld64", "typographic-quotes"],
)
def test_undefined_symbols_from_linker_output(output: str, names: list[str]) -> None:
    assert undefined_symbols(output) == names


def test_failed_link_names_each_undefined_symbol_and_its_crate(tmp_path: Path) -> None:
    (tmp_path / "main.c").write_text(
        "int js_a(void); int js_gone(void); int js_typo(void);\nint main(void) { return js_a() + js_gone() + js_typo(); }\n"
    )
    data = config_data()
    data["classes"] = {"routed": {"lto": "off", "crates": ["ext-a"]}}
    data["default-class"] = "routed"
    plan = make_plan(parse_config(data, file=tmp_path / "pyproject.toml"), workspace(tmp_path / "ws"), TOOLCHAIN, {})
    archive = make_ar(tmp_path / "liba.a", compile_c(tmp_path, "a", "int js_a(void) { return 0; }\n"))
    previous = plan.program
    previous.parent.mkdir(parents=True)
    previous.write_text("the last good program")
    entries = [
        entry(r.crate.name, archive, *(("js_a", "js_gone") if r.crate.name == "ext-a" else ())) for r in plan.routes
    ]
    with pytest.raises(LinkError) as caught:
        run_link(plan, entries)
    message = str(caught.value)
    assert "link: cc failed with exit code 1" in message
    assert "  js_gone: expected from ext-a" in message
    assert "  js_typo: no crate in the plan exports it" in message
    assert "js_a:" not in message
    assert previous.read_text() == "the last good program"
    assert "undefined reference" in (plan.config.out_dir / "link.log").read_text()


def test_duplicate_definitions_are_explained_by_cause_archive_and_fix(tmp_path: Path) -> None:
    """Hundreds of linker lines become one line per cause (std copies, a runtime twice, an export twice)."""
    zlib, hashed, net, timers = (tmp_path / f"lib{n}.a" for n in ("zlib", "hash", "net", "timers"))
    entries = [
        entry("ext-zlib", zlib, "js_zlib_crc32"),
        entry("ext-hash", hashed),
        entry("ext-net", net),
        entry("ext-timers", timers, "js_timers_pending"),
    ]
    std = "std-0123456789abcdef.std.a1b2c3-cgu.0.rcgu.o"
    output = (
        f"/usr/bin/ld: {hashed}({std}): in function `std::rt::lang_start':\n"
        f"(.text+0x0): multiple definition of `std::rt::lang_start'; {zlib}({std}):(.text+0x0): first defined here\n"
        f"/usr/bin/ld: {hashed}({std}):(.data+0x0): multiple definition of `rust_eh_personality'; "
        f"{zlib}({std}):(.data+0x0): first defined here\n"
        f"/usr/bin/ld: {timers}(runtime-00112233445566ff.runtime.x-cgu.0.rcgu.o): in function `registry':\n"
        f"(.text+0x0): multiple definition of `runtime_registry'; {net}(runtime-00112233445566ff.runtime.x-cgu.0.rcgu.o):"
        "(.text+0x0): first defined here\n"
        f"/usr/bin/ld: {zlib}(ext_timers-0a0b0c0d0e0f0a0b.ext_timers.y-cgu.0.rcgu.o):(.text+0x0): multiple definition of "
        f"`js_timers_pending'; {timers}(ext_timers-0a0b0c0d0e0f0a0b.ext_timers.y-cgu.0.rcgu.o):(.text+0x0): first defined here\n"
    )
    lines = explain_duplicates(output, entries, frozenset({"runtime", "ext_zlib", "ext_timers"}))
    assert lines == [
        "  2 std defined twice, by ext-hash and ext-zlib: each archive's std copy was rewritten by LTO "
        '(e.g. rust_eh_personality); fix: use lto = "off" for every archive but one, or put the crates in one bundle class',
        "  1 runtime defined twice, by ext-net and ext-timers: one runtime built twice (two copies of its state) "
        '(e.g. runtime_registry); fix: build every crate that uses it in one bundle class (method = "bundle")',
        "  1 exports defined twice, by ext-timers and ext-zlib: one crate is carried by both archives "
        '(e.g. js_timers_pending); fix: build them in one bundle class (method = "bundle"), or make the shared crate '
        "rlib-only",
    ]


def test_a_real_duplicate_definition_fails_the_link_with_its_cause(tmp_path: Path) -> None:
    (tmp_path / "main.c").write_text("int js_a(void); int js_b(void);\nint main(void) { return js_a() + js_b(); }\n")
    data = config_data()
    data["classes"] = {"routed": {"lto": "off", "crates": ["ext-a", "ext-b"]}}
    data["default-class"] = "routed"
    plan = make_plan(parse_config(data, file=tmp_path / "pyproject.toml"), workspace(tmp_path / "ws"), TOOLCHAIN, {})
    first = make_ar(
        tmp_path / "liba.a", compile_c(tmp_path, "a", "int js_a(void) { return 0; }\nint dup(void) { return 1; }\n")
    )
    second = make_ar(
        tmp_path / "libb.a", compile_c(tmp_path, "b", "int js_b(void) { return 0; }\nint dup(void) { return 2; }\n")
    )
    paths = {"ext-a": first, "ext-b": second}
    entries = [entry(s.name, paths.get(s.name, first)) for s in plan.staticlibs if s.name in paths]
    with pytest.raises(LinkError) as caught:
        run_link(plan, entries)
    assert "  1 symbols defined twice, by ext-a and ext-b (e.g. dup)" in str(caught.value)


def test_the_host_is_checked_when_the_project_loads(tmp_path: Path) -> None:
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    (tmp_path / "bin").mkdir()
    cc = tmp_path / "bin" / "mycc"
    cc.write_text("#!/bin/sh\n")
    cc.chmod(0o755)
    path = {"PATH": str(tmp_path / "bin")}

    def host(sources: list[str], cc: str) -> HostConfig:
        data = {**config_data(), "host": {"sources": sources, "program": "app", "cc": cc}}
        return parse_config(data, file=tmp_path / "pyproject.toml").host

    check_host(host(["main.c"], "mycc"), file="pyproject.toml", environ=path)
    with pytest.raises(ConfigError) as caught:
        check_host(host(["main.c", "mian.c"], "mycc"), file="pyproject.toml", environ=path)
    assert str(caught.value) == f"pyproject.toml: tool.buildlib.host.sources[1]: {tmp_path / 'mian.c'}: no such file"
    assert caught.value.hint == "did you mean 'main.c'?"
    with pytest.raises(ConfigError) as caught:
        check_host(host(["main.c"], "clangxx"), file="pyproject.toml", environ=path)
    assert str(caught.value) == "pyproject.toml: tool.buildlib.host.cc: 'clangxx' is not a program on PATH"
