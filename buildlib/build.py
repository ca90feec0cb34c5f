"""Running a build unit's cargo call and recording what it produced.

cargo's JSON messages say which archive it wrote (``compiler-artifact``) and
which system libraries each archive needs (``native-static-libs``, F6); the
archive is then copied into the output directory under a new inode, next to a
build record, so a later failed build can never damage it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from . import _fs
from .errors import BuildError
from .plan import BuildUnit

_NATIVE_LIBS_PREFIX = "native-static-libs:"


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildRecord:
    """What one build of one archive was: written next to the archive as JSON."""

    crate: str
    routing_class: str
    method: str
    lto: str
    command: tuple[str, ...]
    artifact: str
    native_static_libs: tuple[str, ...]
    built_at: str
    seconds: float

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode() + b"\n"

    @classmethod
    def from_file(cls, path: Path) -> BuildRecord:
        """Raises BuildError when the record is missing or unreadable."""
        try:
            data = json.loads(path.read_text())
            data["command"] = tuple(data["command"])
            data["native_static_libs"] = tuple(data["native_static_libs"])
            return cls(**data)
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise BuildError(
                f"{path}: unreadable build record ({e})", hint="rebuild the crate: doit forget build && doit link"
            ) from e


@dataclass(kw_only=True, slots=True)
class CargoOutput:
    """What a cargo call's JSON messages said, by library target name."""

    archives: dict[str, Path] = field(default_factory=dict)
    native_libs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    diagnostics: list[tuple[str, str]] = field(default_factory=list)

    def feed(self, line: str) -> tuple[str, str] | None:
        """Take one line of cargo's stdout; return (target, text) for a diagnostic to show."""
        try:
            message = json.loads(line)
        except ValueError:
            return None  # build scripts and the like may print plain lines
        if not isinstance(message, dict):
            return None
        target = message.get("target") or {}
        name = str(target.get("name", "")).replace("-", "_")
        reason = message.get("reason")
        if reason == "compiler-artifact":
            for filename in message.get("filenames") or []:
                if filename.endswith(".a") or filename.endswith(".lib"):
                    self.archives[name] = Path(filename)
        elif reason == "compiler-message":
            body = message.get("message") or {}
            text = str(body.get("message", ""))
            if text.startswith(_NATIVE_LIBS_PREFIX):
                self.native_libs[name] = tuple(text[len(_NATIVE_LIBS_PREFIX) :].split())
            elif body.get("level") == "note" and "native artifacts" in text:
                pass  # the preamble of the native-static-libs note
            elif body.get("rendered"):
                diagnostic = (name, str(body["rendered"]))
                self.diagnostics.append(diagnostic)
                return diagnostic
        return None


def run_unit(unit: BuildUnit, *, out: TextIO = sys.stderr) -> list[BuildRecord]:
    """Run ``unit``'s cargo call, then install each archive and its build record.

    cargo's own progress goes straight to the terminal; compiler diagnostics are
    shown under the crate's name. Nothing is installed unless cargo succeeded
    and reported every archive, so the previous archives stay as they were.

    Raises BuildError when cargo cannot start, fails, or omits an archive.
    """
    started = time.monotonic()
    output = CargoOutput()
    try:
        process = subprocess.Popen(unit.command, cwd=unit.cwd, stdout=subprocess.PIPE, text=True)
    except FileNotFoundError as e:
        raise BuildError(
            f"build:{unit.name}: {unit.command[0]}: not found",
            hint="install Rust (rustup.rs) or set tool.buildlib.cargo",
        ) from e
    assert process.stdout is not None
    crate_names = {route.crate.lib_name: route.crate.name for route in unit.routes}
    shown: set[str] = set()
    with process:
        for line in process.stdout:
            diagnostic = output.feed(line)
            if diagnostic is not None:
                target, text = diagnostic
                if target not in shown:
                    shown.add(target)
                    out.write(f"--- {crate_names.get(target, target)} ---\n")
                out.write(text)
                out.flush()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise BuildError(
            f"build:{unit.name}: cargo failed with exit code {process.returncode}; the previous archives are kept",
            hint="fix the error above and run again; command: " + " ".join(unit.command),
        )
    return install_archives(unit, output, seconds)


def install_archives(unit: BuildUnit, output: CargoOutput, seconds: float) -> list[BuildRecord]:
    """Copy each reported archive into place and write its record; all or nothing is checked first."""
    missing = [r.crate.name for r in unit.routes if r.crate.lib_name not in output.archives]
    if missing:
        raise BuildError(
            f"build:{unit.name}: cargo reported no staticlib for {', '.join(missing)}",
            hint='check [lib] crate-type includes "staticlib"',
        )
    built_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    records = []
    for route in unit.routes:
        artifact = output.archives[route.crate.lib_name]
        record = BuildRecord(
            crate=route.crate.name,
            routing_class=route.routing_class.name,
            method=route.routing_class.method,
            lto=route.routing_class.lto,
            command=unit.command,
            artifact=str(artifact),
            native_static_libs=output.native_libs.get(route.crate.lib_name, ()),
            built_at=built_at,
            seconds=round(seconds, 3),
        )
        _fs.copy_atomic(artifact, route.archive)
        _fs.write_atomic(route.record, record.to_json())
        records.append(record)
    return records


def summarize(records: Iterable[BuildRecord]) -> str:
    return ", ".join(f"{r.crate} ({r.routing_class}, lto={r.lto})" for r in records)
