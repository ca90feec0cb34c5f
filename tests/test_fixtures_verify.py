"""verify_archive over the committed fixture archives: one status per symbol, per object format.

The fixtures and the script that makes them are in tests/fixtures/ (make_fixtures.sh).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from buildlib.archive import read_archive
from buildlib.verify import verify_archive

from .conftest import FIXTURES, require

NAMES = ["js_ok", "js_hidden", "js_local", "js_undef", "js_absent", "js_weak", "js_common"]


def statuses(hidden: str, *, defined: str = "ok") -> dict[str, str]:
    """The statuses of NAMES; ``defined`` is what every linkable definition gets."""
    return {
        "js_ok": defined,
        "js_hidden": hidden,
        "js_local": "local",
        "js_undef": "undefined",
        "js_absent": "missing",
        "js_weak": defined,
        "js_common": defined,
    }


# (fixture, format, statuses). Mach-O indexes name "_js_ok": verify must look up the C name with
# the platform prefix, or every Mach-O export reads as "not-indexed".
ARCHIVES = [
    ("elf-x86_64.a", "elf", statuses("hidden")),
    ("macho-x86_64.a", "macho", statuses("hidden")),
    ("macho-arm64.a", "macho", statuses("hidden")),
    ("coff-x86_64.a", "coff", statuses("ok")),  # COFF has no visibility (F7)
    ("thin.a", "elf", statuses("hidden")),
    # Without an index a defined symbol cannot be found by the linker, hidden or not.
    ("elf-noindex.a", "elf", statuses("not-indexed", defined="not-indexed")),
    ("macho-x86_64.o", "macho", statuses("hidden")),  # a plain object needs no index
    ("coff-x86_64.o", "coff", statuses("ok")),
]


@pytest.mark.parametrize(("name", "kind", "expected"), ARCHIVES, ids=[name.replace(".", "-") for name, *_ in ARCHIVES])
def test_each_status_per_format(name: str, kind: str, expected: dict[str, str]) -> None:
    result = verify_archive(read_archive(FIXTURES / name), NAMES)
    assert result.format == kind
    assert {s.name: s.status for s in result.symbols} == expected
    assert not result.embedded_bitcode
    members = {s.member for s in result.symbols if s.status != "missing"}
    assert len(members) == 1 and None not in members


@pytest.mark.parametrize(
    ("name", "shared_failures"),
    [
        ("elf-x86_64.a", ["js_hidden"]),
        ("macho-arm64.a", ["js_hidden"]),  # private extern: not exported from a dylib (F7)
        ("coff-x86_64.a", []),
    ],
    ids=["elf", "macho", "coff"],
)
def test_hidden_fails_only_for_a_shared_library(name: str, shared_failures: list[str]) -> None:
    archive = read_archive(FIXTURES / name)
    assert verify_archive(archive, ["js_ok", "js_hidden"]).ok
    shared = verify_archive(archive, ["js_ok", "js_hidden"], shared=True)
    assert [s.name for s in shared.failures] == shared_failures


def test_raw_bitcode_archive_is_never_linkable() -> None:
    archive = read_archive(FIXTURES / "bitcode.a")
    assert "js_ok" in archive.index  # the index alone would say "present" (F3)
    result = verify_archive(archive, ["js_ok", "js_hidden", "js_absent"])
    assert result.format == "bitcode"
    assert {s.name: s.status for s in result.symbols} == {
        "js_ok": "bitcode-only",
        "js_hidden": "bitcode-only",
        "js_absent": "missing",
    }
    assert not result.ok


def test_thin_archive_reads_its_member_beside_it() -> None:
    archive = read_archive(FIXTURES / "thin.a")
    assert archive.kind == "thin"
    assert [m.name for m in archive.members] == ["elf-x86_64.o"]
    assert archive.member_data(archive.members[0]) == (FIXTURES / "elf-x86_64.o").read_bytes()


def test_the_script_remakes_the_committed_fixtures(tmp_path: Path) -> None:
    llc = require("llc")
    for tool in ("llvm-as", "llvm-ar"):
        require(tool)
    version = subprocess.run([llc, "--version"], capture_output=True, text=True, check=True).stdout
    if "LLVM version 14." not in version:
        pytest.skip("the fixtures were made with LLVM 14; another version writes other bytes")
    script = tmp_path / "make_fixtures.sh"
    shutil.copy(FIXTURES / "make_fixtures.sh", script)
    subprocess.run(["bash", str(script)], check=True, capture_output=True)
    made = sorted(p.name for p in tmp_path.iterdir() if p.name != script.name)
    committed = sorted(p.name for p in FIXTURES.iterdir() if p.name != script.name)
    assert made == committed
    for name in made:
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name
