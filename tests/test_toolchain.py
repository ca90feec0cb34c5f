from __future__ import annotations

import os
from pathlib import Path

import pytest
from packaging.version import Version

from buildlib.errors import ToolchainError
from buildlib.toolchain import Toolchain, check_editions, check_method_supported, load_toolchain, parse_version_output

from .conftest import cargo_calls, cargo_shim, crate, require

RUSTC_VV = """rustc 1.95.0 (59807616e 2026-04-14)
binary: rustc
commit-hash: 59807616e1fa2540724bfbac14d7976d7e4a3860
host: x86_64-unknown-linux-gnu
release: 1.95.0
LLVM version: 22.1.2
"""


def test_parse_version_output() -> None:
    fields = parse_version_output(RUSTC_VV, "rustc")
    assert (fields["release"], fields["host"], fields["LLVM version"]) == (
        "1.95.0",
        "x86_64-unknown-linux-gnu",
        "22.1.2",
    )
    nightly = parse_version_output(RUSTC_VV.replace("release: 1.95.0", "release: 1.97.0-nightly"), "rustc")
    assert nightly["release"] == "1.97.0"
    with pytest.raises(ToolchainError, match="cannot read a version"):
        parse_version_output("rustc ?\nrelease: banana\n", "rustc")


@pytest.mark.parametrize(
    ("cargo", "method", "message"),
    [
        ("1.62.1", "together", r"needs --config on the command line \(cargo 1.63\), this cargo is 1.62.1"),
        ("1.63.0", "staticlib", r"needs cargo rustc --crate-type \(cargo 1.64\), this cargo is 1.63.0"),
    ],
    ids=["config-flag", "crate-type-flag"],
)
def test_too_old_cargo_for_a_method_names_both_versions(cargo: str, method: str, message: str) -> None:
    toolchain = Toolchain(cargo=cargo, rustc=cargo, host="h", llvm="14", commit="c")
    with pytest.raises(ToolchainError, match=message):
        check_method_supported(toolchain, method, "tool.buildlib.classes.x.method")
    check_method_supported(Toolchain(cargo="1.64.0", rustc="1.64.0", host="h", llvm="14", commit="c"), method, "k")


def test_a_cargo_too_old_for_a_crates_edition_is_one_line_before_building(tmp_path: Path) -> None:
    """A distribution cargo 1.65 builds edition 2021 crates but not edition 2024 ones."""
    old = Toolchain(cargo="1.65.0", rustc="1.65.0", host="h", llvm="15", commit="c")
    current = crate(tmp_path, "ext-a", edition="2021")
    newer = crate(tmp_path, "ext-b", edition="2024")
    check_editions(old, [current])
    with pytest.raises(
        ToolchainError,
        match=r"ext-b/Cargo.toml: crate 'ext-b' is edition 2024, which needs cargo 1.85; this cargo is 1.65.0",
    ):
        check_editions(old, [current, newer])
    check_editions(Toolchain(cargo="1.95.0", rustc="1.95.0", host="h", llvm="22", commit="c"), [current, newer])


def test_real_toolchain_is_read_once_then_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, log = cargo_shim(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    first = load_toolchain("cargo", workspace=tmp_path, out_dir=tmp_path / "out")
    second = load_toolchain("cargo", workspace=tmp_path, out_dir=tmp_path / "out")
    assert first == second
    assert first.rustc_version >= Version("1.64")
    assert cargo_calls(log) == ["-vV"]
    (tmp_path / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "stable"\n')
    load_toolchain("cargo", workspace=tmp_path, out_dir=tmp_path / "out")
    assert cargo_calls(log) == ["-vV", "-vV"], "a rust-toolchain file invalidates the cache"


def test_a_toolchain_updated_in_place_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``rustup update`` writes the new release's files under the toolchain's old name: the proxy
    on PATH, rustup's settings and the toolchains directory stay as they were."""
    sysroot = tmp_path / "toolchains" / "stable"
    (sysroot / "bin").mkdir(parents=True)
    rustc = sysroot / "bin" / "rustc"

    def install(release: str) -> None:
        rustc.unlink(missing_ok=True)  # a new file, as an update writes it
        rustc.write_text(
            f'#!/bin/sh\nif [ "$1" = -vV ]; then printf "rustc {release}\\nrelease: {release}\\nhost: h\\n"\n'
            f"else echo {sysroot}; echo debug_assertions; fi\n"
        )
        rustc.chmod(0o755)

    proxy = tmp_path / "bin" / "rustc"
    proxy.parent.mkdir()
    proxy.write_text(f'#!/bin/sh\nexec {rustc} "$@"\n')
    proxy.chmod(0o755)
    monkeypatch.setenv("RUSTC", str(proxy))
    install("1.95.0")
    first = load_toolchain("cargo", workspace=tmp_path, out_dir=tmp_path / "out")
    assert (first.rustc, first.sysroot, first.cfg) == ("1.95.0", str(sysroot), ("debug_assertions",))
    install("1.96.0")
    assert load_toolchain("cargo", workspace=tmp_path, out_dir=tmp_path / "out").rustc == "1.96.0"


def test_missing_cargo(tmp_path: Path) -> None:
    require("cargo")
    with pytest.raises(ToolchainError, match="no-such-cargo: not found on PATH"):
        load_toolchain("no-such-cargo", workspace=tmp_path, out_dir=tmp_path / "out")
