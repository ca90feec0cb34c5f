"""Sealing (seal.py) on real objects and archives made with the system's cc and GNU ar."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from buildlib.archive import read_archive
from buildlib.errors import BuildError, ConfigError
from buildlib.objfile import read_symbols
from buildlib.seal import check_sealable, seal_archive
from buildlib.verify import verify_archive

from .conftest import compile_c, make_ar, require

# Two members: the C surface, and a helper every archive of its kind would carry (think of std's).
SURFACE = "int shared_helper(int x);\nint js_seal_answer(void) { return shared_helper(41); }\n"
HELPER = "int shared_helper(int x) { return x + 1; }\nint other_internal(void) { return 7; }\n"


def globals_of(archive: Path) -> set[str]:
    opened = read_archive(archive)
    return {
        symbol.name
        for member in opened.members
        for symbol in read_symbols(opened.member_data(member), member.name).symbols
        if symbol.defined and symbol.binding != "local"
    }


def test_only_the_kept_names_stay_global_and_the_sealed_archive_links(tmp_path: Path) -> None:
    built = make_ar(tmp_path / "libx.a", compile_c(tmp_path, "surface", SURFACE), compile_c(tmp_path, "helper", HELPER))
    assert globals_of(built) == {"js_seal_answer", "shared_helper", "other_internal"}
    sealed = seal_archive(built, ["js_seal_answer"], tmp_path / "libx.sealed.a", label="verify:x")
    assert globals_of(sealed) == {"js_seal_answer"}
    assert verify_archive(read_archive(sealed), ["js_seal_answer"]).ok
    # A program that defines its own shared_helper links against the sealed archive: nothing collides.
    main = tmp_path / "main.c"
    main.write_text(
        "int js_seal_answer(void);\nint shared_helper(int x) { return x; }\n"
        "int main(void) { return js_seal_answer() == 42 && shared_helper(3) == 3 ? 0 : 1; }\n"
    )
    program = tmp_path / "main"
    subprocess.run([require("cc"), str(main), str(sealed), "-o", str(program)], check=True)
    assert subprocess.run([str(program)], check=False).returncode == 0
    assert not list(tmp_path.glob(".seal-*")), "the scratch directory is removed"


def test_a_file_that_is_no_archive_is_one_error_naming_the_tool(tmp_path: Path) -> None:
    bogus = tmp_path / "libbogus.a"
    bogus.write_text("not an archive")
    with pytest.raises(BuildError, match=r"^verify:x: sealing failed: ld exited 1: ") as caught:
        seal_archive(bogus, ["js_x"], tmp_path / "libbogus.sealed.a", label="verify:x")
    assert "the unsealed archive was not promoted" in (caught.value.hint or "")
    assert not (tmp_path / "libbogus.sealed.a").exists()


def test_only_elf_targets_can_be_sealed() -> None:
    check_sealable(file="pyproject.toml", key="tool.buildlib.classes.hot.seal", target="x86_64-unknown-linux-gnu")
    with pytest.raises(ConfigError, match="sealing works on ELF archives only, and this toolchain builds for"):
        check_sealable(file="pyproject.toml", key="tool.buildlib.classes.hot.seal", target="aarch64-apple-darwin")
