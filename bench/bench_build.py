"""Build speed of `doit link` against plain-tool baselines, as ratios measured in one run (issue 6).

On a generated workspace of N std-only ext crates (bench/_synth.py), each figure
is a ratio against a baseline run by the same script, since these machines are
too noisy for absolute times:

  a. no-op `doit link` after a completed build vs `doit list` on a one-task dodo.py;
  b. cold `doit link` vs plain cargo: a shell script of buildlib's cargo call, which for the
     lto-off class is `cargo build --lib -p <every crate>` with the class's profile settings
     (what a user would type), and the same cc link, each on its own fresh copy (no shared
     target/, no shared cache), the median of --repeat rounds that alternate which side goes first;
  c. one crate edited: `doit link` (exactly 1 cargo call) vs that crate's cargo call,
     `buildlib verify --crate` and the cc link run by hand;
  d. verifying all N archives in one process vs `llvm-nm --no-llvm-bc -g` per archive;
  e. on the registry-crate fixture workspace (crates-fixtures/real), cold `doit link` vs plain
     `cargo build --release` and the same cc link (bench/_real.py).

With --cache, only the compile cache's figure (bench/_cache.py): a cold `doit link` with a warm
sccache cache vs a cold one without, written to its own section of bench/results.md.

    python bench/bench_build.py [--crates N] [--also 200] [--repeat K] [--workdir DIR] [--cache]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import _synth
from _cache import warm_cache_link
from _real import real_cold
from _report import (
    Figure,
    median_alternating,
    scaling_lines,
    text_table,
    timed,
    write_cache_results,
    write_readme,
    write_results,
)
from _synth import Layout
from _tools import (
    ROOT,
    STARTED,
    BenchError,
    Tools,
    check_program,
    doit,
    find_tools,
    fresh_copy,
    make_template,
    progress,
    run,
    step_breakdown,
    timed_run,
    warm_up,
)

from buildlib.archive import read_archive
from buildlib.objfile import load_lief
from buildlib.progress import started_tasks
from buildlib.records import BuildRecord, read_report
from buildlib.verify import verify_archive

RESULTS = ROOT / "bench" / "results.md"
README = ROOT / "README.md"
GB = 1e9
# Each archive is ~22 MB and sits in target/ and build/archives (the store hard-links the latter)
# of the first buildlib copy, and of a second one or the baseline's target/ while the cold rounds
# run: ~88 MB a crate, plus headroom.
BYTES_PER_CRATE = 100_000_000
BYTES_HEADROOM = 2_000_000_000
# Rounds of the no-op figure at least: its runs take a tenth of a second each.
NOOP_ROUNDS = 9


def check_disk(workdir: Path, n: int) -> None:
    free, need = shutil.disk_usage(workdir).free, n * BYTES_PER_CRATE + BYTES_HEADROOM
    if free < need:
        raise BenchError(
            f"{workdir}: {free / GB:.1f} GB free, N={n} needs about {need / GB:.1f} GB; "
            "pass --workdir on a larger disk or fewer --crates"
        )


def build_records(layout: Layout) -> dict[str, dict[str, Any]]:
    """Each crate's build record, as buildlib wrote it (build/archives/routed/<crate>.build.json)."""
    records = {}
    for path in sorted((layout.build / "archives" / "routed").glob("*.build.json")):
        record = BuildRecord.from_file(path)
        records[record.name] = record.to_dict()
    return records


def rebase(arg: str, old: Path, new: Path) -> str:
    prefix = f"{old}{os.sep}"
    return f"{new}{os.sep}{arg[len(prefix) :]}" if arg.startswith(prefix) else arg


def planned_link_line(layout: Layout, tools: Tools) -> list[str]:
    project = layout.root / "pyproject.toml"
    line: list[str] = json.loads(
        run([sys.executable, "-m", "buildlib", "link-line", "--json", "--project", str(project)], tools).stdout
    )
    return line


