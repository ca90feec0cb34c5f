from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildlib.build import BuildRecord, CargoOutput, install_archives
from buildlib.errors import BuildError

from .test_plan import plan_for


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


def test_install_copies_each_archive_with_a_record(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    unit = plan.units[-1]  # the "shared" class: ext-c and ext-d together
    output = CargoOutput()
    for crate in ("ext_c", "ext_d"):
        artifact = tmp_path / f"lib{crate}.a"
        artifact.write_bytes(b"!<arch>\n" + crate.encode())
        output.archives[crate] = artifact
        output.native_libs[crate] = ("-lc",)
    records = install_archives(unit, output, 1.5)
    assert [r.crate for r in records] == ["ext-c", "ext-d"]
    route = unit.routes[0]
    assert route.archive.read_bytes() == b"!<arch>\next_c"
    assert route.archive.stat().st_ino != (tmp_path / "libext_c.a").stat().st_ino
    record = BuildRecord.from_file(route.record)
    assert record == records[0]
    assert (record.routing_class, record.lto, record.native_static_libs) == ("shared", "thin", ("-lc",))
    assert record.command == unit.command


def test_install_refuses_when_an_archive_is_missing_and_keeps_the_old_ones(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    unit = plan.units[-1]
    unit.routes[0].archive.parent.mkdir(parents=True)
    unit.routes[0].archive.write_bytes(b"old")
    output = CargoOutput(archives={"ext_c": tmp_path / "new.a"})
    with pytest.raises(BuildError, match="cargo reported no staticlib for ext-d"):
        install_archives(unit, output, 1.0)
    assert unit.routes[0].archive.read_bytes() == b"old"


def test_unreadable_record_is_a_build_error(tmp_path: Path) -> None:
    path = tmp_path / "x.build.json"
    path.write_text("{}")
    with pytest.raises(BuildError, match="unreadable build record"):
        BuildRecord.from_file(path)
