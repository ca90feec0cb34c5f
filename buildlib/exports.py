"""The expected C surface of a crate: the ``#[no_mangle]`` and ``export_name`` items in its sources.

The scanner blanks comments and string literals first (keeping line numbers),
so commented-out exports and attribute-like text in strings never count.
``#[cfg(...)]`` on an export, or on a ``mod`` around it, is evaluated against the
build's cfg set (``Cfg``) when one is given: an export of ``cfg(windows)`` on Linux,
of a feature that is off, or inside ``#[cfg(test)] mod tests`` is not expected
(``test`` is never set in a library build). What it cannot decide statically
(``cfg_attr``, exports made inside macros, a predicate it cannot read) is returned
separately so the user can list those names in an exports file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildlibError


@dataclass(frozen=True, kw_only=True, slots=True)
class Cfg:
    """The cfg set of a build: ``rustc --print cfg`` lines (``unix``, ``target_os="linux"``) and the
    crate's enabled features (``feature="x"``)."""

    options: frozenset[str]

    @classmethod
    def of(cls, lines: Iterable[str], features: Iterable[str] = ()) -> Cfg:
        return cls(options=frozenset([*lines, *(f'feature="{feature}"' for feature in features)]))

    def holds(self, option: str) -> bool:
        return option != "test" and option in self.options


@dataclass(frozen=True, kw_only=True, slots=True)
class Export:
    name: str
    file: Path
    line: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Undecided:
    file: Path
    line: int
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ExportScan:
    exports: tuple[Export, ...]
    undecided: tuple[Undecided, ...]

    @property
    def names(self) -> list[str]:
        return sorted({export.name for export in self.exports})


_RAW_STRING = re.compile(r'(?:b|c)?r(#*)"')
_STRING_PREFIX = re.compile(r'(?:b|c)?"')
_CHAR = re.compile(r"'(?:\\(?:u\{[0-9a-fA-F_]*\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'")
# A run of characters none of the constructs above (or a comment) can start with: copied as it is.
_PLAIN = re.compile(r"[^/\"'bcr]+")

