from __future__ import annotations

import struct
from pathlib import Path

import pytest

from buildlib.archive import parse_archive, read_archive
from buildlib.errors import ArchiveError

from .conftest import ELF_STUB, compile_c, gnu_archive, header, make_ar, require


def test_gnu_archive_from_ar_has_members_and_index(tmp_path: Path) -> None:
    a = compile_c(tmp_path, "first_with_a_long_member_name", "int js_one(void) { return 1; }\n")
    b = compile_c(tmp_path, "b", "int js_two(void) { return 2; } int js_three(void) { return 3; }\n")
    archive = read_archive(make_ar(tmp_path / "lib.a", a, b))
    assert archive.kind == "gnu"
    assert [m.name for m in archive.members] == ["first_with_a_long_member_name.o", "b.o"]
    assert archive.has_index
    assert archive.index == {"js_one": (0,), "js_two": (1,), "js_three": (1,)}
    assert archive.member_data(archive.members[1]) == b.read_bytes()
    assert [m.name for m in archive.find_bytes(b"js_three")] == ["b.o"]


def test_lookup_finds_whole_names_and_every_member_listing_one(tmp_path: Path) -> None:
    a = compile_c(tmp_path, "a", "int js_dup(void) { return 1; } int xjs_one(void) { return 1; }\n")
    b = compile_c(tmp_path, "b", "int js_dup(void) { return 2; } int js_one(void) { return 2; }\n")
    archive = read_archive(make_ar(tmp_path / "lib.a", a, b))
    assert archive.lookup("js_dup") == (0, 1)
    assert archive.lookup("js_one") == (1,) and archive.lookup("xjs_one") == (0,)
    assert archive.lookup("js_on") == () and archive.lookup("one") == () and archive.lookup("") == ()
    assert archive.index["js_dup"] == archive.lookup("js_dup")


def test_archive_without_index(tmp_path: Path) -> None:
    obj = compile_c(tmp_path, "a", "int js_one(void) { return 1; }\n")
    archive = read_archive(make_ar(tmp_path / "lib.a", obj, index=False))
    assert not archive.has_index and archive.index == {}
    assert [m.name for m in archive.members] == ["a.o"]


def test_thin_archive_reads_members_beside_it(tmp_path: Path) -> None:
    obj = compile_c(tmp_path, "a", "int js_one(void) { return 1; }\n")
    archive = read_archive(make_ar(tmp_path / "thin.a", obj, thin=True))
    assert archive.kind == "thin"
    assert archive.index == {"js_one": (0,)}
    assert archive.member_data(archive.members[0]) == obj.read_bytes()
    obj.unlink()
    with pytest.raises(ArchiveError, match=r"thin archive member '.*a\.o': cannot read"):
        archive.member_data(archive.members[0])


def test_bsd_archive_from_llvm_ar(tmp_path: Path) -> None:
    llvm_ar = require("llvm-ar")
    import subprocess

    obj = compile_c(tmp_path, "a_member_name_longer_than_sixteen", "int js_one(void) { return 1; }\n")
    out = tmp_path / "bsd.a"
    subprocess.run([llvm_ar, "--format=bsd", "rcs", str(out), str(obj)], check=True)
    archive = read_archive(out)
    assert archive.kind == "bsd"
    assert [m.name for m in archive.members] == ["a_member_name_longer_than_sixteen.o"]
    assert archive.index == {"js_one": (0,)}
    assert archive.member_data(archive.members[0]) == obj.read_bytes()


def test_sym64_index() -> None:
    data = gnu_archive([("a.o", ELF_STUB), ("b.o", ELF_STUB + b"x")], {"x": 1, "y": 0}, sym64=True)
    archive = parse_archive(data)
    assert archive.index == {"x": (1,), "y": (0,)}
    assert archive.members[1].size == len(ELF_STUB) + 1


def test_a_plain_object_is_one_member(tmp_path: Path) -> None:
    obj = compile_c(tmp_path, "a", "int js_one(void) { return 1; }\n")
    archive = read_archive(obj)
    assert archive.kind == "object" and not archive.has_index
    assert archive.member_data(archive.members[0]) == obj.read_bytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"hello world, not an archive", "not an archive or object file"),
        (b"!<arch>\n" + header(b"a.o/", 10)[:40], "truncated member header"),
        (b"!<arch>\n" + header(b"a.o/", 4)[:58] + b"XX" + b"data", "bad member header magic"),
        (b"!<arch>\n" + header(b"a.o/", 999) + b"data", "claims 999 bytes"),
        (b"!<arch>\n" + header(b"a.o/", 4).replace(b"4 ", b"x "), "size is not a number"),
        (b"!<arch>\n" + header(b"/99", 4) + b"data", "long name offset 99 is outside"),
        (b"!<arch>\n" + header(b"/", 4) + struct.pack(">I", 1000), "claims 1000 entries"),
        (b"!<arch>\n" + header(b"#1/50", 4) + b"data", "name length 50 exceeds size 4"),
    ],
    ids=[
        "empty",
        "text",
        "truncated-header",
        "bad-fmag",
        "size-past-end",
        "size-not-number",
        "long-name",
        "index-count",
        "bsd-name",
    ],
)
def test_malformed_input_is_an_archive_error(data: bytes, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        parse_archive(data)


def test_index_pointing_between_members_is_an_error() -> None:
    data = bytearray(gnu_archive([("a.o", ELF_STUB)], {"x": 0}))
    # Point the only index entry at the global header instead of a member.
    struct.pack_into(">I", data, 8 + 60 + 4, 0)
    with pytest.raises(ArchiveError, match="points at offset 0, where no member starts"):
        parse_archive(bytes(data))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no such file"):
        read_archive(tmp_path / "nope.a")
    with pytest.raises(ArchiveError, match="is a directory"):
        read_archive(tmp_path)
