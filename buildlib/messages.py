"""What one cargo call said: its JSON messages on stdout and its verbose rustc command lines on stderr.

cargo's JSON messages say which archive it wrote (``compiler-artifact``) and which system
libraries each archive needs (``native-static-libs``, F6); the ``Running`` lines of ``-v``
say which ``-C lto`` each staticlib's rustc got.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .depinfo import CargoUnits

_NATIVE_LIBS_PREFIX = "native-static-libs:"
_RUNNING = re.compile(r"^\s+Running `(.*)`\s*$")
_FRESH = re.compile(r"^\s+Fresh ")
# rustc's spellings of -C lto values.
_LTO_VALUES = {
    "": "fat",
    "y": "fat",
    "yes": "fat",
    "on": "fat",
    "true": "fat",
    "fat": "fat",
    "thin": "thin",
    "n": "off",
    "no": "off",
    "off": "off",
    "false": "off",
}


def parse_lto_flag(words: list[str]) -> str | None:
    """The LTO mode of a rustc command line (the last ``-C lto[=…]`` wins), None when absent."""
    found: str | None = None
    for i, word in enumerate(words):
        option = words[i + 1] if word == "-C" and i + 1 < len(words) else word[2:] if word.startswith("-Clto") else None
        if option is not None and (option == "lto" or option.startswith("lto=")):
            found = _LTO_VALUES.get(option.partition("=")[2], option.partition("=")[2])
    return found


@dataclass(kw_only=True, slots=True)
class CargoOutput:
    """What a cargo call's JSON messages said, by library target name."""

    archives: dict[str, Path] = field(default_factory=dict)
    native_libs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # crate name -> the -C lto value of its staticlib's rustc call (None: no -C lto)
    lto_passed: dict[str, str | None] = field(default_factory=dict)
    units: CargoUnits = field(default_factory=CargoUnits)
    # library target name -> the features cargo enabled for it
    features: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # library target name -> its package id; (package id, linked_libs) of each build script run
    packages: dict[str, str] = field(default_factory=dict)
    linked_libs: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # Called with (library target name, archive) for each archive cargo wrote in this call (not fresh).
    on_archive: Callable[[str, Path], None] | None = None

    def feed_stderr(self, line: str) -> bool:
        """Take one line of cargo's verbose stderr; return whether to show it to the user."""
        running = _RUNNING.match(line)
        if running is None:
            return not _FRESH.match(line)
        words = running.group(1).split()
        crate_types = {words[i + 1] for i, word in enumerate(words[:-1]) if word == "--crate-type"}
        names = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--crate-name"]
        if "staticlib" in crate_types and names:
            self.lto_passed[names[0]] = parse_lto_flag(words)
        return False

    def feed(self, line: str) -> tuple[str, str] | None:
        """Take one line of cargo's stdout; return (target, text) for a diagnostic to show."""
        try:
            message = json.loads(line)
        except ValueError:
            return None  # build scripts and the like may print plain lines
        if not isinstance(message, dict):
            return None
        self.units.feed(message)
        target = message.get("target") or {}
        name = str(target.get("name", "")).replace("-", "_")
        reason = message.get("reason")
        if reason == "compiler-artifact":
            if "lib" in (target.get("kind") or []) or "staticlib" in (target.get("kind") or []):
                self.features[name] = tuple(str(f) for f in message.get("features") or ())
                self.packages[name] = str(message.get("package_id", ""))
            for filename in message.get("filenames") or []:
                if filename.endswith(".a") or filename.endswith(".lib"):
                    self.archives[name] = Path(filename)
                    if self.on_archive is not None and message.get("fresh") is False:
                        self.on_archive(name, self.archives[name])
        elif reason == "build-script-executed":
            libs = tuple(str(spec) for spec in message.get("linked_libs") or ())
            self.linked_libs.append((str(message.get("package_id", "")), libs))
        elif reason == "compiler-message":
            body = message.get("message") or {}
            text = str(body.get("message", ""))
            if text.startswith(_NATIVE_LIBS_PREFIX):
                self.native_libs[name] = tuple(text[len(_NATIVE_LIBS_PREFIX) :].split())
            elif body.get("level") == "note" and "native artifacts" in text:
                pass  # the preamble of the native-static-libs note
            elif body.get("rendered"):
                return name, str(body["rendered"])
        return None
