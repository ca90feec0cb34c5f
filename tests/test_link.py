from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.config import parse_config
from buildlib.errors import LinkError
from buildlib.link import link_command, merge_native_libs, planned_link_line, run_link, undefined_symbols
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
    line = planned_link_line(plan)
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
