"""Figure e of bench_build.py: cold `doit link` of the registry-crate fixture workspace
(crates-fixtures/real: tokio, flate2, crc32fast, cc, serde, serde_json) against what a user would
type instead: plain `cargo build --release` there and the same cc link of cargo's own archives.

Each run is on a fresh copy (no target/, no build/); a first `doit link`, not counted, gives the
link line and warms the page cache; then the median of --repeat rounds, alternating which side
goes first.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

from _report import Figure, median_alternating
from _tools import ROOT, BenchError, Tools, doit, progress, run, step_breakdown, timed_run

REAL = ROOT / "crates-fixtures" / "real"


def _copy(root: Path) -> Path:
    shutil.copytree(REAL, root, ignore=shutil.ignore_patterns("target", "build"), symlinks=True)
    return root


def _check(program: Path, tools: Tools) -> None:
    output = run([str(program)], tools).stdout
    if not output.rstrip().endswith("all checks passed"):
        raise BenchError(f"{program}: unexpected output ending {output.strip()[-200:]!r}")


def _baseline_script(ours: Path, base: Path, tools: Tools) -> Path:
    """`cargo build --release`, then buildlib's link line for ``ours`` with each verified archive
    replaced by the same crate's archive under ``base``/target/release."""
    project = ours / "pyproject.toml"
    line = json.loads(
        run([sys.executable, "-m", "buildlib", "link-line", "--json", "--project", str(project)], tools).stdout
    )
    archive_of = {}  # the verified store's directory name -> cargo's file name of that archive
    for record_path in (ours / "build" / "archives").glob("*/*.build.json"):
        record = json.loads(record_path.read_text())
        archive_of[record["name"]] = Path(record["artifact"]).name
    verified = ours / "build" / "verified"
    link = []
    for arg in line:
        path = Path(arg)
        if path.suffix == ".a" and path.is_relative_to(verified):
            arg = str(base / "target" / "release" / archive_of[path.relative_to(verified).parts[0]])
        elif path.is_absolute() and path.is_relative_to(ours):
            arg = str(base / path.relative_to(ours))
        link.append(arg)
    link[link.index("-o") + 1] = str(base / "baseline-host")
    script = base / "baseline.sh"
    script.write_text(f"#!/bin/sh\nset -e\ncargo build --release --quiet\n{shlex.join(link)}\n")
    return script


def real_cold(workdir: Path, repeat: int, tools: Tools) -> Figure:
    """Figure e, on its own copies under ``workdir``, each removed when measured."""
    first = _copy(workdir / "real-ours")
    try:
        progress("real crates: a first cold doit link (not counted: the link line, a warm page cache)")
        timed_run(doit("link"), tools, first)
        _check(first / "build" / "bin" / "host", tools)
        crates = sum(1 for entry in (first / "build" / "verified").iterdir() if entry.is_dir())
        outputs: list[tuple[str, float]] = []

        def ours() -> float:
            copy = _copy(workdir / "real-again")
            try:
                output, seconds = timed_run(doit("link"), tools, copy)
                _check(copy / "build" / "bin" / "host", tools)
                outputs.append((output, seconds))
                return seconds
            finally:
                shutil.rmtree(copy, ignore_errors=True)

        def plain() -> float:
            base = _copy(workdir / "real-base")
            try:
                _, seconds = timed_run(["sh", str(_baseline_script(first, base, tools))], tools, base)
                _check(base / "baseline-host", tools)
                return seconds
            finally:
                shutil.rmtree(base, ignore_errors=True)

        progress(f"real crates: cold doit link vs cargo build --release + cc, {repeat} rounds")
        ours_s, base_s = median_alternating([ours, plain], repeat)
    finally:
        shutil.rmtree(first, ignore_errors=True)
    output, seconds = min(outputs, key=lambda o: abs(o[1] - ours_s))
    limit = f"{step_breakdown(output, seconds)}; baseline (cargo build --release, then cc) {base_s:.2f}s"
    return Figure(name="cold link, real crates", n=crates, ours=ours_s, baseline=base_s, goal=1.0, limit=limit)
