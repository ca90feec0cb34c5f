"""A read-only ``ar`` archive reader: GNU/SysV, BSD, thin archives, and plain objects.

It parses the member table and the symbol index (``/``, ``/SYM64/``,
``__.SYMDEF``, ``__.SYMDEF SORTED``, ``__.SYMDEF_64``) from bytes. Every length
and offset is checked against the data before use; a bad one raises
ArchiveError, never IndexError or struct.error. Nothing is ever written.
"""

from __future__ import annotations

import mmap
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ArchiveError
from .objfile import detect_format

GNU_MAGIC = b"!<arch>\n"
THIN_MAGIC = b"!<thin>\n"
HEADER_SIZE = 60
HEADER_END = b"`\n"
# name[16] date[12] uid[6] gid[6] mode[8] size[10] fmag[2]
_HEADER = struct.Struct("16s12s6s6s8s10s2s")
_BSD_NAME_PREFIX = b"#1/"
_GNU_INDEX_NAMES = {b"/": 4, b"/SYM64/": 8}
_BSD_INDEX_NAMES = {b"__.SYMDEF": 4, b"__.SYMDEF SORTED": 4, b"__.SYMDEF_64": 8, b"__.SYMDEF_64 SORTED": 8}
_LONG_NAMES = b"//"

Kind = Literal["gnu", "bsd", "thin", "object"]
# The name of an archive parsed from bytes: it has no directory, so a thin archive's members cannot be read.
BYTES_LABEL = "<bytes>"


@dataclass(frozen=True, kw_only=True, slots=True)
class Member:
    """An archive member: its name and where its bytes are."""

    index: int
    name: str
    header_offset: int
    data_offset: int
    size: int


class _Index:
    """A symbol index: symbol -> member positions, looked up by the raw name (nothing decoded)."""

    def __init__(self, names: bytes, positions: tuple[int, ...]) -> None:
        # names: NUL-terminated symbol names, the i-th belonging to positions[i].
        self._names = names
        self._positions = positions
        self._first: dict[bytes, int] | None = None  # each name's only member, or its last one
        self._repeated: dict[bytes, tuple[int, ...]] = {}  # names the index lists more than once
        self._all: dict[str, tuple[int, ...]] | None = None

    def lookup(self, name: str) -> tuple[int, ...]:
        # Tables built once, in C loops where they can be: a search of the names costs about as
        # much per lookup, and verify looks up two names per expected export.
        if self._first is None:
            raws = self._names.split(b"\0")[: len(self._positions)]
            self._first = dict(zip(raws, self._positions, strict=False))
            if len(self._first) < len(raws):
                repeated = {raw for raw, count in Counter(raws).items() if count > 1}
                collected: dict[bytes, list[int]] = {}
                for raw, position in zip(raws, self._positions, strict=False):
                    if raw in repeated:
                        collected.setdefault(raw, []).append(position)
                self._repeated = {raw: tuple(positions) for raw, positions in collected.items()}
        wanted = name.encode()
        if wanted in self._repeated:
            return self._repeated[wanted]
        first = self._first.get(wanted)
        return () if first is None else (first,)

    def entries(self, positions: set[int]) -> Iterator[tuple[str, int]]:
        """(symbol, member position) for the entries of the members at ``positions``, in index order."""
        for raw, position in zip(self._names.split(b"\0"), self._positions, strict=False):
            if position in positions:
                yield _decode(raw), position

    def all(self) -> dict[str, tuple[int, ...]]:
        if self._all is None:
            collected: dict[str, list[int]] = {}
            for raw, position in zip(self._names.split(b"\0"), self._positions, strict=False):
                collected.setdefault(_decode(raw), []).append(position)
            self._all = {symbol: tuple(positions) for symbol, positions in collected.items()}
        return self._all


_NO_INDEX = _Index(b"", ())


@dataclass(frozen=True, kw_only=True, slots=True)
class Archive:
    """A parsed archive: its members and its symbol index (symbol -> member positions)."""

    path: str
    kind: Kind
    members: tuple[Member, ...]
    has_index: bool
    _data: bytes | mmap.mmap
    _index: _Index = _NO_INDEX
    _loader: Callable[[Member], bytes] | None = None

    @property
    def index(self) -> dict[str, tuple[int, ...]]:
        """The whole index, decoded (built on first use; ``lookup`` is cheaper for a few names)."""
        return self._index.all()

    def lookup(self, name: str) -> tuple[int, ...]:
        """Positions of the members the index says define ``name`` (empty when not indexed)."""
        return self._index.lookup(name)

    def index_entries(self, positions: set[int]) -> Iterator[tuple[str, int]]:
        """The index entries (symbol, member position) of the members at ``positions``."""
        return self._index.entries(positions)

    def member_data(self, member: Member) -> bytes:
        """The bytes of ``member`` (read from disk for a thin archive)."""
        if self._loader is not None:
            return self._loader(member)
        return bytes(self._data[member.data_offset : member.data_offset + member.size])

    def member_head(self, member: Member, size: int = 16) -> bytes:
        """The first ``size`` bytes of ``member``: enough to tell its format."""
        if self._loader is not None:
            return self._loader(member)[:size]
        return bytes(self._data[member.data_offset : member.data_offset + min(size, member.size)])

    def find_bytes(self, needle: bytes) -> list[Member]:
        """Members whose bytes contain ``needle``: the only ones that can define that name."""
        if self._loader is not None:
            return [m for m in self.members if needle in self._loader(m)]
        found: list[Member] = []
        for member in self.members:
            start = self._data.find(needle, member.data_offset, member.data_offset + member.size)
            if start != -1:
                found.append(member)
        return found