def artifact_link_line(line: Sequence[str], ours: Layout, other: Layout, output: Path) -> list[str]:
    """buildlib's link line with each verified archive replaced by cargo's artifact in ``other``'s target/.

    Raises BenchError when some crate's archive is not on the line.
    """
    records, verified = build_records(ours), ours.build / "verified"
    rebuilt, replaced = [], set()
    for arg in line:
        path = Path(arg)
        if path.suffix == ".a" and path.is_relative_to(verified):
            crate = path.relative_to(verified).parts[0]
            replaced.add(crate)
            arg = records[crate]["artifact"]
        rebuilt.append(rebase(arg, ours.root, other.root))
    if replaced != set(records):
        raise BenchError(f"link line lacks the archives of {sorted(set(records) - replaced)}")
    rebuilt[rebuilt.index("-o") + 1] = str(output)
    return rebuilt


def baseline_script(ours: Layout, base: Layout, tools: Tools) -> Path:
    """The cargo calls buildlib made (from its build records) and its cc link, rewritten for ``base``."""
    # One command per cargo call: the crates of an lto-off class share theirs (one cargo build).
    calls = dict.fromkeys(tuple(record["command"]) for record in build_records(ours).values())
    commands = [[rebase(arg, ours.root, base.root) for arg in command] for command in calls]
    commands.append(artifact_link_line(planned_link_line(ours, tools), ours, base, base.root / "baseline-host"))
    script = base.root / "baseline.sh"
    script.write_text("#!/bin/sh\nset -e\n" + "".join(shlex.join(c) + "\n" for c in commands))
    return script


def cold_link(template: Layout, scale_dir: Path, n: int, repeat: int, tools: Tools) -> tuple[Layout, Figure]:
    """Figure b, the median of ``repeat`` rounds, each on fresh copies, the first side of each round
    alternating (a cold build is the noisiest figure here); returns the first built buildlib copy,
    which the later figures use."""
    ours = fresh_copy(template, scale_dir / "ours")
    progress(f"N={n}: cold doit link (the lto-off class: one cargo build of {n} crates)")
    tools.reset_log()
    output, first_s = timed_run(doit("link"), tools, ours.root)
    builds = [call for call in tools.cargo_calls() if call.startswith(("rustc ", "build "))]
    if len(builds) != 1 or f"-p {_synth.crate_name(n - 1)} " not in builds[0]:
        raise BenchError(f"cold doit link made {len(builds)} cargo calls, not one cargo build of the {n} crates")
    check_program(ours.build / "bin" / "host", n, tools)
    runs = [(first_s, output)]

    def baseline() -> float:
        base = fresh_copy(template, scale_dir / "baseline")
        try:
            _, seconds = timed_run(["sh", str(baseline_script(ours, base, tools))], tools, base.root)
            check_program(base.root / "baseline-host", n, tools)
            return seconds
        finally:
            shutil.rmtree(base.root, ignore_errors=True)

    def again() -> float:
        copy = fresh_copy(template, scale_dir / "again")
        try:
            output, seconds = timed_run(doit("link"), tools, copy.root)
            check_program(copy.build / "bin" / "host", n, tools)
            runs.append((seconds, output))
            return seconds
        finally:
            shutil.rmtree(copy.root, ignore_errors=True)

    progress(f"N={n}: cold baseline script (plain cargo build -p of the {n} crates + cc), {first_s:.1f}s for doit link")
    base_times = [baseline()]
    for round_ in range(1, repeat):
        progress(f"N={n}: cold round {round_ + 1} of {repeat}")
        sides = (baseline, again) if round_ % 2 else (again, baseline)
        for side in sides:
            seconds = side()
            if side is baseline:
                base_times.append(seconds)
    ours_s, base_s = statistics.median(s for s, _ in runs), statistics.median(base_times)
    middle = min(runs, key=lambda run: abs(run[0] - ours_s))
    limit = (
        f"{step_breakdown(middle[1], middle[0])}; baseline {base_s:.2f}s; "
        f"every run: ours {', '.join(f'{s:.1f}' for s, _ in runs)} s, baseline {', '.join(f'{s:.1f}' for s in base_times)} s"
    )
    return ours, Figure(name="cold link", n=n, ours=ours_s, baseline=base_s, goal=1.0, limit=limit)