# Outer attributes (one level of nested brackets), then qualifiers, then the item.
_ITEM = re.compile(
    r"""
    (?P<attrs>(?:\#\s*\[(?:[^\[\]]|\[[^\[\]]*\])*\]\s*)+)
    (?:pub\s*(?:\([^)]*\)\s*)?)?
    (?:(?:const|async|unsafe|safe|extern\s*(?:"\d+"\s*)?)\s*)*
    (?P<kind>fn|static)\s+(?:mut\s+)?(?:r\#)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_NO_MANGLE = re.compile(r"#\s*\[\s*(?:unsafe\s*\(\s*)?no_mangle\s*\)?\s*\]")
_EXPORT_NAME = re.compile(r'#\s*\[\s*(?:unsafe\s*\(\s*)?export_name\s*=\s*"(\d+)"')
_CFG_ATTR = re.compile(r"#\s*\[\s*cfg_attr\s*\((?:[^\[\]]|\[[^\[\]]*\])*\b(?:no_mangle|export_name)\b")
_MACRO_RULES = re.compile(r"\bmacro_rules!\s*[A-Za-z_][A-Za-z0-9_]*\s*[\{\(\[]")
_CFG = re.compile(r"#\s*\[\s*cfg\s*\(")
_MOD = re.compile(
    r"(?P<attrs>(?:\#\s*\[(?:[^\[\]]|\[[^\[\]]*\])*\]\s*)+)(?:pub\s*(?:\([^)]*\)\s*)?)?mod\s+[A-Za-z_][A-Za-z0-9_]*\s*\{"
)
_CFG_TOKEN = re.compile(r'\s*(?:(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<string>"\d+")|(?P<punct>[(),=]))')


class _Unreadable(Exception):
    """A cfg predicate this scanner does not understand."""


def _cfg_value(attrs: str, strings: list[str], cfg: Cfg) -> bool | None:
    """Whether every ``#[cfg(...)]`` in ``attrs`` holds under ``cfg``; None when one cannot be read."""
    result = True
    for match in _CFG.finditer(attrs):
        close = _matching_close(attrs, match.end() - 1)
        try:
            result = result and _evaluate(_cfg_tokens(attrs[match.end() : close], strings), cfg)
        except _Unreadable:
            return None
    return result


def _cfg_tokens(text: str, strings: list[str]) -> list[str]:
    tokens, i = [], 0
    while i < len(text.rstrip()):
        token = _CFG_TOKEN.match(text, i)
        if token is None:
            raise _Unreadable(text)
        tokens.append(f'"{strings[int(token["string"][1:-1])]}"' if token["string"] else token[token.lastgroup or 0])
        i = token.end()
    return tokens


def _evaluate(tokens: list[str], cfg: Cfg) -> bool:
    """``all(..)``, ``any(..)``, ``not(..)``, ``name`` and ``name = "value"``, as rustc reads them."""
    position = 0

    def predicate() -> bool:
        nonlocal position
        word = tokens[position] if position < len(tokens) else ""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", word):
            raise _Unreadable(" ".join(tokens))
        position += 1
        if word in ("all", "any", "not") and position < len(tokens) and tokens[position] == "(":
            position += 1
            values = []
            while tokens[position] != ")":
                values.append(predicate())
                if tokens[position] == ",":
                    position += 1
            position += 1
            if word == "not":
                if len(values) != 1:
                    raise _Unreadable(" ".join(tokens))
                return not values[0]
            return all(values) if word == "all" else any(values)
        if position < len(tokens) and tokens[position] == "=":
            value = tokens[position + 1]
            position += 2
            return cfg.holds(f"{word}={value}")
        return cfg.holds(word)

    try:
        value = predicate()
    except IndexError as e:
        raise _Unreadable(" ".join(tokens)) from e
    if position != len(tokens):
        raise _Unreadable(" ".join(tokens))
    return value


def blank_comments_and_strings(source: str) -> tuple[str, list[str]]:
    """Return ``source`` with comments blanked and each string literal replaced by ``"N"``.

    ``N`` indexes the returned list of string contents (escapes left as written).
    Newlines are kept so offsets map to the same line numbers.
    """
    out: list[str] = []
    strings: list[str] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if source.startswith("//", i):
            stop = source.find("\n", i)
            stop = n if stop == -1 else stop
            out.append(" " * (stop - i))
            i = stop
        elif source.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if source.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif source.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", source[i:j]))
            i = j
        elif (raw := _RAW_STRING.match(source, i)) and not _ident_before(source, i):
            closing = '"' + raw.group(1)
            stop = source.find(closing, raw.end())
            stop = n if stop == -1 else stop
            i = _emit_string(out, strings, source[raw.end() : stop], stop + len(closing), source, i)
        elif (plain := _STRING_PREFIX.match(source, i)) and not (ch != '"' and _ident_before(source, i)):
            j = plain.end()
            while j < n and source[j] != '"':
                j += 2 if source[j] == "\\" else 1
            i = _emit_string(out, strings, source[plain.end() : j], j + 1, source, i)
        elif ch == "'" and (char := _CHAR.match(source, i)):
            out.append(" " * (char.end() - i))
            i = char.end()
        else:
            plain = _PLAIN.match(source, i + 1)
            stop = plain.end() if plain else i + 1
            out.append(source[i:stop])
            i = stop
    return "".join(out), strings


def _ident_before(source: str, i: int) -> bool:
    return i > 0 and (source[i - 1].isalnum() or source[i - 1] == "_")


def _emit_string(out: list[str], strings: list[str], content: str, end: int, source: str, start: int) -> int:
    # Keep the line count: pad the placeholder with the newlines the literal spanned.
    out.append(f'"{len(strings)}"' + "\n" * source.count("\n", start, end))
    strings.append(content)
    return end


def scan_source(source: str, file: Path, cfg: Cfg | None = None) -> ExportScan:
    """The exports declared in one Rust source text, under the build's ``cfg`` when given."""
    text, strings = blank_comments_and_strings(source)
    exports: list[Export] = []
    undecided: list[Undecided] = []
    # Modules whose cfg is off (or unreadable): (start, end, None for unreadable).
    off: list[tuple[int, int, bool | None]] = []
    for module in _MOD.finditer(text):
        value = _cfg_value(module["attrs"], strings, cfg) if cfg is not None else _test_only(module["attrs"])
        if value is not True:
            off.append((module.end() - 1, _matching_close(text, module.end() - 1), value))
    for match in _ITEM.finditer(text):
        attrs = match.group("attrs")
        line = text.count("\n", 0, match.start("kind")) + 1
        if _NO_MANGLE.search(attrs) or _EXPORT_NAME.search(attrs):
            inside = [value for start, end, value in off if start < match.start() < end]
            value = _cfg_value(attrs, strings, cfg) if cfg is not None else _test_only(attrs)
            if value is None or None in inside:
                undecided.append(
                    Undecided(
                        file=file, line=line, reason=f"a cfg this scanner cannot read decides {match.group('name')!r}"
                    )
                )
                continue
            if value is False or False in inside:
                continue  # not compiled in this build
        named = _EXPORT_NAME.search(attrs)
        if named:
            exports.append(Export(name=strings[int(named.group(1))], file=file, line=line))
        elif _NO_MANGLE.search(attrs):
            exports.append(Export(name=match.group("name"), file=file, line=line))
        elif _CFG_ATTR.search(attrs):
            undecided.append(
                Undecided(file=file, line=line, reason=f"cfg_attr decides whether {match.group('name')!r} is exported")
            )
    for match in _MACRO_RULES.finditer(text):
        body_end = _matching_close(text, match.end() - 1)
        body = text[match.end() : body_end]
        if "no_mangle" in body or "export_name" in body:
            line = text.count("\n", 0, match.start()) + 1
            undecided.append(
                Undecided(file=file, line=line, reason="a macro defines exports; list their names in an exports file")
            )
    return ExportScan(exports=tuple(exports), undecided=tuple(undecided))


def _matching_close(text: str, open_at: int) -> int:
    pairs = {"{": "}", "(": ")", "[": "]"}
    opener = text[open_at]
    closer, depth = pairs[opener], 0
    for j in range(open_at, len(text)):
        if text[j] == opener:
            depth += 1
        elif text[j] == closer:
            depth -= 1
            if depth == 0:
                return j
    return len(text)


def _test_only(attrs: str) -> bool:
    """Without the build's cfg set: only ``#[cfg(test)]`` is known (never set in a library build)."""
    return re.search(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]", attrs) is None


def scan_crate(src_path: Path, cfg: Cfg | None = None) -> ExportScan:
    """Scan every ``.rs`` file under the directory of the crate root ``src_path``.

    Raises BuildlibError when a source file cannot be read.
    """
    return scan_files(sorted(src_path.parent.rglob("*.rs")), cfg)


def scan_files(files: Iterable[Path], cfg: Cfg | None = None) -> ExportScan:
    """Scan the given Rust source files under the build's ``cfg`` (when known). Raises
    BuildlibError when one cannot be read."""
    exports: list[Export] = []
    undecided: list[Undecided] = []
    for file in files:
        try:
            source = file.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise BuildlibError(f"{file}: cannot read: {e.strerror}") from e
        scan = scan_source(source, file, cfg)
        exports.extend(scan.exports)
        undecided.extend(scan.undecided)
    return ExportScan(exports=tuple(exports), undecided=tuple(undecided))


def read_exports_file(path: Path) -> list[str]:
    """Names from an exports file: one a line, ``#`` starts a comment.

    Raises BuildlibError when the file cannot be read.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise BuildlibError(f"{path}: cannot read exports file: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise BuildlibError(
            f"{path}: exports file is not UTF-8 text ({e.reason} at byte {e.start})",
            hint="an exports file lists C names, one a line: buildlib exports snapshot ARCHIVE writes one",
        ) from e
    names = (line.split("#", 1)[0].strip() for line in lines)
    return [name for name in names if name]