def read_archive(path: Path | str) -> Archive:
    """Open and parse the archive or object file at ``path`` (memory-mapped).

    Raises ArchiveError when it is missing, unreadable, empty or malformed.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            try:
                data: bytes | mmap.mmap = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # an empty file cannot be mapped
                data = b""
    except FileNotFoundError as e:
        raise ArchiveError(f"{path}: no such file", hint="build it first, or check the path") from e
    except IsADirectoryError as e:
        raise ArchiveError(f"{path}: is a directory, not an archive") from e
    except OSError as e:
        raise ArchiveError(f"{path}: cannot read: {e.strerror}") from e
    return parse_archive(data, str(path))


def parse_archive(data: bytes | mmap.mmap | memoryview, path: str = BYTES_LABEL) -> Archive:
    """Parse an archive from bytes; anything that is not an archive is taken as one object file.

    Raises ArchiveError for an empty input or a malformed archive.
    """
    if isinstance(data, memoryview):
        data = data.tobytes()
    if len(data) == 0:
        raise ArchiveError(f"{path}: empty file, not an archive or object")
    head = bytes(data[: len(GNU_MAGIC)])
    if head == GNU_MAGIC:
        return _parse_members(data, path, thin=False)
    if head == THIN_MAGIC:
        return _parse_members(data, path, thin=True)
    if detect_format(bytes(data[:4])) == "unknown":
        raise ArchiveError(f"{path}: not an archive or object file (starts with {bytes(data[:8])!r})")
    member = Member(index=0, name=Path(path).name, header_offset=0, data_offset=0, size=len(data))
    return Archive(path=path, kind="object", members=(member,), has_index=False, _data=data)


def _field_int(raw: bytes, path: str, offset: int, what: str) -> int:
    text = raw.strip(b" \0")
    if not text:
        return 0
    if not text.isdigit():
        raise ArchiveError(f"{path}: member header at offset {offset}: {what} is not a number: {text!r}")
    return int(text)


def _parse_members(data: bytes | mmap.mmap, path: str, *, thin: bool) -> Archive:
    members: list[Member] = []
    index_blob: tuple[bytes, int, str] | None = None  # (bytes, word size, flavour)
    long_names = b""
    bsd = False
    offset = len(GNU_MAGIC)
    end = len(data)
    while offset < end:
        if offset + HEADER_SIZE > end:
            raise ArchiveError(f"{path}: truncated member header at offset {offset}")
        name_raw, _, _, _, _, size_raw, magic = _HEADER.unpack_from(data, offset)
        if magic != HEADER_END:
            raise ArchiveError(f"{path}: bad member header magic at offset {offset}")
        size = _field_int(size_raw, path, offset, "size")
        data_offset = offset + HEADER_SIZE
        name_field = name_raw.rstrip(b" ")
        is_special = name_field in _GNU_INDEX_NAMES or name_field == _LONG_NAMES
        # Thin archives embed only the index and the long-name table.
        stored = size if (not thin or is_special) else 0
        if data_offset + stored > end:
            raise ArchiveError(f"{path}: member at offset {offset} claims {size} bytes, only {end - data_offset} left")

        if name_field.startswith(_BSD_NAME_PREFIX):
            bsd = True
            name_len = _field_int(name_field[len(_BSD_NAME_PREFIX) :], path, offset, "BSD name length")
            if name_len > size:
                raise ArchiveError(f"{path}: member at offset {offset}: name length {name_len} exceeds size {size}")
            name_bytes = bytes(data[data_offset : data_offset + name_len]).rstrip(b"\0")
            body_offset, body_size = data_offset + name_len, size - name_len
            if name_bytes in _BSD_INDEX_NAMES and not members and index_blob is None:
                index_blob = (bytes(data[body_offset : body_offset + body_size]), _BSD_INDEX_NAMES[name_bytes], "bsd")
            else:
                members.append(
                    Member(
                        index=len(members),
                        name=_decode(name_bytes),
                        header_offset=offset,
                        data_offset=body_offset,
                        size=body_size,
                    )
                )
        elif name_field in _GNU_INDEX_NAMES:
            if index_blob is None:
                index_blob = (bytes(data[data_offset : data_offset + size]), _GNU_INDEX_NAMES[name_field], "gnu")
        elif name_field == _LONG_NAMES:
            long_names = bytes(data[data_offset : data_offset + size])
        elif name_field in _BSD_INDEX_NAMES:  # a BSD index with a short name
            bsd = True
            if index_blob is None:
                index_blob = (bytes(data[data_offset : data_offset + size]), _BSD_INDEX_NAMES[name_field], "bsd")
        else:
            name = _gnu_name(name_field, long_names, path, offset)
            members.append(
                Member(index=len(members), name=name, header_offset=offset, data_offset=data_offset, size=size)
            )
        offset = data_offset + stored + (stored & 1)

    by_header = {m.header_offset: m.index for m in members}
    index = _NO_INDEX
    if index_blob is not None:
        blob, word, flavour = index_blob
        names, offsets = _gnu_index(blob, word, path) if flavour == "gnu" else _bsd_index(blob, word, path)
        stray = set(offsets) - by_header.keys()
        if stray:
            raise ArchiveError(f"{path}: symbol index points at offset {min(stray)}, where no member starts")
        index = _Index(names, tuple(by_header[offset] for offset in offsets))

    kind: Kind = "thin" if thin else ("bsd" if bsd else "gnu")
    loader = _thin_loader(path) if thin else None
    return Archive(
        path=path,
        kind=kind,
        members=tuple(members),
        has_index=index_blob is not None,
        _data=data,
        _index=index,
        _loader=loader,
    )


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _gnu_name(field: bytes, long_names: bytes, path: str, offset: int) -> str:
    if field.startswith(b"/") and field[1:].isdigit():
        start = int(field[1:])
        if start >= len(long_names):
            raise ArchiveError(f"{path}: member at offset {offset}: long name offset {start} is outside the name table")
        stop = long_names.find(b"\n", start)
        raw = long_names[start : stop if stop != -1 else len(long_names)]
        return _decode(raw.rstrip(b"/"))
    return _decode(field[:-1] if field.endswith(b"/") else field)


def _gnu_index(blob: bytes, word: int, path: str) -> tuple[bytes, tuple[int, ...]]:
    """The names (NUL-terminated, in entry order) and member header offsets of a GNU index."""
    code = ">I" if word == 4 else ">Q"
    if len(blob) < word:
        raise ArchiveError(f"{path}: symbol index is truncated")
    (count,) = struct.unpack_from(code, blob, 0)
    table_end = word + count * word
    if count > len(blob) // word or table_end > len(blob):
        raise ArchiveError(f"{path}: symbol index claims {count} entries, too many for its {len(blob)} bytes")
    offsets = struct.unpack_from(f">{count}{code[1]}", blob, word)
    names = blob[table_end:]
    if names.count(b"\0") < count:
        raise ArchiveError(f"{path}: symbol index lists {count} offsets but fewer names")
    return names, offsets


def _bsd_index(blob: bytes, word: int, path: str) -> tuple[bytes, tuple[int, ...]]:
    """The names and member header offsets of a BSD ``__.SYMDEF`` index, in entry order."""
    # BSD and Mach-O archives are written in the target's byte order: little-endian for
    # every target we meet (x86_64, arm64).
    code = "<I" if word == 4 else "<Q"
    if len(blob) < word:
        raise ArchiveError(f"{path}: BSD symbol index is truncated")
    (ranlib_bytes,) = struct.unpack_from(code, blob, 0)
    strings_at = word + ranlib_bytes
    if ranlib_bytes % (2 * word) or strings_at + word > len(blob):
        raise ArchiveError(f"{path}: BSD symbol index claims {ranlib_bytes} bytes of entries, more than it holds")
    (string_bytes,) = struct.unpack_from(code, blob, strings_at)
    strings = blob[strings_at + word : strings_at + word + string_bytes]
    names: list[bytes] = []
    offsets: list[int] = []
    for name_at, member_at in struct.iter_unpack(f"<2{code[1]}", blob[word:strings_at]):
        if name_at >= len(strings):
            raise ArchiveError(
                f"{path}: BSD symbol index entry names string offset {name_at}, outside its string table"
            )
        stop = strings.find(b"\0", name_at)
        names.append(strings[name_at : stop if stop != -1 else len(strings)])
        offsets.append(member_at)
    return b"".join(name + b"\0" for name in names), tuple(offsets)


def _thin_loader(path: str) -> Callable[[Member], bytes]:
    base = Path(path).parent

    def load(member: Member) -> bytes:
        # A thin archive's member names are paths by design; one parsed from bytes has no base
        # directory, and a NUL would truncate the path the OS sees: neither reaches the filesystem.
        if path == BYTES_LABEL or "\0" in member.name:
            raise ArchiveError(f"{path}: thin archive member {member.name!r} cannot be read from here")
        target = base / member.name
        try:
            data = target.read_bytes()
        except OSError as e:
            raise ArchiveError(
                f"{path}: thin archive member {member.name!r}: cannot read {target}: {e.strerror}"
            ) from e
        if len(data) != member.size:
            raise ArchiveError(
                f"{path}: thin archive member {member.name!r} is {len(data)} bytes, the archive says {member.size}"
            )
        return data

    return load