# doit link in this process, serially (-n 0: every task in this one process, where by default each
# runs in a worker), then its own peak resident memory (cargo and cc are children: not counted).
_PEAK = (
    "import resource, sys; from doit.doit_cmd import DoitMain; code = DoitMain().run(sys.argv[1:]); "
    "print(f'peak-rss-kb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr); sys.exit(code)"
)


def peak_mb(output: str) -> float:
    found = re.search(r"peak-rss-kb: (\d+)", output)
    if found is None:
        raise BenchError("the doit run printed no peak memory")
    return int(found.group(1)) / 1024


def cold_memory(template: Layout, scale_dir: Path, n: int, tools: Tools) -> Figure:
    """Peak resident memory of a cold doit link (serial: every verify in the one process) against a
    no-op doit link's plus one archive: the verifier must never hold more than one archive at a time."""
    copy = fresh_copy(template, scale_dir / "memory")
    try:
        progress(f"N={n}: peak memory of a cold doit link")
        cold = peak_mb(timed_run([sys.executable, "-c", _PEAK, "-n", "0", "link"], tools, copy.root)[0])
        noop = peak_mb(timed_run([sys.executable, "-c", _PEAK, "-n", "0", "link"], tools, copy.root)[0])
        archive = max(path.stat().st_size for path in (copy.build / "archives").rglob("*.a")) / 1e6
    finally:
        shutil.rmtree(copy.root, ignore_errors=True)
    limit = f"cold {cold:.0f} MB; a no-op run {noop:.0f} MB; the largest archive {archive:.0f} MB"
    return Figure(
        name="peak memory, cold link", n=n, ours=cold, baseline=noop + archive, goal=1.0, limit=limit, unit="MB"
    )


def link_after_cold(ours: Layout, n: int, tools: Tools) -> Figure:
    """The first doit link after the cold one must already be a no-op: no cargo call, no task run."""
    tools.reset_log()
    output, _ = timed_run(doit("link"), tools, ours.root)
    calls, ran = tools.cargo_calls(), started_tasks(output)
    limit = f"{len(calls)} cargo calls ({calls[:2]}...), tasks run: {ran[:4]}... ({len(ran)} in all)"
    return Figure(name="link after cold: cargo calls", n=n, ours=len(calls), baseline=None, goal=0, limit=limit)


def link_task_alone(ours: Layout, tools: Tools) -> float:
    """doit link with only the host source edited: the link task's own cost (store checks, audit, cc)."""
    with ours.main_c.open("a") as handle:
        handle.write("/* relink */\n")
    tools.reset_log()
    output, seconds = timed_run(doit("link"), tools, ours.root)
    if tools.cargo_calls() or started_tasks(output) != ["link"]:
        raise BenchError(f"host edit ran {started_tasks(output)} and cargo {tools.cargo_calls()}, expected link only")
    return seconds


