from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildlib.errors import WorkspaceError
from buildlib.workspace import find_files, load_workspace, parse_metadata

from .conftest import cargo_calls, cargo_shim


def write_workspace(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cargo.toml").write_text('[workspace]\nresolver = "2"\nmembers = ["rt", "ext-a", "tool"]\n')
    for name, body in {
        "rt": '[lib]\ncrate-type = ["rlib"]\n',
        "ext-a": '[lib]\ncrate-type = ["staticlib", "rlib"]\n[dependencies]\nrt = { path = "../rt" }\n'
        '[dev-dependencies]\ntool = { path = "../tool" }\n',
        "tool": "",
    }.items():
        (root / name / "src").mkdir(parents=True)
        edition = "2024" if name == "ext-a" else "2021"
        manifest = f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "{edition}"\n{body}'
        (root / name / "Cargo.toml").write_text(manifest)
        main = "main.rs" if name == "tool" else "lib.rs"
        (root / name / "src" / main).write_text("fn main() {}\n" if name == "tool" else "")


@pytest.fixture
def shimmed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir, log = cargo_shim(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_workspace_comes_from_cargo_metadata(tmp_path: Path, shimmed: Path) -> None:
    root = tmp_path / "ws"
    write_workspace(root)
    workspace = load_workspace(root, out_dir=tmp_path / "out")
    names = {c.name for c in workspace.crates}
    assert names == {"rt", "ext-a"}  # "tool" has no library target
    ext = workspace.crate("ext-a")
    assert ext.is_ext and not workspace.crate("rt").is_ext
    assert ext.lib_name == "ext_a" and ext.archive_name == "libext_a.a"
    assert ext.edition == "2024"
    assert ext.path_deps == ("rt",)  # the dev-dependency does not count
    assert ext.src_path == root / "ext-a" / "src" / "lib.rs"
    assert [c.name for c in workspace.ext_crates] == ["ext-a"]
    assert {c.name for c in workspace.with_path_deps("ext-a")} == {"ext-a", "rt"}


def test_metadata_is_cached_until_a_manifest_changes(tmp_path: Path, shimmed: Path) -> None:
    root = tmp_path / "ws"
    write_workspace(root)
    out = tmp_path / "out"
    load_workspace(root, out_dir=out)
    load_workspace(root, out_dir=out)
    (root / "rt" / "src" / "lib.rs").write_text("pub fn f() {}\n")  # a source edit is not a manifest edit
    load_workspace(root, out_dir=out)
    assert len(cargo_calls(shimmed)) == 1
    with (root / "rt" / "Cargo.toml").open("a") as manifest:
        manifest.write("\n# edited\n")
    load_workspace(root, out_dir=out)
    assert len(cargo_calls(shimmed)) == 2
    (out / ".buildlib" / "metadata.json").write_text("{corrupt")
    assert {c.name for c in load_workspace(root, out_dir=out).crates} == {"rt", "ext-a"}
    assert len(cargo_calls(shimmed)) == 3


def test_a_member_named_as_the_workspace_sees_its_workspace_manifest_change(tmp_path: Path, shimmed: Path) -> None:
    """cargo plans the whole workspace from a member's manifest: the root's files are in the key."""
    root = tmp_path / "ws"
    write_workspace(root)
    out = tmp_path / "out"
    assert load_workspace(root / "ext-a", out_dir=out).root == root
    (root / "ext-b" / "src").mkdir(parents=True)
    (root / "ext-b" / "src" / "lib.rs").write_text("")
    (root / "ext-b" / "Cargo.toml").write_text('[package]\nname = "ext-b"\nversion = "0.1.0"\nedition = "2021"\n')
    (root / "Cargo.toml").write_text('[workspace]\nresolver = "2"\nmembers = ["rt", "ext-a", "ext-b", "tool"]\n')
    assert {c.name for c in load_workspace(root / "ext-a", out_dir=out).crates} == {"rt", "ext-a", "ext-b"}
    assert len(cargo_calls(shimmed)) == 2
    load_workspace(root / "ext-a", out_dir=out)
    assert len(cargo_calls(shimmed)) == 2


def _package(directory: Path, name: str, crate_type: str = "rlib") -> Path:
    (directory / "src").mkdir(parents=True)
    (directory / "src" / "lib.rs").write_text("")
    manifest = directory / "Cargo.toml"
    manifest.write_text(
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n[lib]\ncrate-type = ["{crate_type}"]\n'
    )
    return manifest


def test_members_behind_a_symlink_are_watched_through_cargos_answer(tmp_path: Path, shimmed: Path) -> None:
    """The search does not follow links (one could lead anywhere): cargo names the members behind
    one, and the key holds their manifests, the directories down to them and what each link leads
    to holds."""
    root, vendor = tmp_path / "ws", tmp_path / "vendor"
    write_workspace(root)
    members = '"rt", "ext-a", "tool", "vendor/*"'
    (root / "Cargo.toml").write_text(f'[workspace]\nresolver = "2"\nmembers = [{members}]\n')
    manifest = _package(vendor / "ext-v", "ext-v", "staticlib")
    (root / "vendor").symlink_to(vendor)
    (root / "rt" / "up").symlink_to(root)
    out = tmp_path / "out"
    assert load_workspace(root, out_dir=out).crate("ext-v").is_ext
    assert not [path for path in find_files(root, frozenset({"Cargo.toml"})) if "up" in path.parts]
    manifest.write_text(manifest.read_text().replace('"staticlib"', '"rlib"'))
    assert not load_workspace(root, out_dir=out).crate("ext-v").is_ext
    _package(vendor / "ext-w", "ext-w")
    assert "ext-w" in {c.name for c in load_workspace(root, out_dir=out).crates}
    load_workspace(root, out_dir=out)
    assert len(cargo_calls(shimmed)) == 3


def test_a_package_a_workspace_above_it_comes_to_list_is_seen_as_its_member(tmp_path: Path, shimmed: Path) -> None:
    """cargo looks above a package without a [workspace] table for a workspace that lists it."""
    root = tmp_path / "ws"
    write_workspace(root)
    (root / "Cargo.toml").unlink()
    (root / "ext-a" / "Cargo.toml").write_text('[package]\nname = "ext-a"\nversion = "0.1.0"\nedition = "2021"\n')
    out = tmp_path / "out"
    assert load_workspace(root / "ext-a", out_dir=out).root == root / "ext-a"
    (root / "Cargo.toml").write_text('[workspace]\nresolver = "2"\nmembers = ["ext-a"]\n')
    assert load_workspace(root / "ext-a", out_dir=out).root == root
    assert len(cargo_calls(shimmed)) == 2


def test_what_a_searched_directory_holds_is_in_the_key(tmp_path: Path, shimmed: Path) -> None:
    """cargo's member globs match hidden directories, which the search skips; and a package gains
    its library target when ``src/lib.rs`` appears."""
    root = tmp_path / "ws"
    write_workspace(root)
    (root / "Cargo.toml").write_text('[workspace]\nresolver = "2"\nmembers = ["rt", "ext-a", "tool", "group/*"]\n')
    _package(root / "group" / "one", "one")
    out = tmp_path / "out"
    assert "tool" not in {c.name for c in load_workspace(root, out_dir=out).crates}
    _package(root / "group" / ".two", "two")
    assert "two" in {c.name for c in load_workspace(root, out_dir=out).crates}
    (root / "tool" / "src" / "lib.rs").write_text("")
    assert "tool" in {c.name for c in load_workspace(root, out_dir=out).crates}
    load_workspace(root, out_dir=out)
    assert len(cargo_calls(shimmed)) == 3


def test_a_first_build_s_target_and_output_directories_ask_cargo_nothing(
    tmp_path: Path, shimmed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    write_workspace(root)
    out = root / "build"  # the output directory may sit inside the workspace
    load_workspace(root, out_dir=out)
    (root / "target" / "release").mkdir(parents=True)
    (out / "archives").mkdir(parents=True)
    load_workspace(root, out_dir=out)
    assert len(cargo_calls(shimmed)) == 1
    monkeypatch.setenv("CARGO_TARGET_DIR", str(root / "cargo-out"))  # a target directory by another name
    assert load_workspace(root, out_dir=out).target_dir == root / "cargo-out"
    (root / "cargo-out" / "release" / "deps").mkdir(parents=True)
    load_workspace(root, out_dir=out)
    assert len(cargo_calls(shimmed)) == 2


def test_a_manifest_saved_while_cargo_metadata_runs_keeps_nothing(tmp_path: Path, shimmed: Path) -> None:
    """cargo's answer may be of the bytes before the save, the key would be of those after."""
    root = tmp_path / "ws"
    write_workspace(root)
    once, saving = tmp_path / "save-once", tmp_path / "saving"
    once.touch()
    saving.mkdir()
    cargo = saving / "cargo"
    cargo.write_text(
        f'#!/bin/sh\nif [ -e {once} ]; then rm {once}; echo "# saved" >> {root / "rt" / "Cargo.toml"}; fi\n'
        f'exec {shimmed.parent / "shim-bin" / "cargo"} "$@"\n'
    )
    cargo.chmod(0o755)
    out = tmp_path / "out"
    load_workspace(root, out_dir=out, cargo=str(cargo))
    load_workspace(root, out_dir=out, cargo=str(cargo))
    load_workspace(root, out_dir=out, cargo=str(cargo))
    assert len(cargo_calls(shimmed)) == 2


def test_no_workspace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"no Cargo\.toml"):
        load_workspace(tmp_path, out_dir=tmp_path / "out")


def test_missing_cargo_is_a_clear_error(tmp_path: Path) -> None:
    write_workspace(tmp_path)
    with pytest.raises(WorkspaceError, match="no-such-cargo: not found"):
        load_workspace(tmp_path, out_dir=tmp_path / "out", cargo="no-such-cargo")


def test_cargo_failure_shows_its_last_line(tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text('[workspace]\nmembers = ["nope"]\n')
    with pytest.raises(WorkspaceError, match="cargo metadata failed"):
        load_workspace(tmp_path, out_dir=tmp_path / "out")


def test_parse_metadata_rejects_output_without_the_expected_fields() -> None:
    with pytest.raises(WorkspaceError, match="lacks an expected field"):
        parse_metadata({"packages": []})


def test_a_missing_lockfile_is_written_before_anything_builds(tmp_path: Path, shimmed: Path) -> None:
    root = tmp_path / "ws"
    write_workspace(root)
    assert not (root / "Cargo.lock").exists()
    load_workspace(root, out_dir=tmp_path / "out")
    assert (root / "Cargo.lock").is_file()
    load_workspace(root, out_dir=tmp_path / "out")
    assert len(cargo_calls(shimmed)) == 1, "the cache key already counts the lockfile cargo wrote"
