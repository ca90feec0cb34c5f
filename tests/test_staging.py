from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from buildlib import _fs
from buildlib.staging import Stager, take


def cargo_archive(path: Path, data: bytes) -> Path:
    """An archive as rustc writes one: a new file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".new")
    temp.write_bytes(data)
    temp.replace(path)
    return path


def temporaries(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp"))


def test_an_offered_archive_is_linked_and_hashed_beside_its_place(tmp_path: Path) -> None:
    artifact = cargo_archive(tmp_path / "target" / "libext_a.a", b"!<arch>\n" + os.urandom(3 << 20))
    place = tmp_path / "out" / "libext_a.a"
    stager = Stager({"ext_a": place})
    stager.offer("ext_a", artifact)
    stager.offer("not_ours", artifact)
    staged = stager.finish()
    assert list(staged) == ["ext_a"]
    linked = staged["ext_a"]
    assert linked.temp.parent == place.parent and os.path.samefile(linked.temp, artifact)
    assert linked.sha256 == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert take(linked, artifact) == linked
    _fs.install(linked.temp, place)
    stager.discard()  # an installed copy is not removed
    assert place.read_bytes() == artifact.read_bytes() and not temporaries(place.parent)


def test_a_copy_of_an_archive_cargo_wrote_again_is_not_taken(tmp_path: Path) -> None:
    artifact = cargo_archive(tmp_path / "target" / "libext_a.a", b"!<arch>\nfirst")
    place = tmp_path / "out" / "libext_a.a"
    stager = Stager({"ext_a": place})
    stager.offer("ext_a", artifact)
    copy = stager.finish()["ext_a"]
    cargo_archive(artifact, b"!<arch>\nsecond, longer")
    assert take(copy, artifact) is None
    assert take(copy, tmp_path / "target" / "elsewhere.a") is None
    assert take(None, artifact) is None
    stager.discard()
    assert not temporaries(place.parent) and not place.exists()


def test_discard_drops_what_is_queued_and_removes_every_copy(tmp_path: Path) -> None:
    """A failed or interrupted cargo call installs nothing and leaves no temporary file."""
    places = {f"ext_{i}": tmp_path / "out" / f"libext_{i}.a" for i in range(20)}
    stager = Stager(places)
    for name in places:
        stager.offer(name, cargo_archive(tmp_path / "target" / f"lib{name}.a", b"!<arch>\n" + os.urandom(1 << 20)))
    stager.discard()
    assert not temporaries(tmp_path / "out") and not any(place.exists() for place in places.values())


def test_an_archive_that_cannot_be_read_is_left_to_the_install(tmp_path: Path) -> None:
    stager = Stager({"ext_a": tmp_path / "out" / "libext_a.a"})
    stager.offer("ext_a", tmp_path / "target" / "missing.a")
    assert stager.finish() == {}
    stager.discard()


def test_temporaries_a_killed_run_left_are_found_by_their_names(tmp_path: Path) -> None:
    """What build.run_unit removes before a build: the temporaries of the unit's own files only."""
    place = tmp_path / "out" / "libext_a.a"
    place.parent.mkdir()
    left = place.parent / f".{place.name}.k1ll3d.tmp"
    left.write_bytes(b"half an archive")
    other = place.parent / ".libext_b.a.k1ll3d.tmp"  # another archive's: not this unit's to remove
    other.write_bytes(b"")
    _fs.remove_temporaries([place])
    assert not left.exists() and other.exists()
    _fs.remove_temporaries_in(place.parent)
    assert not other.exists()


def test_where_hard_links_fail_the_archive_is_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A target/ on another file system (EXDEV): the same staging, with a copy of the bytes."""
    artifact = cargo_archive(tmp_path / "target" / "libext_a.a", b"!<arch>\n" + os.urandom(1 << 20))
    place = tmp_path / "out" / "libext_a.a"

    def no_link(source: object, target: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    previous = os.umask(0o022)
    try:
        temp, sha256 = _fs.stage_link(artifact, place)
    finally:
        os.umask(previous)
    assert not os.path.samefile(temp, artifact) and temp.read_bytes() == artifact.read_bytes()
    assert sha256 == hashlib.sha256(artifact.read_bytes()).hexdigest()
    _fs.install(temp, place)
    assert place.stat().st_mode & 0o777 == 0o644 and not temporaries(place.parent)


def test_an_archive_written_to_while_it_is_hashed_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hash a record carries is of the bytes the file holds: a write in place meanwhile is an error."""
    artifact = cargo_archive(tmp_path / "target" / "libext_a.a", b"!<arch>\n" + os.urandom(1 << 20))
    place = tmp_path / "out" / "libext_a.a"
    hash_into = _fs._hash_into

    def hash_while_written(*args: object) -> None:
        with artifact.open("ab") as writer:
            writer.write(b"more")
        hash_into(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_fs, "_hash_into", hash_while_written)
    with pytest.raises(OSError, match="written to while it was hashed"):
        _fs.stage_link(artifact, place)
    assert not temporaries(place.parent)