def write_bare_dodo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dodo.py").write_text('def task_hello():\n    """A trivial task."""\n    return {"actions": ["true"]}\n')
    return root


def noop_link(ours: Layout, bare: Path, n: int, repeat: int, tools: Tools) -> Figure:
    """Figure a, with `doit list` in the project as a split: loading dodo.py and the plan vs the checks."""

    def link() -> float:
        tools.reset_log()
        output, seconds = timed_run(doit("link"), tools, ours.root)
        if tools.cargo_calls() or started_tasks(output):
            raise BenchError(f"no-op doit link ran {started_tasks(output)} and cargo {tools.cargo_calls()}")
        return seconds

    rounds = max(repeat, NOOP_ROUNDS)
    progress(f"N={n}: no-op doit link vs doit's bare start, {rounds} runs each")
    ours_s, listed_s, bare_s = median_alternating(
        [link, lambda: timed_run(doit("list"), tools, ours.root)[1], lambda: timed_run(doit("list"), tools, bare)[1]],
        rounds,
    )
    served = (
        "served by the plan cache" if (ours.build / ".buildlib" / "tasks.json").is_file() else "planned (no plan cache)"
    )
    limit = (
        f"doit's bare start {bare_s:.3f}s; `doit list` in the project (import buildlib, read the plan cache, "
        f"make {2 * n + 1} task dicts) {listed_s:.3f}s; up-to-date checks {ours_s - listed_s:.3f}s; {served}"
    )
    return Figure(name="no-op link", n=n, ours=ours_s, baseline=bare_s, goal=1.5, limit=limit)


def verified_entries(ours: Layout) -> list[tuple[Path, list[str]]]:
    """(archive, expected names) of each crate, from build/verified/<crate>/report.json."""
    entries = []
    for report_path in sorted((ours.build / "verified").glob("*/report.json")):
        report = read_report(report_path)
        entries.append((report_path.parent / report.archive_file, list(report.exports)))
    return entries


def verify_all(ours: Layout, n: int, repeat: int, tools: Tools) -> Figure:
    """Figure d: one process verifying every archive (LIEF loaded before), vs one llvm-nm per archive."""
    entries = verified_entries(ours)
    if len(entries) != n:
        raise BenchError(f"{ours.build / 'verified'}: {len(entries)} reports for {n} crates")
    load_lief()  # once, as in a doit run

    def in_process() -> None:
        for archive, names in entries:
            if not verify_archive(read_archive(archive), names).ok:
                raise BenchError(f"{archive}: verify failed")

    def llvm_nm() -> None:
        for archive, _ in entries:
            run([tools.nm, "--no-llvm-bc", "-g", str(archive)], tools)

    progress(f"N={n}: verify {n} archives in process vs llvm-nm, {repeat} runs each")
    ours_s, nm_s = median_alternating([lambda: timed(in_process), lambda: timed(llvm_nm)], repeat)
    limit = f"per archive: ours {ours_s / n * 1e3:.1f} ms, llvm-nm {nm_s / n * 1e3:.1f} ms"
    return Figure(name="verify all", n=n, ours=ours_s, baseline=nm_s, goal=1.0, limit=limit)


def touch_rebuild(ours: Layout, n: int, repeat: int, tools: Tools) -> list[Figure]:
    """Figure c: one crate edited; doit link's cargo calls, and its time vs the same steps run by hand."""
    index = n // 2
    crate = _synth.crate_name(index)
    record = build_records(ours)[crate]
    crate_dir = str(ours.crate_dir(crate))
    link_line = artifact_link_line(planned_link_line(ours, tools), ours, ours, ours.root / "baseline-host")
    verify = [sys.executable, "-m", "buildlib", "verify", record["artifact"], "--crate", crate_dir]
    tags = itertools.count()
    calls: list[int] = []
    outputs: list[tuple[str, float]] = []
    parts: list[tuple[float, float, float]] = []

    def with_doit() -> float:
        _synth.touch_crate(ours, index, f"d{next(tags)}")
        tools.reset_log()
        output, seconds = timed_run(doit("link"), tools, ours.root)
        calls.append(len(tools.cargo_calls()))
        outputs.append((output, seconds))
        return seconds

    def by_hand() -> float:
        _synth.touch_crate(ours, index, f"h{next(tags)}")
        part = (timed_run(record["command"], tools)[1], timed_run(verify, tools)[1], timed_run(link_line, tools)[1])
        parts.append(part)
        return sum(part)

    progress(f"N={n}: {crate} edited, doit link vs cargo + buildlib verify + cc by hand, {repeat} runs each")
    ours_s, hand_s = median_alternating([with_doit, by_hand], repeat)
    check_program(ours.build / "bin" / "host", n, tools)
    output, seconds = min(outputs, key=lambda o: abs(o[1] - ours_s))  # the run nearest the median
    cargo_s, verify_s, cc_s = (statistics.median(p[i] for p in parts) for i in range(3))
    limit = f"{step_breakdown(output, seconds)}; by hand: cargo {cargo_s:.2f}s, verify {verify_s:.2f}s, cc {cc_s:.2f}s"
    return [
        Figure(name="edit one crate: cargo calls", n=n, ours=max(calls), baseline=None, goal=1, limit=f"calls {calls}"),
        Figure(name="edit one crate", n=n, ours=ours_s, baseline=hand_s, goal=1.1, limit=limit),
    ]


