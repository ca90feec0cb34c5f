"""Shared test helpers: real objects from the system C compiler, real archives from ``ar``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def compile_c(directory: Path, name: str, source: str, *flags: str) -> Path:
    """Compile ``source`` to ``directory/name.o`` with the system C compiler."""
    cc = require("cc")
    c_file = directory / f"{name}.c"
    c_file.write_text(source)
    obj = directory / f"{name}.o"
    subprocess.run([cc, "-c", "-O1", *flags, str(c_file), "-o", str(obj)], check=True)
    return obj


def make_ar(archive: Path, *objects: Path, index: bool = True, thin: bool = False) -> Path:
    """Pack ``objects`` with GNU ar: ``s`` writes the symbol index, ``S`` leaves it out."""
    ar = require("ar")
    flags = "rc" + ("s" if index else "S") + ("T" if thin else "")
    archive.unlink(missing_ok=True)
    subprocess.run([ar, flags, str(archive), *map(str, objects)], check=True)
    return archive


def cargo_shim(directory: Path) -> tuple[Path, Path]:
    """A ``cargo`` that logs each call (one line of arguments) and runs the real one.

    Returns (directory to put first on PATH, the log file).
    """
    real = require("cargo")
    bin_dir = directory / "shim-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = directory / "cargo-calls.log"
    log.touch()
    shim = bin_dir / "cargo"
    shim.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    return bin_dir, log


def cargo_calls(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line]
