from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from buildlib._fs import identity
from buildlib.archive import read_archive
from buildlib.audit import link_symbols
from buildlib.errors import StoreError
from buildlib.exports import ExportScan
from buildlib.plan import Staticlib
from buildlib.store import StoreEntry, file_sha256, load_entry, promote
from buildlib.verify import verify_archive

from .conftest import compile_c, make_ar, plan_for, record


def promote_version(route: Staticlib, tmp_path: Path, version: int = 1, *, described: bool = False) -> StoreEntry:
    """Build an archive whose js_a returns ``version``, verify it, and promote it; with ``described``,
    its record names the built copy's identity and SHA-256, as build.install_archives writes it."""
    route.built.parent.mkdir(parents=True, exist_ok=True)
    make_ar(route.built, compile_c(tmp_path, f"v{version}", f"int js_a(void) {{ return {version}; }}\n"))
    archive = read_archive(route.built)
    result = verify_archive(archive, ["js_a"])
    built = {"built_identity": identity(route.built), "built_sha256": file_sha256(route.built)} if described else {}
    return promote(route, record("ext-a", **built), result, ExportScan(exports=(), undecided=()), link_symbols(archive))


def test_verifying_the_same_build_again_leaves_one_name_in_the_store(tmp_path: Path) -> None:
    """An exports file edited, or `doit forget verify:X`: the same build promoted again."""
    route = plan_for(tmp_path).route("ext-a").staticlib
    first = promote_version(route, tmp_path, described=True)
    archive = read_archive(route.built)
    built = {"built_identity": identity(route.built), "built_sha256": file_sha256(route.built)}
    for _ in range(2):
        again = promote(
            route,
            record("ext-a", **built),
            verify_archive(archive, ["js_a"]),
            ExportScan(exports=(), undecided=()),
            link_symbols(archive),
        )
        assert again.archive == first.archive
    assert sorted(p.name for p in route.report.parent.iterdir()) == sorted(
        [first.archive.name, route.verified_archive.name, route.report.name]
    )
    assert first.archive.stat().st_nlink == 2  # the build's copy and the store's name, nothing hidden


def test_promotion_removes_what_a_killed_promotion_left(tmp_path: Path) -> None:
    route = plan_for(tmp_path).route("ext-a").staticlib
    first = promote_version(route, tmp_path, described=True)
    left = route.report.parent / f".{first.archive.name}.k1ll3d.tmp"
    os.link(first.archive, left)  # killed between the link and the rename
    promote_version(route, tmp_path, 2, described=True)
    assert not left.exists()


def test_a_build_copy_rewritten_in_place_is_refused_at_the_link(tmp_path: Path) -> None:
    """The price of the hard link: ``cp other.a`` over the build's copy rewrites the store's, and
    load_entry says so (the next build copies cargo's archive again: test_integration)."""
    route = plan_for(tmp_path).route("ext-a").staticlib
    promote_version(route, tmp_path, described=True)
    with route.built.open("r+b") as handle:
        handle.write(b"!<arch>\nrewritten")
    with pytest.raises(StoreError, match="not the archive that was verified"):
        load_entry(route, hint="verify it again")


def test_a_build_copy_its_record_does_not_describe_is_copied(tmp_path: Path) -> None:
    route = plan_for(tmp_path).route("ext-a").staticlib
    route.built.parent.mkdir(parents=True, exist_ok=True)
    make_ar(route.built, compile_c(tmp_path, "v1", "int js_a(void) { return 1; }\n"))
    stale = {"built_identity": identity(route.built), "built_sha256": file_sha256(route.built)}
    make_ar(route.built, compile_c(tmp_path, "v2", "int js_a(void) { return 2; }\n"))  # replaced since
    archive = read_archive(route.built)
    result = verify_archive(archive, ["js_a"])
    entry = promote(
        route, record("ext-a", **stale), result, ExportScan(exports=(), undecided=()), link_symbols(archive)
    )
    assert entry.archive.stat().st_ino != route.built.stat().st_ino
    assert entry.sha256 == file_sha256(route.built) != stale["built_sha256"]