@contextlib.contextmanager
def scale_template(workdir: Path, n: int, tools: Tools) -> Iterator[tuple[Path, Layout]]:
    """The directory of the figures at N crates and its generated project (rustc and std warm in
    the page cache); the directory is removed when they are taken."""
    scale_dir = workdir / f"n{n}"
    scale_dir.mkdir()
    try:
        progress(f"N={n}: generating the workspace")
        template = make_template(scale_dir / "template", n, tools)
        warm_up(template, scale_dir / "warm", tools)
        yield scale_dir, template
    finally:
        shutil.rmtree(scale_dir, ignore_errors=True)


def bench_scale(workdir: Path, n: int, repeat: int, tools: Tools) -> list[Figure]:
    """Every figure at N crates; each workspace copy is deleted as soon as its figures are taken."""
    check_disk(workdir, n)
    with scale_template(workdir, n, tools) as (scale_dir, template):
        ours, cold = cold_link(template, scale_dir, n, repeat, tools)
        figures = [link_after_cold(ours, n, tools)]
        figures.append(noop_link(ours, write_bare_dodo(scale_dir / "bare"), n, repeat, tools))
        # The link task's share explains both the cold and the edit figures.
        alone = f"; doit link with only host/main.c edited (link task alone) {link_task_alone(ours, tools):.2f}s"
        figures.append(dataclasses.replace(cold, limit=cold.limit + alone))
        figures.append(cold_memory(template, scale_dir, n, tools))
        figures.append(verify_all(ours, n, repeat, tools))
        figures += [dataclasses.replace(f, limit=f.limit + alone) for f in touch_rebuild(ours, n, repeat, tools)]
        return figures


def cargo_version(tools: Tools) -> str:
    return run(["cargo", "--version"], tools).stdout.strip()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--crates", type=int, default=40, metavar="N", help="crates in the workspace (default 40)")
    parser.add_argument("--also", type=int, metavar="N", help="repeat everything at this size too, e.g. 200")
    parser.add_argument("--repeat", type=int, default=5, metavar="K", help="runs per timed figure (default 5)")
    parser.add_argument("--workdir", type=Path, help="where the workspaces go (default: a new temporary directory)")
    parser.add_argument(
        "--cache", action="store_true", help="only the figure of a cold doit link with a warm sccache cache vs without"
    )
    args = parser.parse_args(argv)
    if args.crates < 1 or args.repeat < 1 or (args.also is not None and args.also < 1):
        parser.error("--crates, --also and --repeat must be positive")
    return args


def run_bench(args: argparse.Namespace, workdir: Path, tools: Tools) -> list[Figure]:
    sizes = [args.crates] + ([args.also] if args.also else [])
    check_disk(workdir, max(sizes))  # before anything runs, not halfway through the second size
    figures: list[Figure] = []
    for n in sizes:
        figures += cache_scale(workdir, n, tools) if args.cache else bench_scale(workdir, n, args.repeat, tools)
    if not args.cache:
        figures.append(real_cold(workdir, args.repeat, tools))
    return figures


def cache_scale(workdir: Path, n: int, tools: Tools) -> list[Figure]:
    """The compile cache's figure at N crates."""
    with scale_template(workdir, n, tools) as (scale_dir, template):
        return [warm_cache_link(template, scale_dir, n, tools)]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    owned = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="bench-build-")) if owned else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        tools = find_tools(workdir)
        version = cargo_version(tools)
        figures = run_bench(args, workdir, tools)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)
    wall = time.perf_counter() - STARTED
    print(text_table(figures))
    for line in scaling_lines(figures):
        print(line)
    command = shlex.join(["python", "bench/bench_build.py", *(argv if argv is not None else sys.argv[1:])])
    write = write_cache_results if args.cache else write_results
    lines = write(RESULTS, figures, cargo_version=version, command=command, wall_seconds=wall)
    block = "speed: compile cache" if args.cache else "speed"
    written = [RESULTS] + [README] * write_readme(README, block, lines)
    print(f"bench wall time {wall:.0f}s; written {', '.join(str(p.relative_to(ROOT)) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
