"""Symbols of one object file: ELF read with ``struct`` (``elf_symbols``), Mach-O and COFF with LIEF.

LIEF is imported on first use only: ``import lief`` costs about 0.6 s (F8), so a
run that inspects no archive, or only ELF ones (every archive on Linux), never pays it.
A test compares the two ELF readers member by member on a real Rust staticlib.

Names are C names: the ``_`` that Mach-O and i386 COFF put before every C name
is removed here, so callers compare against what the Rust source exports.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from .errors import ArchiveError

Format = Literal["elf", "macho", "coff", "bitcode", "unknown"]
Binding = Literal["global", "weak", "local"]
Visibility = Literal["default", "hidden", "protected", "internal"]

ELF_MAGIC = b"\x7fELF"
BITCODE_MAGIC = b"BC\xc0\xde"
BITCODE_WRAPPER_MAGIC = b"\xde\xc0\x17\x0b"  # 0x0B17C0DE, little-endian
MACHO_64_MAGICS = (b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf")
MACHO_MAGICS = (*MACHO_64_MAGICS, b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xce")
# COFF objects start with the machine type: x86_64, i386, arm64.
COFF_I386 = b"\x4c\x01"
COFF_MACHINES = (b"\x64\x86", COFF_I386, b"\x64\xaa")
ELF_EMBEDDED_BITCODE = ".llvmbc"
MACHO_BITCODE_SEGMENT, MACHO_BITCODE_SECTION = "__LLVM", "__bitcode"
# ELF header size by EI_CLASS; st_bind, st_other & 3 and sh_type values (<elf.h>).
_ELF_HEADER = {1: 52, 2: 64}
_SHN_UNDEF, _STB_LOCAL, _STB_WEAK, _SHT_NOBITS = 0, 0, 2, 8
_ELF_VISIBILITY: tuple[Visibility, ...] = ("default", "internal", "hidden", "protected")

# Mach-O nlist: n_type bits and n_desc flags (<mach-o/nlist.h>).
_N_STAB, _N_PEXT, _N_TYPE, _N_EXT, _N_UNDF = 0xE0, 0x10, 0x0E, 0x01, 0x0
_N_WEAK_REF, _N_WEAK_DEF = 0x40, 0x80
_MACHO_HEADER, _MACHO_NLIST = {True: 32, False: 28}, {True: 16, False: 12}  # by 64-bit or not

_COFF_SYMBOL = 18
_COFF_SECTION_UNDEF = 0
_COFF_EXTERNAL, _COFF_STATIC, _COFF_WEAK_EXTERNAL = 2, 3, 105  # storage classes
_COFF_NAME = struct.Struct("<II")  # a long name: four zero bytes, then its string table offset

_lief: Any = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Symbol:
    name: str
    defined: bool
    binding: Binding
    visibility: Visibility


@dataclass(frozen=True, kw_only=True, slots=True)
class ObjectSymbols:
    """The symbol table of one object; ``embedded_bitcode`` marks bitcode beside machine code."""

    format: Format
    symbols: tuple[Symbol, ...]
    embedded_bitcode: bool = False

    def named(self, name: str) -> list[Symbol]:
        return [symbol for symbol in self.symbols if symbol.name == name]


class _Corrupt(Exception):
    """Raised inside a reader; read_symbols turns it into an ArchiveError naming the member."""


def detect_format(data: bytes) -> Format:
    head = data[:4]
    if head == ELF_MAGIC:
        return "elf"
    if head in (BITCODE_MAGIC, BITCODE_WRAPPER_MAGIC):
        return "bitcode"
    if head in MACHO_MAGICS:
        return "macho"
    if data[:2] in COFF_MACHINES:
        return "coff"
    return "unknown"


def symbol_prefix(data: bytes) -> str:
    """The prefix the object format of ``data`` (its first bytes suffice) puts before C names."""
    kind = detect_format(data)
    return "_" if kind == "macho" or (kind == "coff" and data[:2] == COFF_I386) else ""


def load_lief() -> Any:
    global _lief
    if _lief is None:
        import lief

        lief.logging.disable()
        _lief = lief
    return _lief


def read_symbols(data: bytes, name: str) -> ObjectSymbols:
    """The symbols of the object ``data`` (called ``name`` in messages).

    Bitcode has no native symbol table (a native linker cannot use it at all,
    F3) and unknown formats have none we can read: both return no symbols.

    Raises ArchiveError for a corrupt or truncated ELF, Mach-O or COFF object.
    """
    kind = detect_format(data)
    if kind == "elf":
        try:
            native = elf_symbols(data)
        except (_Corrupt, struct.error) as e:
            raise ArchiveError(f"{name}: corrupt ELF object ({e})") from e
        if native is not None:  # else a rare layout this reader leaves to LIEF
            return ObjectSymbols(format=kind, symbols=tuple(native[0]), embedded_bitcode=native[1])
    reader = _READERS.get(kind)
    if reader is None:
        return ObjectSymbols(format=kind, symbols=())
    label, module, read = reader
    # LIEF warns on stderr for each enum value it does not know; the ArchiveError says enough.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            parsed = getattr(load_lief(), module).parse(data)
        except Exception as e:  # LIEF's bindings raise assorted types on bad input
            raise ArchiveError(f"{name}: corrupt {label} object (LIEF: {e})") from e
        if parsed is None:
            raise ArchiveError(f"{name}: corrupt {label} object (LIEF could not parse it)")
        try:
            symbols, embedded = read(parsed, data)
        except (_Corrupt, struct.error, UnicodeDecodeError) as e:
            raise ArchiveError(f"{name}: corrupt {label} object ({e})") from e
    prefix = symbol_prefix(data)
    symbols = [replace(s, name=s.name[len(prefix) :]) if prefix and s.name.startswith(prefix) else s for s in symbols]
    return ObjectSymbols(format=kind, symbols=tuple(symbols), embedded_bitcode=embedded)


def _text(name: str | bytes) -> str:
    # LIEF hands back bytes, not str, for a symbol name that is not UTF-8.
    return name.decode("utf-8", errors="replace") if isinstance(name, bytes) else name


# ELF structures by EI_CLASS (1: 32-bit, 2: 64-bit): where e_shoff and e_shentsize sit, and the
# section header and symbol layouts (<elf.h>), field order as struct formats.
_ELF_SHOFF = {1: (0x20, "I"), 2: (0x28, "Q")}
_ELF_SHENTSIZE = {1: 0x2E, 2: 0x3A}
_ELF_SECTION = {1: "IIIIIIIIII", 2: "IIQQQQIIQQ"}  # name type flags addr offset size link info align entsize
_ELF_SYMBOL = {1: ("IIIBBH", 4, 5, 3), 2: ("IBBHQQ", 1, 2, 3)}  # format; positions of info, other, shndx
_SHT_SYMTAB = 2


def elf_symbols(data: bytes) -> tuple[list[Symbol], bool] | None:
    """The symbols of an ELF relocatable object, and whether it embeds bitcode, read with ``struct``
    so that verifying an ELF archive never imports LIEF (F8: about 0.6 s). Every offset and length
    is checked against the data; None for what this reader leaves to LIEF (more than 65279
    sections). Raises _Corrupt like the LIEF reader."""
    size, elf_class, order = len(data), data[4:5], data[5:6]
    if elf_class not in (b"\x01", b"\x02") or order not in (b"\x01", b"\x02"):
        raise _Corrupt(f"unknown ELF class {elf_class!r} or byte order {order!r}")
    bits, endian = elf_class[0], "<" if order == b"\x01" else ">"
    if size < _ELF_HEADER[bits]:
        raise _Corrupt(f"{size} bytes, shorter than the ELF header")
    (shoff,) = struct.unpack_from(endian + _ELF_SHOFF[bits][1], data, _ELF_SHOFF[bits][0])
    shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", data, _ELF_SHENTSIZE[bits])
    section_format = struct.Struct(endian + _ELF_SECTION[bits])
    if shnum == 0 or shstrndx >= 0xFF00:
        return None  # extended section numbering: the counts live in section 0
    if shentsize != section_format.size or shoff + shnum * shentsize > size:
        raise _Corrupt(f"the header places {shnum} sections up to byte {shoff + shnum * shentsize}, in {size} bytes")
    sections = [section_format.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    for _name, kind, _flags, _addr, offset, length, *_rest in sections:
        if kind != _SHT_NOBITS and offset + length > size:
            raise _Corrupt(f"a section ends at {offset + length}, past its {size} bytes")

    def string(table: int, offset: int) -> bytes:
        if table >= shnum:
            raise _Corrupt(f"string table {table} of {shnum} sections")
        start, length = sections[table][4], sections[table][5]
        end = data.find(b"\0", start + offset, start + length)
        if offset >= length or end < 0:
            raise _Corrupt(f"a name at {offset} runs past its string table")
        return data[start + offset : end]

    names = [string(shstrndx, section[0]) for section in sections] if shstrndx else []
    symbol_format, info, other, shndx = _ELF_SYMBOL[bits]
    entry = struct.Struct(endian + symbol_format)
    symbols = []
    for section in sections:
        if section[1] != _SHT_SYMTAB:
            continue
        offset, length, strings = section[4], section[5], section[6]
        for position in range(offset + entry.size, offset + length - entry.size + 1, entry.size):  # entry 0 is null
            fields = entry.unpack_from(data, position)
            name = _text(string(strings, fields[0])) if fields[0] else ""
            if not name:
                continue
            binding = fields[info] >> 4
            symbols.append(
                Symbol(
                    name=name,
                    defined=fields[shndx] != _SHN_UNDEF,
                    binding="local" if binding == _STB_LOCAL else "weak" if binding == _STB_WEAK else "global",
                    visibility=_ELF_VISIBILITY[fields[other] & 3],
                )
            )
    return symbols, ELF_EMBEDDED_BITCODE.encode() in names


def _elf_symbols(binary: Any, data: bytes) -> tuple[list[Symbol], bool]:
    # LIEF silently drops what a truncated object has lost: "missing" would be a lie.
    header, size = binary.header, len(data)
    table_end = header.section_header_offset + header.numberof_sections * header.section_header_size
    sections = len(binary.sections)
    if size < _ELF_HEADER.get(data[4], size + 1) or table_end > size or sections != header.numberof_sections:
        raise _Corrupt(
            f"the header places {header.numberof_sections} sections up to byte {table_end}, LIEF read {sections} in {size} bytes"
        )
    for section in binary.sections:
        if int(section.type) != _SHT_NOBITS and section.offset + section.size > size:
            raise _Corrupt(f"section {section.name!r} ends at {section.offset + section.size}, past its {size} bytes")
    symbols = []
    for symbol in binary.symbols:
        name = _text(symbol.name)
        if not name:
            continue
        binding = int(symbol.binding)
        symbols.append(
            Symbol(
                name=name,
                defined=symbol.shndx != _SHN_UNDEF,
                binding="local" if binding == _STB_LOCAL else "weak" if binding == _STB_WEAK else "global",
                visibility=_ELF_VISIBILITY[int(symbol.visibility) & 3],
            )
        )
    return symbols, any(section.name == ELF_EMBEDDED_BITCODE for section in binary.sections)


def _macho_symbols(fat: Any, data: bytes) -> tuple[list[Symbol], bool]:
    # ``fat`` must stay referenced while its slice is used: LIEF 1.0 crashes otherwise.
    # A universal (fat) file never gets here: detect_format does not call it Mach-O.
    binary = fat.at(0)
    if binary is None:
        raise _Corrupt("LIEF found no Mach-O header")
    _check_macho_bounds(binary, data)
    symbols = []
    for symbol in binary.symbols:
        raw, name = symbol.raw_type, _text(symbol.name)
        if raw & _N_STAB or not name:
            continue
        # An undefined symbol with a value is a common symbol: the value is its size.
        defined = (raw & _N_TYPE) != _N_UNDF or symbol.value != 0
        weak = symbol.description & (_N_WEAK_DEF | _N_WEAK_REF)
        symbols.append(
            Symbol(
                name=name,
                defined=defined,
                binding="local" if not raw & _N_EXT else "weak" if weak else "global",
                visibility="hidden" if raw & _N_PEXT else "default",
            )
        )
    embedded = any(
        section.segment_name == MACHO_BITCODE_SEGMENT or section.name == MACHO_BITCODE_SECTION
        for section in binary.sections
    )
    return symbols, embedded


def _check_macho_bounds(binary: Any, data: bytes) -> None:
    # LIEF silently returns a truncated object with no symbols: "missing" would be a lie.
    wide, size, header = data[:4] in MACHO_64_MAGICS, len(data), binary.header
    if _MACHO_HEADER[wide] + header.sizeof_cmds > size or len(binary.commands) != header.nb_cmds:
        raise _Corrupt(f"{header.nb_cmds} load commands of {header.sizeof_cmds} bytes do not fit in {size} bytes")
    if binary.has_symbol_command:
        table = binary.symbol_command
        if table.symbol_offset + table.numberof_symbols * _MACHO_NLIST[wide] > size:
            raise _Corrupt(f"{table.numberof_symbols} symbols at offset {table.symbol_offset} run past {size} bytes")
        if table.strings_offset + table.strings_size > size:
            raise _Corrupt(f"string table at offset {table.strings_offset} runs past {size} bytes")


def _coff_symbols(binary: Any, data: bytes) -> tuple[list[Symbol], bool]:
    table, count = binary.header.pointerto_symbol_table, binary.header.nb_symbols
    strings_at = table + count * _COFF_SYMBOL
    strings_end = strings_at
    if count:
        # LIEF silently drops symbols past the end of a truncated object: check first.
        if strings_at + 4 > len(data):
            raise _Corrupt(f"{count} symbols at offset {table} run past {len(data)} bytes")
        strings_end = strings_at + struct.unpack_from("<I", data, strings_at)[0]
        if strings_end > len(data):
            raise _Corrupt(f"string table at offset {strings_at} runs past {len(data)} bytes")
    # Auxiliary records take symbol table slots; weak externals name their default by slot.
    by_slot: dict[int, Any] = {}
    slots = 0
    for symbol in binary.symbols:
        by_slot[slots] = symbol
        slots += 1 + len(symbol.auxiliary_symbols)
    if slots != count:
        raise _Corrupt(f"the header counts {count} symbol records, LIEF read {slots}")
    symbols = []
    for slot, symbol in by_slot.items():
        storage = int(symbol.storage_class)
        if storage not in (_COFF_EXTERNAL, _COFF_STATIC, _COFF_WEAK_EXTERNAL):
            continue
        # LIEF 1.0 returns "" for a name that the string table shares as the tail of a longer one.
        name = _text(symbol.name) or _coff_long_name(data, table + slot * _COFF_SYMBOL, strings_at, strings_end)
        if storage == _COFF_WEAK_EXTERNAL:
            # Defined when its default is in a real section; an absolute 0 default is a weak reference.
            weak_aux = load_lief().COFF.AuxiliaryWeakExternal
            tags = [aux.sym_idx for aux in symbol.auxiliary_symbols if isinstance(aux, weak_aux)]
            default = by_slot.get(tags[0]) if tags else None
            defined = default is not None and default.section_idx > _COFF_SECTION_UNDEF
        else:
            # Section 0 with a value is a common symbol: the value is its size.
            defined = symbol.section_idx != _COFF_SECTION_UNDEF or symbol.value != 0
        binding: Binding = "global" if storage == _COFF_EXTERNAL else "local" if storage == _COFF_STATIC else "weak"
        symbols.append(Symbol(name=name, defined=defined, binding=binding, visibility="default"))
    embedded = any(_coff_section_name(section) == ELF_EMBEDDED_BITCODE for section in binary.sections)
    return symbols, embedded


def _coff_long_name(data: bytes, record: int, strings_at: int, strings_end: int) -> str:
    zeros, offset = _COFF_NAME.unpack_from(data, record)
    if zeros != 0:
        return data[record : record + 8].rstrip(b"\0").decode("utf-8", errors="replace")
    start = strings_at + offset
    if offset < 4 or start >= strings_end:
        raise _Corrupt(f"symbol record at offset {record} names string offset {offset}, outside the string table")
    stop = data.find(b"\0", start, strings_end)
    return data[start : stop if stop != -1 else strings_end].decode("utf-8", errors="replace")


def _coff_section_name(section: Any) -> str:
    # Names over eight bytes are "/<offset>" in the header; LIEF resolves them in coff_string.
    long_name = section.coff_string
    return str(long_name.string) if long_name is not None else str(section.name)


_Reader = Callable[[Any, bytes], tuple[list[Symbol], bool]]
# format -> (name in messages, LIEF module that parses it, reader of what LIEF parsed)
_READERS: dict[str, tuple[str, str, _Reader]] = {
    "elf": ("ELF", "ELF", _elf_symbols),
    "macho": ("Mach-O", "MachO", _macho_symbols),
    "coff": ("COFF", "COFF", _coff_symbols),
}
