"""The ``[tool.buildlib]`` table of a ``pyproject.toml``, parsed into frozen dataclasses.

Every value is read through a getter that knows its dotted key, so a mistake is
reported as ``pyproject.toml: tool.buildlib.classes.routed.lto: expected one of
off, thin, fat, got 'thn'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from ._toml import tomllib
from .errors import ConfigError

LtoMode = Literal["off", "thin", "fat"]
Method = Literal["staticlib", "together", "bundle"]
CacheTool = Literal["sccache"]
LTO_MODES: tuple[LtoMode, ...] = ("off", "thin", "fat")
METHODS: tuple[Method, ...] = ("staticlib", "together", "bundle")
CACHE_TOOLS: tuple[CacheTool, ...] = ("sccache",)

# Class names become part of cargo profile names and doit task names.
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_MISSING = object()


def close_match(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice ``word`` is most likely a typo of, for a "did you mean" hint."""
    import difflib  # only on a mistake: importing it costs a no-op run 2 ms

    close = difflib.get_close_matches(word, choices, n=1)
    return close[0] if close else None


@dataclass(frozen=True, kw_only=True, slots=True)
class ClassConfig:
    """A routing class: how its crates are built and where they go on the link line."""

    name: str
    lto: LtoMode
    method: Method
    codegen_units: int | None
    rustflags: tuple[str, ...]
    crates: tuple[str, ...]
    depends_on: tuple[str, ...]
    # After verify, keep only the verified C surface global in each archive (seal.py).
    seal: bool = False

    @property
    def key(self) -> str:
        return f"tool.buildlib.classes.{self.name}"


@dataclass(frozen=True, kw_only=True, slots=True)
class HostConfig:
    """The native host program linked from the verified archives."""

    sources: tuple[Path, ...]
    program: str
    cc: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class CrateConfig:
    """What scanning a crate's sources cannot decide about its exports: names to add or to drop."""

    name: str
    expect: tuple[str, ...]
    ignore: tuple[str, ...]
    exports: Path | None  # an exports file (one name a line, # comments): more names to expect

    @property
    def key(self) -> str:
        return f"tool.buildlib.crates.{self.name}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProjectConfig:
    """Everything ``[tool.buildlib]`` says, with paths made absolute."""

    file: Path
    workspace: Path
    out_dir: Path
    cargo: str
    default_class: str | None
    classes: tuple[ClassConfig, ...]
    host: HostConfig
    crates: tuple[CrateConfig, ...] = ()
    cache: CacheTool | None = None  # the compile cache rustc runs through (docs/cache.md); None: no cache

    def class_named(self, name: str) -> ClassConfig:
        for routing_class in self.classes:
            if routing_class.name == name:
                return routing_class
        raise KeyError(name)


