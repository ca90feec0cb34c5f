from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from buildlib.build import install_archives, lto_applied
from buildlib.errors import BuildError
from buildlib.messages import CargoOutput, parse_lto_flag
from buildlib.records import BuildRecord

from .conftest import plan_for, record


def message(reason: str, target: str, **fields: object) -> str:
    return json.dumps({"reason": reason, "target": {"name": target, "kind": ["staticlib", "rlib"]}, **fields})


def note(target: str, text: str, level: str = "note") -> str:
    return message(
        "compiler-message", target, message={"message": text, "level": level, "rendered": f"{level}: {text}\n"}
    )


def test_cargo_messages_give_archives_native_libs_and_diagnostics() -> None:
    output = CargoOutput()
    shown = [
        output.feed(line)
        for line in [
            "   plain text from a build script",
            message("compiler-artifact", "runtime", filenames=["/t/deps/libruntime-1.rlib"]),
            note("ext_c", "link against the following native artifacts when linking against this static library."),
            note("ext_c", "native-static-libs: -lgcc_s -lutil -lc"),
            note("ext_c", "unused variable: `x`", level="warning"),
            message("compiler-artifact", "ext_c", filenames=["/t/libext_c.a", "/t/libext_c.rlib"]),
            json.dumps({"reason": "build-finished", "success": True}),
        ]
    ]
    assert output.archives == {"ext_c": Path("/t/libext_c.a")}
    assert output.native_libs == {"ext_c": ("-lgcc_s", "-lutil", "-lc")}
    assert [s for s in shown if s] == [("ext_c", "warning: unused variable: `x`\n")]


def test_install_links_each_archive_with_a_record(tmp_path: Path) -> None:
    """The build's file is a second name of cargo's (no bytes copied); rustc's next build writes a
    new file under cargo's name, and the build's keeps the bytes its record describes."""
    plan = plan_for(tmp_path)
    unit = plan.units[-1]  # the "shared" class: ext-c and ext-d together
    output = CargoOutput()
    for crate in ("ext_c", "ext_d"):
        artifact = tmp_path / f"lib{crate}.a"
        artifact.write_bytes(b"!<arch>\n" + crate.encode())
        output.archives[crate] = artifact
        output.native_libs[crate] = ("-lc",)
    records = install_archives(unit, output, 1.5)
    assert [r.name for r in records] == ["ext-c", "ext-d"]
    staticlib = unit.staticlibs[0]
    assert staticlib.built.read_bytes() == b"!<arch>\next_c"
    assert staticlib.built.stat().st_ino == (tmp_path / "libext_c.a").stat().st_ino
    record = BuildRecord.from_file(staticlib.record)
    assert record == records[0]
    assert record.built_sha256 == hashlib.sha256(b"!<arch>\next_c").hexdigest()
    rebuilt = tmp_path / "libext_c.a.new"
    rebuilt.write_bytes(b"!<arch>\nrebuilt")
    rebuilt.replace(tmp_path / "libext_c.a")
    assert staticlib.built.read_bytes() == b"!<arch>\next_c"
    assert not list(staticlib.built.parent.glob(".*.tmp"))
    assert (record.routing_class, record.lto, record.native_static_libs) == ("shared", "thin", ("-lc",))
    assert record.command == unit.command


def test_install_refuses_when_an_archive_is_missing_and_keeps_the_old_ones(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    unit = plan.units[-1]
    unit.staticlibs[0].built.parent.mkdir(parents=True)
    unit.staticlibs[0].built.write_bytes(b"old")
    output = CargoOutput(archives={"ext_c": tmp_path / "new.a"})
    with pytest.raises(BuildError, match="cargo reported no staticlib for ext-d"):
        install_archives(unit, output, 1.0)
    assert unit.staticlibs[0].built.read_bytes() == b"old"


def test_a_staticlib_without_native_static_libs_is_refused_and_the_old_archive_kept(tmp_path: Path) -> None:
    """A build record never has empty native-static-libs: the link would lack the system libraries."""
    unit = plan_for(tmp_path).units[-1]
    unit.staticlibs[0].built.parent.mkdir(parents=True)
    unit.staticlibs[0].built.write_bytes(b"old")
    output = CargoOutput(native_libs={"ext_c": ("-lc",)})
    for crate in ("ext_c", "ext_d"):
        output.archives[crate] = tmp_path / f"lib{crate}.a"
        output.archives[crate].write_bytes(b"!<arch>\n")
    with pytest.raises(BuildError, match="rustc reported no native-static-libs for ext-d"):
        install_archives(unit, output, 1.0)
    assert unit.staticlibs[0].built.read_bytes() == b"old"


def test_unreadable_record_is_a_build_error(tmp_path: Path) -> None:
    path = tmp_path / "x.build.json"
    path.write_text("{}")
    with pytest.raises(BuildError, match="unreadable build record"):
        BuildRecord.from_file(path)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("rustc --crate-name a -C opt-level=3 -C lto=thin -C codegen-units=1", "thin"),
        ("rustc --crate-name a -C lto", "fat"),
        ("rustc --crate-name a -Clto=fat", "fat"),
        ("rustc --crate-name a -C lto=off", "off"),
        ("rustc --crate-name a -C lto=no", "off"),
        ("rustc --crate-name a -C lto=thin -C lto=off", "off"),
        ("rustc --crate-name a -C embed-bitcode=no", None),
    ],
    ids=["thin", "bare-is-fat", "joined", "off", "no", "last-wins", "absent"],
)
def test_lto_flag_from_a_rustc_command_line(words: str, expected: str | None) -> None:
    assert parse_lto_flag(words.split()) == expected


