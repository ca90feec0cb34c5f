"""Symbols of one object file, read with LIEF.

LIEF is imported on first use only: ``import lief`` costs about 0.6 s (F8),
and a run that inspects no archive must not pay it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .errors import ArchiveError

Format = Literal["elf", "macho", "coff", "bitcode", "unknown"]
Binding = Literal["global", "weak", "local"]
Visibility = Literal["default", "hidden", "protected", "internal"]

ELF_MAGIC = b"\x7fELF"
BITCODE_MAGIC = b"BC\xc0\xde"
BITCODE_WRAPPER_MAGIC = b"\xde\xc0\x17\x0b"  # 0x0B17C0DE, little-endian
MACHO_MAGICS = (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xfe\xed\xfa\xce")
# COFF objects start with the machine type: x86_64, i386, arm64.
COFF_MACHINES = (b"\x64\x86", b"\x4c\x01", b"\x64\xaa")
ELF_EMBEDDED_BITCODE = ".llvmbc"
_SHN_UNDEF = 0

_lief: Any = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Symbol:
    name: str
    defined: bool
    binding: Binding
    visibility: Visibility


@dataclass(frozen=True, kw_only=True, slots=True)
class ObjectSymbols:
    """The symbol table of one object; ``embedded_bitcode`` marks ``.llvmbc`` beside machine code."""

    format: Format
    symbols: tuple[Symbol, ...]
    embedded_bitcode: bool = False

    def named(self, name: str) -> list[Symbol]:
        return [symbol for symbol in self.symbols if symbol.name == name]


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


def _load_lief() -> Any:
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

    Raises ArchiveError for a corrupt ELF object or a format not yet supported.
    """
    kind = detect_format(data)
    if kind == "elf":
        return _elf_symbols(data, name)
    if kind in ("macho", "coff"):
        raise ArchiveError(f"{name}: {kind} objects are not supported yet", hint="verify ELF archives for now")
    return ObjectSymbols(format=kind, symbols=())


def _elf_symbols(data: bytes, name: str) -> ObjectSymbols:
    lief = _load_lief()
    binary = lief.ELF.parse(data)
    if binary is None:
        raise ArchiveError(f"{name}: corrupt ELF object (LIEF could not parse it)")
    symbols = []
    for symbol in binary.symbols:
        if not symbol.name:
            continue
        binding = symbol.binding.name
        symbols.append(
            Symbol(
                name=symbol.name,
                defined=symbol.shndx != _SHN_UNDEF,
                binding="local" if binding == "LOCAL" else "weak" if binding == "WEAK" else "global",
                visibility=symbol.visibility.name.lower(),
            )
        )
    embedded = any(section.name == ELF_EMBEDDED_BITCODE for section in binary.sections)
    return ObjectSymbols(format="elf", symbols=tuple(symbols), embedded_bitcode=embedded)
