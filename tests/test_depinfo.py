"""cargo's own records of what a build read: dep-info, build-script output, the units of a call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildlib.depinfo import CargoUnits, dep_info_of, parse_build_script_output, parse_dep_info

ID_A = "path+file:///ws/a#0.1.0"


def test_dep_info_lists_every_prerequisite_and_env_read() -> None:
    text = (
        "/t/deps/a-1f.d: a/src/lib.rs /ws/my\\ dir/x.rs \\\n a/src/gen.rs\n\n"
        "/t/deps/liba-1f.rlib: a/src/lib.rs\n\na/src/lib.rs:\n\n"
        "# env-dep:A_SCALE_V=3\n# env-dep:MY_OPT\n"
    )
    info = parse_dep_info(text, Path("/ws"))
    assert info.files == (Path("/ws/a/src/lib.rs"), Path("/ws/my dir/x.rs"), Path("/ws/a/src/gen.rs"))
    assert info.env == ("A_SCALE_V", "MY_OPT")


@pytest.mark.parametrize(
    ("kind", "filename", "expected"),
    [
        (("lib",), "/t/release/deps/libb-f17cd965ce143006.rlib", "/t/release/deps/b-f17cd965ce143006.d"),
        (("proc-macro",), "/t/release/deps/libserde_derive-0a1b.so", "/t/release/deps/serde_derive-0a1b.d"),
    ],
    ids=["rlib", "proc-macro"],
)
def test_the_dep_info_of_each_unit_cargo_reports(kind: tuple[str, ...], filename: str, expected: str) -> None:
    assert dep_info_of(kind, [Path(filename)]) == [Path(expected)]


def test_an_uplifted_artifact_has_cargos_dep_info_and_rustcs_in_deps(tmp_path: Path) -> None:
    (tmp_path / "deps").mkdir()
    original = tmp_path / "deps" / "liba-9628ca03.a"
    original.write_bytes(b"!<arch>\n")
    (tmp_path / "deps" / "liba-0000.a").write_bytes(b"!<arch>\n")  # another build of the same crate
    os.link(original, tmp_path / "liba.a")
    assert dep_info_of(("staticlib",), [tmp_path / "liba.a"]) == [
        tmp_path / "liba.d",
        tmp_path / "deps" / "a-9628ca03.d",
    ]


def test_a_build_script_unit_has_the_dep_info_in_its_directory(tmp_path: Path) -> None:
    build = tmp_path / "build" / "a-08fc"
    build.mkdir(parents=True)
    (build / "build_script_build-08fc.d").write_text("")
    assert dep_info_of(("custom-build",), [build / "build-script-build"]) == [build / "build_script_build-08fc.d"]


def test_build_script_directives_old_and_new_syntax() -> None:
    text = "cargo:rerun-if-changed=build.rs\ncargo::rerun-if-env-changed=CC\ncargo:rustc-env=X=1\nnoise\n"
    output = parse_build_script_output(text, Path("/ws/a"))
    assert output.rerun_if_changed == (Path("/ws/a/build.rs"),)
    assert output.rerun_if_env_changed == ("CC",)


def test_units_from_cargo_messages_keep_local_packages_only() -> None:
    units = CargoUnits()
    units.feed(
        {
            "reason": "compiler-artifact",
            "package_id": ID_A,
            "manifest_path": "/ws/a/Cargo.toml",
            "target": {"kind": ["lib"]},
            "filenames": ["/t/deps/liba-1.rlib"],
            "fresh": True,
        }
    )
    units.feed(
        {
            "reason": "compiler-artifact",
            "package_id": "registry+https://github.com/rust-lang/crates.io-index#flate2@1.0.25",
            "manifest_path": "/usr/share/cargo/registry/flate2-1.0.25/Cargo.toml",
            "target": {"kind": ["lib"]},
            "filenames": ["/t/deps/libflate2-2.rlib"],
            "fresh": False,
        }
    )
    units.feed({"reason": "build-script-executed", "package_id": ID_A, "out_dir": "/t/build/a-9/out"})
    assert units.local_manifests == {ID_A: Path("/ws/a/Cargo.toml")}
    assert units.local_units == [(ID_A, ("lib",), (Path("/t/deps/liba-1.rlib"),))]
    assert units.build_scripts == [(ID_A, Path("/t/build/a-9/out"))]
    assert (units.fresh, units.compiled) == (1, 1)