@pytest.mark.parametrize(
    ("requested", "passed", "applied"),
    [("thin", "thin", True), ("thin", None, False), ("fat", "thin", False), ("off", None, True), ("off", "off", True)],
    ids=["thin", "thin-ignored", "fat-as-thin", "off-absent", "off"],
)
def test_lto_applied(requested: str, passed: str | None, applied: bool) -> None:
    assert lto_applied(requested, passed) is applied


def test_verbose_stderr_gives_the_staticlib_lto_and_hides_command_lines() -> None:
    output = CargoOutput()
    lines = [
        "   Compiling runtime v0.1.0 (/ws/runtime)\n",
        "     Running `CARGO=/c /r/rustc --crate-name runtime --crate-type rlib -C lto=off`\n",
        "     Running `/r/rustc --crate-name ext_c --edition=2021 --crate-type staticlib --crate-type rlib -C opt-level=3`\n",
        "     Running `/r/rustc --crate-name ext_d --crate-type staticlib -C lto=thin`\n",
        "       Fresh ext-e v0.1.0\n",
        "    Finished `buildlib-x` profile [optimized] target(s) in 1.0s\n",
    ]
    shown = [line for line in lines if output.feed_stderr(line)]
    assert output.lto_passed == {"ext_c": None, "ext_d": "thin"}
    assert shown == [lines[0], lines[-1]]


def test_record_says_whether_the_requested_lto_was_applied(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    unit = plan.units[-1]  # the "shared" class requests thin
    output = CargoOutput(lto_passed={"ext_c": None, "ext_d": "thin"})
    for crate in ("ext_c", "ext_d"):
        output.archives[crate] = tmp_path / f"lib{crate}.a"
        output.archives[crate].write_bytes(b"!<arch>\n")
        output.native_libs[crate] = ("-lc",)
    (tmp_path / "libext_c.d").write_text(f"{tmp_path}/libext_c.a: /ws/ext-c/src/lib.rs\n")
    by_crate = {r.name: r for r in install_archives(unit, output, 1.0)}
    assert (by_crate["ext-c"].lto_passed, by_crate["ext-c"].lto_applied) == (None, False)
    assert (by_crate["ext-d"].lto_passed, by_crate["ext-d"].lto_applied) == ("thin", True)
    assert by_crate["ext-c"].sources == ("/ws/ext-c/src/lib.rs",)
    assert by_crate["ext-c"].toolchain == unit.toolchain

    # A rerun where cargo found everything fresh prints no rustc line: the last observation carries over.
    fresh = CargoOutput(archives=output.archives, native_libs=output.native_libs)
    again = install_archives(unit, fresh, 1.0, previous=by_crate)
    assert [(r.lto_passed, r.lto_observed, r.lto_applied) for r in again] == [(None, True, False), ("thin", True, True)]
    # With no record (the output directory removed), the evidence kept beside cargo's archive tells.
    kept = install_archives(unit, fresh, 1.0)
    assert [(r.lto_passed, r.lto_observed, r.lto_applied) for r in kept] == [(None, True, False), ("thin", True, True)]
    for artifact in output.archives.values():  # archives rustc did not make, as far as buildlib saw
        artifact.write_bytes(b"!<arch>\nsomething else")
    unseen = install_archives(unit, fresh, 1.0)
    assert [(r.lto_observed, r.lto_applied) for r in unseen] == [(False, False), (False, False)]


def test_expectations_come_from_the_crates_own_compiled_sources(tmp_path: Path) -> None:
    from buildlib.steps import crate_sources

    route = plan_for(tmp_path).route("ext-c")
    src = route.crate.manifest_dir / "src"
    src.mkdir(parents=True)
    for name in ("lib.rs", "net.rs", "stray.rs"):
        (src / name).write_text("")
    other = tmp_path / "ws" / "rt" / "src" / "lib.rs"
    sources = (str(src / "lib.rs"), str(src / "net.rs"), str(other), str(route.crate.manifest_dir / "data.txt"))
    compiled = record("ext-c", sources=sources)
    assert crate_sources(compiled, route.crate) == [src / "lib.rs", src / "net.rs"]
