"""The inputs document: what it records from cargo's messages and files, and when it says stale."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from buildlib.cargoenv import config_files, tracked_environment, user_rustflags
from buildlib.depinfo import CargoUnits, cargo_reads
from buildlib.freshness import CHANGED_DURING_BUILD, collect_inputs, why_stale, write_inputs

ID_A = "path+file:///ws/a#0.1.0"


def _workspace(tmp_path: Path, *, rerun: str) -> tuple[Path, Path, CargoUnits]:
    """A package ``a`` with a build script, compiled into ``target/``, as cargo reports it."""
    ws, target = tmp_path / "ws", tmp_path / "ws" / "target" / "release"
    for relative in ("Cargo.toml", "Cargo.lock", "a/Cargo.toml", "a/src/lib.rs", "a/build.rs", "a/README.md"):
        (ws / relative).parent.mkdir(parents=True, exist_ok=True)
        (ws / relative).write_text("x")
    (target / "deps").mkdir(parents=True)
    (target / "deps" / "a-1f.d").write_text("/t/deps/a-1f.d: a/src/lib.rs\n\n# env-dep:MY_OPT\n")
    (target / "build" / "a-9" / "out").mkdir(parents=True)
    (target / "build" / "a-9" / "output").write_text(rerun)
    units = CargoUnits()
    units.feed(
        {
            "reason": "compiler-artifact",
            "package_id": ID_A,
            "manifest_path": str(ws / "a" / "Cargo.toml"),
            "target": {"kind": ["lib"]},
            "filenames": [str(target / "deps" / "liba-1f.rlib")],
            "fresh": False,
        }
    )
    units.feed({"reason": "build-script-executed", "package_id": ID_A, "out_dir": str(target / "build/a-9/out")})
    return ws, target, units


def _collect(
    tmp_path: Path, ws: Path, units: CargoUnits, environ: dict[str, str], started_ns: int | None = None
) -> Path:
    """Record the inputs as after a cargo call that started now (or at ``started_ns``)."""
    inputs = collect_inputs(
        unit="cargo build",
        cwd=ws,
        reads=cargo_reads(units, ws),
        target_dir=ws / "target",
        extra_files=[ws / "Cargo.toml", ws / "Cargo.lock"],
        outputs=[],
        environ=environ,
        started_ns=time.time_ns() if started_ns is None else started_ns,
    )
    path = tmp_path / "unit.inputs.json"
    write_inputs(path, inputs)
    return path


def _touch(path: Path) -> None:
    later = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))


def test_what_the_build_recorded_is_what_the_next_run_compares(tmp_path: Path) -> None:
    ws, _, units = _workspace(tmp_path, rerun="cargo:rerun-if-changed=build.rs\ncargo:rerun-if-env-changed=A_SCALE\n")
    environ = {"CARGO_HOME": str(tmp_path / "home"), "A_SCALE": "3", "TERM": "xterm"}
    path = _collect(tmp_path, ws, units, environ)
    recorded = json.loads(path.read_text())
    assert {str(ws / p) for p in ("a/src/lib.rs", "a/build.rs", "a/Cargo.toml", "Cargo.lock")} <= set(recorded["files"])
    assert str(ws / "a" / "README.md") not in recorded["files"], "cargo does not rebuild for a README"
    assert recorded["files"][str(ws / ".cargo" / "config.toml")] == "absent"
    assert recorded["env"]["A_SCALE"] == "3" and "MY_OPT" in recorded["env"] and "TERM" not in recorded["env"]

    assert why_stale(path, "cargo build", environ) is None
    assert why_stale(path, "cargo build", {**environ, "TERM": "dumb", "CARGO_TERM_COLOR": "never"}) is None
    assert why_stale(path, "cargo build --release", environ) == "its cargo command, environment or toolchain changed"
    assert why_stale(path, "cargo build", {**environ, "A_SCALE": "5"}) == "environment variable A_SCALE changed"
    assert why_stale(path, "cargo build", {**environ, "MY_OPT": "1"}) == "environment variable MY_OPT changed"
    assert why_stale(path, "cargo build", {**environ, "RUSTFLAGS": "-g"}) == "environment variable RUSTFLAGS changed"
    assert (
        why_stale(path, "cargo build", {**environ, "CARGO_PROFILE_RELEASE_OPT_LEVEL": "1"})
        == "environment variable CARGO_PROFILE_RELEASE_OPT_LEVEL changed"
    )
    (ws / "a" / "README.md").write_text("more")
    assert why_stale(path, "cargo build", environ) is None
    _touch(ws / "a" / "build.rs")
    assert why_stale(path, "cargo build", environ) == f"{ws / 'a' / 'build.rs'} changed"


def test_a_configuration_file_that_appears_makes_the_unit_stale(tmp_path: Path) -> None:
    ws, _, units = _workspace(tmp_path, rerun="cargo:rerun-if-changed=build.rs\n")
    environ = {"CARGO_HOME": str(tmp_path / "home")}
    path = _collect(tmp_path, ws, units, environ)
    for config in (ws / ".cargo" / "config.toml", tmp_path / "home" / "config.toml"):
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("[profile.release]\nopt-level = 1\n")
        assert why_stale(path, "cargo build", environ) == f"{config} changed"
        config.unlink()
    assert why_stale(path, "cargo build", environ) is None


def test_a_build_script_without_rerun_if_changed_depends_on_its_whole_package(tmp_path: Path) -> None:
    ws, _, units = _workspace(tmp_path, rerun="cargo:rustc-cfg=x\n")
    path = _collect(tmp_path, ws, units, {})
    assert why_stale(path, "cargo build", {}) is None
    (ws / "a" / "README.md").write_text("cargo reruns this build script for any file of the package")
    _touch(ws / "a" / "README.md")
    assert why_stale(path, "cargo build", {}) == f"{ws / 'a'} changed"


def test_a_source_modified_while_cargo_ran_is_stale_next_time(tmp_path: Path) -> None:
    ws, _, units = _workspace(tmp_path, rerun="cargo:rerun-if-changed=build.rs\n")
    started = (ws / "a" / "src" / "lib.rs").stat().st_mtime_ns  # the edit lands after cargo started
    path = _collect(tmp_path, ws, units, {}, started_ns=started)
    files = json.loads(path.read_text())["files"]
    assert files[str(ws / "a" / "src" / "lib.rs")] == CHANGED_DURING_BUILD
    assert files[str(ws / "Cargo.lock")] != CHANGED_DURING_BUILD, "cargo itself writes the lockfile"
    assert (why_stale(path, "cargo build", {}) or "").endswith(" changed while cargo was building")


def test_no_document_or_an_unreadable_one_is_stale(tmp_path: Path) -> None:
    assert why_stale(tmp_path / "missing.json", "u", {}) == "never built"
    for text in ("{", "[]", '{"format": 1, "unit": "u", "files": [], "env": {}}'):
        (tmp_path / "bad.json").write_text(text)
        assert why_stale(tmp_path / "bad.json", "u", {}) == f"{tmp_path / 'bad.json'} is unreadable"


def test_tracked_environment_follows_cargos_documented_variables() -> None:
    environ = {
        "RUSTFLAGS": "-g",
        "CARGO_PROFILE_RELEASE_LTO": "thin",
        "CARGO_BUILD_TARGET": "x",
        "CARGO_BUILD_JOBS": "4",
        "CARGO_TERM_COLOR": "never",
        "HOME": "/root",
    }
    tracked = tracked_environment(environ, ["CC"])
    assert tracked["RUSTFLAGS"] == "-g" and tracked["CC"] is None and tracked["RUSTC_WRAPPER"] is None
    assert tracked["CARGO_PROFILE_RELEASE_LTO"] == "thin" and tracked["CARGO_BUILD_TARGET"] == "x"
    assert not {"CARGO_BUILD_JOBS", "CARGO_TERM_COLOR", "HOME"} & set(tracked)


def test_configuration_files_from_the_working_directory_up_and_cargo_home(tmp_path: Path) -> None:
    files = config_files(tmp_path / "a" / "b", {"CARGO_HOME": str(tmp_path / "home")})
    assert files[:2] == [tmp_path / "a" / "b" / ".cargo" / "config.toml", tmp_path / "a" / "b" / ".cargo" / "config"]
    assert tmp_path / ".cargo" / "config.toml" in files
    assert files[-2:] == [tmp_path / "home" / "config.toml", tmp_path / "home" / "config"]


def test_user_rustflags_in_cargos_order() -> None:
    assert user_rustflags({}) is None
    assert user_rustflags({"RUSTFLAGS": " -C  opt-level=1 "}) == ("RUSTFLAGS", ["-C", "opt-level=1"])
    assert user_rustflags({"RUSTFLAGS": "-g", "CARGO_ENCODED_RUSTFLAGS": ""}) == ("CARGO_ENCODED_RUSTFLAGS", [])
    assert user_rustflags({"CARGO_ENCODED_RUSTFLAGS": "-C\x1fa b"}) == ("CARGO_ENCODED_RUSTFLAGS", ["-C", "a b"])


def test_a_build_output_directory_inside_a_package_is_not_part_of_its_tree(tmp_path: Path) -> None:
    """An out-dir inside a package whose build script declares no rerun-if-changed: every build
    rewrites it, so counting it would make every next run build again."""
    ws, _, units = _workspace(tmp_path, rerun="cargo:rustc-cfg=x\n")
    out = ws / "a" / "build"
    (out / ".buildlib").mkdir(parents=True)
    path = _collect(tmp_path, ws, units, {})
    (out / "archives").mkdir()
    (out / "archives" / "liba.a").write_bytes(b"!<arch>\n")
    assert why_stale(path, "cargo build", {}) is None
