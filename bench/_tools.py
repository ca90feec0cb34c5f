"""What every bench_build.py scenario runs on: the tools with a logging cargo, timed runs, fresh
copies of a generated project, the checks that a build linked a program that works."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import _synth
from _synth import Layout

ROOT = Path(__file__).resolve().parent.parent
TOOL_HINTS = {
    "cargo": "install Rust (rustup.rs)",
    "cc": "install a C compiler (gcc or clang)",
    "llvm-nm": "install LLVM (apt-get install llvm): it is the baseline of the verify figure",
}
# Variables that would let one copy reuse another's compiled output and make a cold build warm
# (a compile cache is turned on by the scenario that measures it, never by the caller's environment).
_SHARING_VARIABLES = ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER")
# "build:routed: ext-0 built in 9.9s": every crate of one cargo call names that call's time.
_BUILT = re.compile(r"^(\S+): \S+ built in ([0-9.]+)s", re.MULTILINE)
_VERIFIED = re.compile(r"exports? ok in ([0-9.]+)s")
STARTED = time.perf_counter()


class BenchError(Exception):
    """A bench step failed or measured something invalid; main prints it as one error line."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Tools:
    """The environment every measured command runs in: a logging cargo first on PATH, on both sides."""

    env: dict[str, str]
    cargo_log: Path
    nm: str

    def reset_log(self) -> None:
        self.cargo_log.write_text("")

    def cargo_calls(self) -> list[str]:
        return [line for line in self.cargo_log.read_text().splitlines() if line]


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def find_tools(workdir: Path) -> Tools:
    """The required tools, and a cargo shim that logs each call (as tests/conftest.py logging_shim).

    Raises BenchError naming the first missing tool.
    """
    for tool, hint in TOOL_HINTS.items():
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found on PATH; {hint}")
    bin_dir = workdir / "shim-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = workdir / "cargo-calls.log"
    log.touch()
    shim = bin_dir / "cargo"
    shim.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{shutil.which("cargo")}" "$@"\n')
    shim.chmod(0o755)
    # PYTHONDONTWRITEBYTECODE (set on some of these machines) would make every buildlib
    # start recompile its modules, which a user's machine caches: both sides run with caching.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SHARING_VARIABLES and k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("SCCACHE_")
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return Tools(env=env, cargo_log=log, nm=str(shutil.which("llvm-nm")))


def run(command: Sequence[str], tools: Tools, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run to completion with output captured; raises BenchError with the output's last lines on failure."""
    result = subprocess.run(command, cwd=cwd, env=tools.env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = " | ".join((result.stdout + result.stderr).strip().splitlines()[-4:])
        raise BenchError(f"`{shlex.join(command)}` exited {result.returncode}: {tail}")
    return result


def timed_run(command: Sequence[str], tools: Tools, cwd: Path | None = None) -> tuple[str, float]:
    """(stdout + stderr, wall seconds) of a successful run."""
    started = time.perf_counter()
    result = run(command, tools, cwd)
    return result.stdout + result.stderr, time.perf_counter() - started


def doit(*args: str) -> list[str]:
    return [sys.executable, "-m", "doit", *args]


def check_program(program: Path, n: int, tools: Tools) -> None:
    """The linked host must pass its checks: a bench of a build that links a wrong program measures nothing."""
    output = run([str(program)], tools).stdout
    if f"all {n} checks passed" not in output:
        raise BenchError(f"{program}: unexpected output {output.strip()!r}")


def make_template(root: Path, n: int, tools: Tools) -> Layout:
    """The generated project with a lockfile, as a clone would have it.

    Without Cargo.lock the first build writes one, which changes the manifest key of the
    metadata cache and the build tasks' inputs: the run after it would not be a no-op.
    """
    layout = _synth.write_project(root, n, ROOT / "dodo.py")
    run(["cargo", "generate-lockfile", "--offline", "--manifest-path", str(layout.workspace / "Cargo.toml")], tools)
    return layout


def fresh_copy(template: Layout, root: Path) -> Layout:
    shutil.copytree(template.root, root, symlinks=True)
    return Layout(root=root)


def warm_up(template: Layout, root: Path, tools: Tools) -> None:
    """One throwaway crate build, so rustc and std's rlibs are in the page cache before either cold side runs."""
    copy = fresh_copy(template, root)
    manifest = copy.workspace / "Cargo.toml"
    run(["cargo", "build", "--release", "-p", _synth.crate_name(0), "--manifest-path", str(manifest)], tools)
    shutil.rmtree(root)


def seconds_in(output: str, pattern: re.Pattern[str]) -> float:
    return sum(float(found) for found in pattern.findall(output))


def build_seconds(output: str) -> float:
    """The time of each cargo call once, however many crates it built."""
    return sum({label: float(seconds) for label, seconds in _BUILT.findall(output)}.values())


def step_breakdown(output: str, total: float) -> str:
    """Where a doit run's time went, from the lines the build and verify steps print."""
    cargo, verify = build_seconds(output), seconds_in(output, _VERIFIED)
    steps = (
        f"cargo, with each archive linked and hashed as cargo reports it (build steps) {cargo:.2f}s"
        f" + verify and promote {verify:.2f}s"
    )
    if cargo + verify > total:  # tasks ran side by side: their times overlap
        return f"doit link {total:.2f}s; its steps, summed over tasks that ran side by side: {steps}"
    rest = total - cargo - verify
    return (
        f"doit link {total:.2f}s = {steps}"
        f" + the rest (python and doit start, plan, up-to-date checks, link with audit and archive hashes) {rest:.2f}s"
    )