@pytest.mark.parametrize("described", [False, True], ids=["copied", "linked"])
def test_promote_then_load(tmp_path: Path, described: bool) -> None:
    route = plan_for(tmp_path).route("ext-a").staticlib
    entry = promote_version(route, tmp_path, described=described)
    assert route.verified_archive.read_bytes() == route.built.read_bytes()
    assert entry.sha256 == file_sha256(route.built)
    # Linked, no bytes are copied: the store's archive is a second name of the build's copy.
    assert (entry.archive.stat().st_ino == route.built.stat().st_ino) is described
    report = json.loads(route.report.read_text())
    assert report["verify"]["ok"] is True and report["native_static_libs"] == ["-lc", "-lm"]
    assert ["js_a", None, None] in report["link_symbols"]["symbols"]
    assert load_entry(route, hint="verify it again") == entry

    # A later build replaces the built archive by rename; the verified one must not change.
    (tmp_path / "new.a").write_bytes(b"!<arch>\n")
    (tmp_path / "new.a").replace(route.built)
    assert load_entry(route, hint="verify it again") == entry


def test_load_entry_refuses_a_missing_or_swapped_archive(tmp_path: Path) -> None:
    route = plan_for(tmp_path).route("ext-a").staticlib
    with pytest.raises(StoreError, match="no verified archive yet"):
        load_entry(route, hint="verify it again")
    entry = promote_version(route, tmp_path)
    assert entry.archive != route.verified_archive and route.verified_archive.resolve() == entry.archive
    entry.archive.write_bytes(b"!<arch>\nswapped")
    with pytest.raises(StoreError, match="not the archive that was verified"):
        load_entry(route, hint="verify it again")


def test_a_copied_entry_survives_the_build_copy_rewritten_in_place(tmp_path: Path) -> None:
    """Where promotion copies (no hard links, or a record that does not describe the build's copy),
    the store's archive is its own file."""
    route = plan_for(tmp_path).route("ext-a").staticlib
    entry = promote_version(route, tmp_path)
    assert entry.archive.stat().st_ino != route.built.stat().st_ino
    with route.built.open("r+b") as handle:  # what `cp other.a libext_a.a` does
        handle.write(b"!<arch>\nrewritten")
    assert load_entry(route, hint="verify it again") == entry


@pytest.mark.parametrize("described", [False, True], ids=["copied", "linked"])
@pytest.mark.parametrize("failing_step", [1, 2, 3], ids=["archive-rename", "report-rename", "symlink-rename"])
def test_a_fault_at_any_rename_leaves_a_whole_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_step: int, described: bool
) -> None:
    route = plan_for(tmp_path).route("ext-a").staticlib
    old = promote_version(route, tmp_path, 1, described=described)
    old_bytes = old.archive.read_bytes()

    real_replace = os.replace
    calls = []

    def crash_on_nth(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) == failing_step:
            raise OSError(28, "No space left on device (injected)")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", crash_on_nth)
    with pytest.raises(OSError, match="injected"):
        promote_version(route, tmp_path, 2, described=described)
    monkeypatch.setattr(os, "replace", real_replace)

    entry = load_entry(route, hint="verify it again")  # whole: either the old one or the new one, never a mix
    if failing_step <= 2:
        assert entry == old and entry.archive.read_bytes() == old_bytes
    else:
        assert entry.sha256 != old.sha256
    assert not list(route.report.parent.glob(".*.tmp")), "no temporary file is left behind"


def test_store_files_follow_the_umask(tmp_path: Path) -> None:
    """Temporary files are private; the files they become get the mode the umask gives (0644 under 022)."""
    previous = os.umask(0o022)
    try:
        staticlib = plan_for(tmp_path).route("ext-a").staticlib
        entry = promote_version(staticlib, tmp_path)
    finally:
        os.umask(previous)
    for path in (entry.archive, staticlib.report):
        assert path.stat().st_mode & 0o777 == 0o644, path
