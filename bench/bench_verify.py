"""Verify speed against llvm-nm, as a ratio measured in one run (these machines are noisy).

For each verified archive of the fixture workspace (run `doit link` first), it
times an in-process `verify_archive` of the crate's expected exports (LIEF
already loaded, as in a doit run) and `llvm-nm --no-llvm-bc -g` on the same
file, alternating the two, and reports medians and their ratio. Goal: at most
0.5 (issue 3).

    python bench/bench_verify.py [--repeat N] [ARCHIVE ...]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from buildlib.archive import read_archive
from buildlib.objfile import load_lief
from buildlib.records import read_report
from buildlib.verify import verify_archive

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.5


def expected_names(archive: Path) -> list[str]:
    return list(read_report(archive.parent / "report.json").exports)


def time_once(action: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def verify_in_process(archive: Path, names: list[str]) -> None:
    verify_archive(read_archive(archive), names)


def llvm_nm(nm: str, archive: Path) -> None:
    subprocess.run([nm, "--no-llvm-bc", "-g", str(archive)], capture_output=True, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archives", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    archives = args.archives or sorted((ROOT / "build" / "verified").glob("*/lib*.a"))
    nm = shutil.which("llvm-nm")
    if not archives or nm is None:
        print("error: need verified archives (run: doit link) and llvm-nm on PATH", file=sys.stderr)
        return 2
    load_lief()  # once, as in a doit run
    print(f"{'archive':<22} {'size':>8} {'buildlib':>10} {'llvm-nm':>10} {'ratio':>7}  goal <= {GOAL}")
    ratios = []
    for archive in archives:
        names = expected_names(archive)
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(time_once(verify_in_process, archive, names))
            theirs.append(time_once(llvm_nm, nm, archive))
        ours_ms, theirs_ms = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
        ratios.append(ours_ms / theirs_ms)
        size = f"{archive.stat().st_size / 1e6:.1f}MB"
        print(f"{archive.name:<22} {size:>8} {ours_ms:>8.1f}ms {theirs_ms:>8.1f}ms {ratios[-1]:>7.2f}")
    worst = max(ratios)
    print(f"worst ratio {worst:.2f}: goal {'met' if worst <= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
