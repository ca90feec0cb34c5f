"""Atomic file updates: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import BinaryIO

# What os.link raises where the file system cannot give a file a second name: copy instead.
NO_HARD_LINKS = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP})


def identity(path: Path) -> tuple[int, int, int]:
    """(size, mtime_ns, inode) of ``path``: unchanged, a file nobody rewrites in place has its bytes;
    buildlib replaces every file it writes (a new inode), and rustc, cargo and sccache write their
    archives the same way (a new file renamed into place)."""
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def listing_digest(directory: Path | str, leave_out: Collection[str] = ()) -> str | None:
    """A digest of what ``directory`` holds but the entries at the paths ``leave_out``: each name
    with its kind (a directory's with ``/``, a symbolic link's with ``@`` and where it points,
    anything but a file's with ``?``); None when it cannot be listed. Of the hidden entries, only
    directories count (cargo's member globs match them): an editor's swap, backup and lock files
    come and go as it works."""
    try:
        with os.scandir(directory) as entries:
            names = sorted(
                _kind(entry)
                for entry in entries
                if (not entry.name.startswith(".") or entry.is_dir(follow_symlinks=False))
                and entry.path not in leave_out
            )
    except OSError:
        return None
    return hashlib.sha256(b"\0".join(map(os.fsencode, names))).hexdigest()


def _kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return f"{entry.name}@{os.readlink(entry.path)}"
    if entry.is_dir(follow_symlinks=False):
        return f"{entry.name}/"
    return entry.name if entry.is_file(follow_symlinks=False) else f"{entry.name}?"


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def _name_beside(path: Path) -> Path:
    """A temporary name beside ``path`` that no file has yet: for a link made under it."""
    temp = _temp_beside(path)
    temp.unlink()
    return temp


def remove_temporaries(paths: Iterable[Path]) -> None:
    """Remove the temporary files a process killed while writing one of ``paths`` left beside it.
    Only for the process that alone writes ``paths`` (buildlib holds the project lock while it
    builds). Each directory is listed once: a class of 200 crates keeps 600 files in one."""
    by_directory: dict[Path, set[str]] = {}
    for path in paths:
        by_directory.setdefault(path.parent, set()).add(path.name)
    for directory, names in by_directory.items():
        _remove_temporaries(directory, names.__contains__)


def remove_temporaries_in(directory: Path) -> None:
    """Remove every temporary file a killed process left in ``directory``, which only the caller writes."""
    _remove_temporaries(directory, lambda name: True)


def _remove_temporaries(directory: Path, wanted: Callable[[str], bool]) -> None:
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        # .<name>.<random>.tmp, as _temp_beside names them
        if entry.startswith(".") and entry.endswith(".tmp") and wanted(entry[1:-4].rpartition(".")[0]):
            (directory / entry).unlink(missing_ok=True)


def _commit(temp: Path, path: Path) -> None:
    try:
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    install(temp, path)


def install(temp: Path, path: Path) -> None:
    """Rename the synced temporary file ``temp`` (from ``stage_link`` or ``stage_copy``) to ``path``;
    the temporary name is gone afterwards, whatever happened."""
    try:
        os.replace(temp, path)
    finally:
        # rename(2) of two names of one file does nothing and leaves the temporary name behind.
        temp.unlink(missing_ok=True)


def _public(temp: Path) -> None:
    """mkstemp made the temporary file private; the final file gets the mode the umask gives."""
    os.chmod(temp, 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` through a synced temporary file and a rename."""
    temp = _temp_beside(path)
    try:
        _public(temp)
        temp.write_bytes(data)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _commit(temp, path)


def symlink_atomic(target: str, path: Path) -> None:
    """Point the symlink ``path`` at ``target`` (relative to its directory), replacing what was there."""
    temp = _name_beside(path)
    try:
        os.symlink(target, temp)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def stage_link(source: Path, path: Path) -> tuple[Path, str]:
    """Give ``source`` a second name, a temporary hard link beside ``path``, synced and hashed: no
    bytes are copied. A later rebuild writes a new file under ``source``'s name and leaves this one
    be. Where the file system has no hard links, ``source`` is copied (``stage_copy``).

    Returns the temporary name, for ``install``, and the full SHA-256 of the file's bytes.
    """
    temp = _name_beside(path)
    try:
        os.link(source, temp)
    except OSError as e:
        if e.errno not in NO_HARD_LINKS:
            raise
        return stage_copy(source, path)
    try:
        digest = hashlib.sha256()
        with temp.open("rb") as reader:
            before = os.fstat(reader.fileno())
            _hash_into(digest, reader)
            os.fsync(reader.fileno())
            after = os.fstat(reader.fileno())
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            raise OSError(errno.ESTALE, "written to while it was hashed; run again", str(source))
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, digest.hexdigest()


def _hash_into(digest: hashlib._Hash, reader: io.BufferedReader, writer: BinaryIO | None = None) -> None:
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    while size := reader.readinto(buffer):
        digest.update(view[:size])
        if writer is not None:
            writer.write(view[:size])


def stage_copy(source: Path, path: Path) -> tuple[Path, str]:
    """Copy ``source`` into a synced temporary file beside ``path``, hashing the bytes as they are
    written (one pass reads, hashes and writes). Returns the temporary file, for ``install``, and the
    full SHA-256 of what it holds."""
    temp = _temp_beside(path)
    digest = hashlib.sha256()
    try:
        _public(temp)
        with source.open("rb") as reader, temp.open("wb") as writer:
            _hash_into(digest, reader, writer)
            writer.flush()
            os.fsync(writer.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, digest.hexdigest()


def content_address(directory: Path, stem: str, suffix: str, sha256: str) -> Path:
    return directory / f"{stem}-{sha256[:16]}{suffix}"


def copy_content_addressed(source: Path, directory: Path, stem: str, suffix: str) -> tuple[Path, str]:
    """Copy ``source`` to ``directory/<stem>-<sha256[:16]><suffix>``, naming it after the bytes
    actually written, through a synced temporary file.

    Returns the path and the full SHA-256.
    """
    temp, sha256 = stage_copy(source, directory / f"{stem}{suffix}")
    path = content_address(directory, stem, suffix, sha256)
    install(temp, path)
    return path, sha256


def link_content_addressed(source: Path, directory: Path, stem: str, suffix: str, sha256: str) -> Path:
    """Give ``source``, whose bytes hash to ``sha256``, the content-addressed name of
    ``copy_content_addressed`` as a second hard link: no bytes are copied.

    Raises OSError where the file system has no hard links (the caller copies instead).
    """
    path = content_address(directory, stem, suffix, sha256)
    try:
        if os.path.samefile(source, path):
            return path  # verified again without a new build: it is already there
    except OSError:
        pass  # no such file yet
    temp = _name_beside(path)
    os.link(source, temp)
    install(temp, path)
    return path