class _Table:
    """A TOML table that knows its dotted path, with typed getters."""

    def __init__(self, data: Mapping[str, object], path: str, file: str) -> None:
        self._data = data
        self.path = path
        self.file = file

    def error(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(self.file, f"{self.path}.{key}" if key else self.path, message, hint=hint)

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        for key in self._data:
            if key not in allowed:
                close = close_match(key, allowed)
                hint = f"did you mean '{close}'?" if close else f"known keys: {', '.join(allowed)}"
                raise self.error(key, "unknown key", hint)

    def _get(self, key: str, default: object) -> object:
        if key in self._data:
            return self._data[key]
        if default is _MISSING:
            raise self.error(key, "missing", f"add '{key} = …' to [{self.path}]")
        return default

    def string(self, key: str, default: object = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str) or not value:
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        return value

    def optional_string(self, key: str) -> str | None:
        return None if key not in self._data else self.string(key)

    def choice(self, key: str, choices: tuple[str, ...], default: object = _MISSING) -> str:
        value = self._get(key, default)
        if value not in choices:
            close = close_match(str(value), choices)
            raise self.error(
                key,
                f"expected one of {', '.join(choices)}, got {value!r}",
                f"did you mean '{close}'?" if close else None,
            )
        return str(value)

    def boolean(self, key: str, default: object = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def optional_positive_int(self, key: str) -> int | None:
        value = self._get(key, None)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(key, f"expected a positive integer, got {value!r}")
        return value

    def string_list(self, key: str, default: object = _MISSING) -> tuple[str, ...]:
        value = self._get(key, default)
        if not isinstance(value, list):
            raise self.error(key, f"expected a list of strings, got {value!r}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise self.error(f"{key}[{index}]", f"expected a non-empty string, got {item!r}")
        return tuple(value)

    def table(self, key: str, default: object = _MISSING) -> _Table:
        value = self._get(key, default)
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, got {value!r}")
        return _Table(value, f"{self.path}.{key}", self.file)

    def subtables(self, key: str) -> list[tuple[str, _Table]]:
        """The tables inside ``key``, in file order (the order is meaningful)."""
        parent = self.table(key)
        return [(name, parent.table(name)) for name in parent._data]


_TOP_KEYS = ("workspace", "out-dir", "cargo", "default-class", "cache", "classes", "host", "crates")
_CRATE_KEYS = ("expect", "ignore", "exports")
_CLASS_KEYS = ("lto", "method", "codegen-units", "rustflags", "crates", "depends-on", "seal")
_HOST_KEYS = ("sources", "program", "cc", "cflags", "ldflags")


def load_config(pyproject: Path | str) -> ProjectConfig:
    """Read ``[tool.buildlib]`` from a ``pyproject.toml``.

    Raises ConfigError when the file is missing, is not TOML, or any key is wrong.
    """
    path = Path(pyproject).resolve()
    document = read_toml(path)
    tool = document.get("tool", {})
    if not isinstance(tool, dict) or "buildlib" not in tool:
        raise ConfigError(str(path), "tool.buildlib", "missing", hint="add a [tool.buildlib] table")
    return parse_config(tool["buildlib"], file=path)


def read_toml(path: Path) -> dict[str, object]:
    """The TOML document at ``path``; ConfigError (one line naming the file) when it is missing,
    unreadable or not TOML. The doit start-up hook (``_doit_hook``) reports through it too."""
    try:
        with path.open("rb") as handle:
            document: dict[str, object] = tomllib.load(handle)
            return document
    except FileNotFoundError as e:
        raise ConfigError(
            str(path), "file", "not found", hint="run from the project root or pass its pyproject.toml"
        ) from e
    except OSError as e:
        raise ConfigError(str(path), "file", f"cannot read: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            str(path), "file", f"not valid TOML: {e}", hint="fix the TOML syntax at that line and column"
        ) from e


def parse_config(data: object, *, file: Path) -> ProjectConfig:
    """Validate a ``[tool.buildlib]`` mapping; relative paths are taken from ``file``'s directory.

    Raises ConfigError naming the dotted key of the first wrong value.
    """
    root_key = "tool.buildlib"
    if not isinstance(data, dict):
        raise ConfigError(str(file), root_key, f"expected a table, got {data!r}")
    top = _Table(data, root_key, str(file))
    top.check_keys(_TOP_KEYS)
    root = file.parent

    classes = tuple(_parse_class(name, table) for name, table in top.subtables("classes"))
    if not classes:
        raise top.error("classes", "no routing class defined", "add a [tool.buildlib.classes.NAME] table")
    names = [c.name for c in classes]
    default_class = top.optional_string("default-class")
    if default_class is not None and default_class not in names:
        raise top.error("default-class", f"no class named {default_class!r}", f"classes: {', '.join(names)}")
    _check_unique_crates(top, classes)

    return ProjectConfig(
        file=file,
        workspace=(root / top.string("workspace")).resolve(),
        out_dir=(root / top.string("out-dir", "build")).resolve(),
        cargo=top.string("cargo", "cargo"),
        default_class=default_class,
        classes=classes,
        host=_parse_host(top.table("host"), root),
        crates=tuple(_parse_crate(name, table, root) for name, table in top.subtables("crates"))
        if "crates" in data
        else (),
        cache=cast(CacheTool, top.choice("cache", CACHE_TOOLS)) if "cache" in data else None,
    )


def _parse_crate(name: str, table: _Table, root: Path) -> CrateConfig:
    table.check_keys(_CRATE_KEYS)
    exports = table.optional_string("exports")
    return CrateConfig(
        name=name,
        expect=table.string_list("expect", []),
        ignore=table.string_list("ignore", []),
        exports=(root / exports).resolve() if exports else None,
    )


def _parse_class(name: str, table: _Table) -> ClassConfig:
    if not _NAME_RE.match(name):
        raise table.error("", f"class name {name!r} must match {_NAME_RE.pattern}")
    table.check_keys(_CLASS_KEYS)
    return ClassConfig(
        name=name,
        lto=cast(LtoMode, table.choice("lto", LTO_MODES)),
        method=cast(Method, table.choice("method", METHODS, "staticlib")),
        codegen_units=table.optional_positive_int("codegen-units"),
        rustflags=table.string_list("rustflags", []),
        crates=table.string_list("crates", []),
        depends_on=table.string_list("depends-on", []),
        seal=table.boolean("seal", False),
    )


def _check_unique_crates(top: _Table, classes: tuple[ClassConfig, ...]) -> None:
    owner: dict[str, str] = {}
    for routing_class in classes:
        for index, crate in enumerate(routing_class.crates):
            if crate in owner:
                raise top.error(
                    f"classes.{routing_class.name}.crates[{index}]",
                    f"crate {crate!r} is already in class {owner[crate]!r}",
                    "a crate belongs to exactly one class",
                )
            owner[crate] = routing_class.name


def _parse_host(table: _Table, root: Path) -> HostConfig:
    table.check_keys(_HOST_KEYS)
    program = table.string("program")
    if "/" in program or program in (".", ".."):
        raise table.error("program", f"expected a file name, got {program!r}", "the program is written to OUT-DIR/bin/")
    sources = table.string_list("sources")
    if not sources:
        raise table.error("sources", "expected at least one C source or object file")
    return HostConfig(
        sources=tuple((root / source).resolve() for source in sources),
        program=program,
        cc=table.string("cc", "cc"),
        cflags=table.string_list("cflags", []),
        ldflags=table.string_list("ldflags", []),
    )
