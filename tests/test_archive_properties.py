"""Property tests: the archive reader either parses or raises ArchiveError, for any bytes."""

from __future__ import annotations

import contextlib
import functools
import tempfile
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildlib.archive import parse_archive
from buildlib.errors import ArchiveError
from buildlib.verify import verify_archive

from .conftest import ELF_STUB, compile_c, gnu_archive, make_ar

# Each case, parse plus verify, must finish well within this (issue 7 asks 2 s).
BOUND = timedelta(seconds=2)

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)


@functools.cache
def real_archive() -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        first = compile_c(directory, "first_member_with_a_long_name", "int js_a(void) { return 1; }\n")
        second = compile_c(directory, "b", "static int js_l(void) { return 2; } int js_b(void) { return js_l(); }\n")
        return make_ar(directory / "lib.a", first, second).read_bytes()


def _no_filesystem(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"the reader touched the filesystem: {args}")


def parse_or_archive_error(data: bytes) -> None:
    """Parsing and verifying ``data`` ends in a result or an ArchiveError, and opens no file."""
    with mock.patch("builtins.open", _no_filesystem), mock.patch.object(Path, "read_bytes", _no_filesystem):
        try:
            archive = parse_archive(data)
        except ArchiveError:
            return
        for member in archive.members:
            with contextlib.suppress(ArchiveError):
                assert len(archive.member_data(member)) == member.size
        with contextlib.suppress(ArchiveError):
            verify_archive(archive, ["js_a", "js_b", "js_l", "nope"])


@given(st.lists(st.tuples(names, st.binary(max_size=64)), min_size=1, max_size=6, unique_by=lambda m: m[0]), st.data())
def test_generated_archives_round_trip(members: list[tuple[str, bytes]], data: st.DataObject) -> None:
    members = [(name, ELF_STUB + body) for name, body in members]
    symbols = data.draw(st.dictionaries(names, st.integers(0, len(members) - 1), max_size=8))
    archive = parse_archive(gnu_archive(members, symbols, sym64=data.draw(st.booleans())))
    assert [m.name for m in archive.members] == [name for name, _ in members]
    assert [archive.member_data(m) for m in archive.members] == [body for _, body in members]
    assert archive.index == {name: (position,) for name, position in symbols.items()}
    for name, position in symbols.items():
        assert archive.lookup(name) == (position,)


@settings(max_examples=300, deadline=BOUND, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_truncated_real_archive_never_crashes(data: st.DataObject) -> None:
    raw = real_archive()
    parse_or_archive_error(raw[: data.draw(st.integers(0, len(raw)))])


@settings(max_examples=300, deadline=BOUND, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_archive_never_crashes(data: st.DataObject) -> None:
    raw = bytearray(real_archive())
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    parse_or_archive_error(bytes(raw))


@pytest.fixture(scope="module", autouse=True)
def _build_real_archive_before_timing() -> None:
    real_archive()


@settings(deadline=BOUND)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_after_the_magic_never_crash(tail: bytes) -> None:
    parse_or_archive_error(b"!<arch>\n" + tail)
    parse_or_archive_error(b"!<thin>\n" + tail)
