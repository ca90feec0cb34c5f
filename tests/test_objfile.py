"""read_symbols and detect_format on the committed fixtures (tests/fixtures/make_fixtures.sh)."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from buildlib.archive import read_archive
from buildlib.errors import ArchiveError
from buildlib.objfile import (
    Binding,
    Symbol,
    Visibility,
    _elf_symbols,
    detect_format,
    elf_symbols,
    load_lief,
    read_symbols,
    symbol_prefix,
)

from .conftest import FIXTURES, require

# (fixture, format, visibility of js_hidden, the prefix the format puts before C names)
OBJECTS: list[tuple[str, str, Visibility, str]] = [
    ("elf-x86_64.o", "elf", "hidden", ""),
    ("macho-x86_64.o", "macho", "hidden", "_"),
    ("macho-arm64.o", "macho", "hidden", "_"),
    ("coff-x86_64.o", "coff", "default", ""),  # COFF has no visibility (F7)
    ("coff-arm64.o", "coff", "default", ""),
    ("coff-i386.o", "coff", "default", "_"),
]
OBJECT_IDS = [fixture.removesuffix(".o") for fixture, *_ in OBJECTS]
LABELS = {"elf": "ELF", "macho": "Mach-O", "coff": "COFF"}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def expected_symbols(hidden: Visibility) -> dict[str, Symbol]:
    def symbol(name: str, defined: bool, binding: Binding, visibility: Visibility = "default") -> Symbol:
        return Symbol(name=name, defined=defined, binding=binding, visibility=visibility)

    return {
        "js_ok": symbol("js_ok", True, "global"),
        "js_hidden": symbol("js_hidden", True, "global", hidden),
        "js_local": symbol("js_local", True, "local"),
        "js_undef": symbol("js_undef", False, "global"),
        "js_weak": symbol("js_weak", True, "weak"),
        "js_weakref": symbol("js_weakref", False, "weak"),
        # A common symbol sits in no section (Mach-O N_UNDF, COFF section 0) but is defined.
        "js_common": symbol("js_common", True, "global"),
    }


@pytest.mark.parametrize(("name", "kind", "hidden", "prefix"), OBJECTS, ids=OBJECT_IDS)
def test_each_symbol_decision(name: str, kind: str, hidden: Visibility, prefix: str) -> None:
    objects = read_symbols(fixture(name), name)
    assert objects.format == kind
    assert not objects.embedded_bitcode
    for symbol_name, expected in expected_symbols(hidden).items():
        assert objects.named(symbol_name) == [expected], symbol_name


@pytest.mark.parametrize(("name", "kind", "hidden", "prefix"), OBJECTS, ids=OBJECT_IDS)
def test_names_are_c_names(name: str, kind: str, hidden: str, prefix: str) -> None:
    data = fixture(name)
    assert symbol_prefix(data) == prefix
    # The bytes hold the platform name; the symbols are the C names.
    assert (prefix + "js_ok").encode() + b"\0" in data
    names = {symbol.name for symbol in read_symbols(data, name).symbols}
    assert "js_ok" in names
    assert not any(n.startswith("_js_") for n in names)
    assert "" not in names


def test_coff_name_shared_as_a_string_table_tail_is_recovered() -> None:
    # llc tail-merges "js_weakref" into ".refptr.js_weakref"; LIEF 1.0 names that symbol "".
    data = fixture("coff-x86_64.o")
    assert b".refptr.js_weakref\0" in data and b"\0js_weakref\0" not in data
    names = [symbol.name for symbol in read_symbols(data, "coff-x86_64.o").symbols]
    assert names.count("js_weakref") == 1
    assert ".refptr.js_weakref" in names


@pytest.mark.parametrize(
    ("name", "kind"),
    [("elf-embedded.o", "elf"), ("macho-embedded.o", "macho"), ("coff-embedded.o", "coff")],
    ids=["elf", "macho", "coff"],
)
def test_embedded_bitcode_section(name: str, kind: str) -> None:
    objects = read_symbols(fixture(name), name)
    assert objects.format == kind
    assert objects.embedded_bitcode
    assert objects.named("js_embedded") == [
        Symbol(name="js_embedded", defined=True, binding="global", visibility="default")
    ]


def test_raw_bitcode_has_no_native_symbols() -> None:
    archive = read_archive(FIXTURES / "bitcode.a")
    data = archive.member_data(archive.members[0])
    assert detect_format(data) == "bitcode"
    assert read_symbols(data, "bitcode.o").symbols == ()


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        *[(fixture_name, kind) for fixture_name, kind, *_ in OBJECTS],
        ("elf-x86_64.a", "unknown"),
        ("thin.a", "unknown"),
    ],
    ids=[*OBJECT_IDS, "gnu-archive", "thin-archive"],
)
def test_detect_format(name: str, kind: str) -> None:
    assert detect_format(fixture(name)) == kind


def _truncated(name: str, size: int) -> bytes:
    return fixture(name)[:size]


def _garbage_after_header(name: str) -> bytes:
    data = fixture(name)
    return data[:4] + b"\xff" * (len(data) - 4)


def _coff_aux_past_the_table(name: str) -> bytes:
    # The last record (.file) claims more auxiliary records than the table holds.
    data = bytearray(fixture(name))
    table, count = struct.unpack_from("<II", data, 8)
    last = table + (count - 2) * 18
    assert data[last : last + 5] == b".file"
    data[last + 17] = 5
    return bytes(data)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("elf-x86_64.o", _truncated("elf-x86_64.o", 40)),
        ("elf-x86_64.o", _truncated("elf-x86_64.o", 1000)),
        ("macho-x86_64.o", _truncated("macho-x86_64.o", 30)),
        ("macho-x86_64.o", _truncated("macho-x86_64.o", 500)),
        ("macho-arm64.o", _garbage_after_header("macho-arm64.o")),
        ("coff-x86_64.o", _truncated("coff-x86_64.o", 20)),
        ("coff-x86_64.o", _truncated("coff-x86_64.o", 600)),
        ("coff-arm64.o", _garbage_after_header("coff-arm64.o")),
        ("coff-x86_64.o", _coff_aux_past_the_table("coff-x86_64.o")),
    ],
    ids=[
        "elf-header-cut",
        "elf-symbols-cut",
        "macho-header-cut",
        "macho-symbols-cut",
        "macho-garbage",
        "coff-header-only",
        "coff-symbols-cut",
        "coff-garbage",
        "coff-aux-past-table",
    ],
)
def test_corrupt_object_is_an_archive_error(name: str, data: bytes) -> None:
    kind = detect_format(data)
    with pytest.raises(ArchiveError, match=rf"^lib\.a\({name}\): corrupt {LABELS[kind]} object"):
        read_symbols(data, f"lib.a({name})")


@pytest.mark.parametrize("name", [fixture_name for fixture_name, *_ in OBJECTS], ids=OBJECT_IDS)
def test_no_truncation_reads_as_fewer_symbols(name: str) -> None:
    # A truncated object must never pass for one that lacks the export ("missing").
    data = fixture(name)
    for size in range(4, len(data)):
        try:
            objects = read_symbols(data[:size], name)
        except ArchiveError:
            continue
        assert objects.format == "unknown", f"{name} cut to {size} bytes read as {len(objects.symbols)} symbols"


@pytest.mark.parametrize("name", ["macho-x86_64.o", "coff-x86_64.o", "elf-x86_64.o"], ids=["macho", "coff", "elf"])
def test_a_name_that_is_not_utf8_spoils_only_itself(name: str) -> None:
    data = fixture(name)
    assert data.count(b"js_caller\0") == 1
    objects = read_symbols(data.replace(b"js_caller\0", b"js_c\xffller\0"), name)
    assert objects.named("js_ok")
    assert objects.named("js_c\ufffdller")
    assert not objects.named("js_caller")


def test_the_struct_elf_reader_agrees_with_lief_on_every_member_of_a_rust_staticlib(tmp_path: Path) -> None:
    """Verifying an ELF archive reads symbols with struct, never importing LIEF (F8); LIEF reads
    the other formats. Both must see the same symbols, member by member, on a real std."""
    source = tmp_path / "lib.rs"
    source.write_text('#[no_mangle]\npub extern "C" fn js_struct_reader() -> u32 { 42 }\n')
    archive = tmp_path / "libx.a"
    rustc = require("rustc")
    subprocess.run([rustc, "--crate-type", "staticlib", "-O", str(source), "-o", str(archive)], check=True)
    opened = read_archive(archive)
    members = [m for m in opened.members if detect_format(opened.member_head(m)) == "elf"]
    assert len(members) > 20
    objects = [(m.name, opened.member_data(m)) for m in members]
    objects += [(name, fixture(name)) for name in ("elf-x86_64.o", "elf-embedded.o")]
    for name, data in objects:
        native = elf_symbols(data)
        assert native is not None, name
        from_lief = _elf_symbols(load_lief().ELF.parse(data), data)
        assert sorted(native[0], key=repr) == sorted(from_lief[0], key=repr), name
        assert native[1] == from_lief[1], name
