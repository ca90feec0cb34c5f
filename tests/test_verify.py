from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from buildlib.archive import read_archive
from buildlib.verify import format_failures, verify_archive

from .conftest import compile_c, make_ar, require

SOURCE = """
int js_ok(void) { return 1; }
__attribute__((visibility("hidden"))) int js_hidden(void) { return 2; }
__attribute__((used)) static int js_local(void) { return 3; }
extern int js_undef(void);
int js_caller(void) { return js_undef() + js_local(); }
"""
NAMES = ["js_ok", "js_hidden", "js_local", "js_undef", "js_absent"]


@pytest.fixture
def objects(tmp_path: Path) -> Path:
    return compile_c(tmp_path, "obj", SOURCE)


def statuses(path: Path, names: list[str], *, shared: bool = False) -> dict[str, str]:
    result = verify_archive(read_archive(path), names, shared=shared)
    return {s.name: s.status for s in result.symbols}


def test_each_status_from_a_real_indexed_archive(tmp_path: Path, objects: Path) -> None:
    archive = make_ar(tmp_path / "lib.a", objects)
    assert statuses(archive, NAMES) == {
        "js_ok": "ok",
        "js_hidden": "hidden",
        "js_local": "local",
        "js_undef": "undefined",
        "js_absent": "missing",
    }


def test_hidden_links_into_an_executable_but_not_a_shared_library(tmp_path: Path, objects: Path) -> None:
    archive = read_archive(make_ar(tmp_path / "lib.a", objects))
    assert verify_archive(archive, ["js_ok", "js_hidden"]).ok
    shared = verify_archive(archive, ["js_ok", "js_hidden"], shared=True)
    assert not shared.ok
    assert [s.name for s in shared.failures] == ["js_hidden"]


def test_defined_but_not_indexed(tmp_path: Path, objects: Path) -> None:
    archive = make_ar(tmp_path / "lib.a", objects, index=False)
    assert statuses(archive, ["js_ok"]) == {"js_ok": "not-indexed"}


def test_a_plain_object_needs_no_index(objects: Path) -> None:
    assert statuses(objects, ["js_ok", "js_local"]) == {"js_ok": "ok", "js_local": "local"}


def test_a_definition_in_one_member_beats_a_reference_in_another(tmp_path: Path, objects: Path) -> None:
    user = compile_c(tmp_path, "user", "extern int js_ok(void); int use(void) { return js_ok(); }\n")
    provider = compile_c(tmp_path, "provider", "int js_undef(void) { return 0; }\n")
    archive = make_ar(tmp_path / "lib.a", user, objects, provider)
    assert statuses(archive, ["js_ok", "js_undef"]) == {"js_ok": "ok", "js_undef": "ok"}


def test_bitcode_member_is_never_linkable(tmp_path: Path) -> None:
    llvm_as, llvm_ar = require("llvm-as"), require("llvm-ar")
    ll = tmp_path / "bc.ll"
    ll.write_text("define i32 @js_bc() {\n  ret i32 7\n}\n")
    bc = tmp_path / "bc.o"
    subprocess.run([llvm_as, str(ll), "-o", str(bc)], check=True)
    archive = tmp_path / "lib.a"
    subprocess.run([llvm_ar, "rcs", str(archive), str(bc)], check=True)
    parsed = read_archive(archive)
    assert parsed.index == {"js_bc": (0,)}  # the index alone would say "present" (F3)
    result = verify_archive(parsed, ["js_bc"])
    assert result.format == "bitcode"
    assert [(s.name, s.status) for s in result.symbols] == [("js_bc", "bitcode-only")]
    assert not result.ok


def test_failure_message_names_crate_symbols_and_reasons(tmp_path: Path, objects: Path) -> None:
    result = verify_archive(read_archive(make_ar(tmp_path / "lib.a", objects)), ["js_ok", "js_local", "js_absent"])
    message = format_failures("verify:ext-demo", result)
    first, *rest = message.splitlines()
    assert first.startswith("verify:ext-demo: 2 of 3 expected exports cannot be linked")
    assert rest == [
        "  js_absent: missing: no member defines or mentions it",
        "  js_local: local (in obj.o): defined only as a local symbol (internalized, e.g. by LTO); a link cannot use it",
    ]


def test_result_as_json_follows_the_contract(tmp_path: Path, objects: Path) -> None:
    result = verify_archive(read_archive(make_ar(tmp_path / "lib.a", objects)), ["js_ok"])
    data = result.to_dict()
    assert str(data["archive"]).endswith("lib.a") and data["format"] == "elf" and data["ok"] is True
    assert data["symbols"] == [
        {"name": "js_ok", "status": "ok", "member": "obj.o", "reason": "defined, global and indexed", "hint": ""}
    ]
