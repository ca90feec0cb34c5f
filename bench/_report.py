"""Figures of bench_build.py: ratios against baselines, the table, and bench/results.md."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

# A figure that grows this much faster than the crate count is reported as worse than linear;
# below it, the difference is within what these noisy machines show between two runs.
_SCALING_TOLERANCE = 1.15


@dataclass(frozen=True, kw_only=True, slots=True)
class Figure:
    """One measured figure: seconds against a baseline (a ratio goal), or a count with an exact goal."""

    name: str
    n: int
    ours: float
    baseline: float | None  # None: a count checked against the goal itself
    goal: float
    limit: str = ""  # what the measurement says limits it, for results.md
    unit: str = "s"  # of ours and baseline: "s" (seconds) or "MB"

    @property
    def ratio(self) -> float | None:
        return None if self.baseline is None else self.ours / self.baseline

    @property
    def met(self) -> bool:
        ratio = self.ratio
        return self.ours == self.goal if ratio is None else ratio <= self.goal

    def _shown(self, value: float) -> str:
        return f"{value:.3f}s" if self.unit == "s" else f"{value:.0f} {self.unit}"

    def cells(self) -> tuple[str, ...]:
        ratio = self.ratio
        if ratio is None:
            return (self.name, str(self.n), f"{self.ours:g}", "-", "-", f"= {self.goal:g}", _yes(self.met))
        assert self.baseline is not None
        return (
            self.name,
            str(self.n),
            self._shown(self.ours),
            self._shown(self.baseline),
            f"{ratio:.2f}",
            f"<= {self.goal:g}",
            _yes(self.met),
        )


HEADER = ("figure", "N", "ours", "baseline", "ratio", "goal", "met?")


def _yes(met: bool) -> str:
    return "yes" if met else "NO"


def median_alternating(actions: Sequence[Callable[[], float]], repeat: int) -> list[float]:
    """The median time of each action over ``repeat`` rounds, rotating which goes first.

    Rotation spreads any order effect (a warm cache, a CPU frequency step) over every action.
    """
    times: list[list[float]] = [[] for _ in actions]
    for round_ in range(repeat):
        for offset in range(len(actions)):
            index = (round_ + offset) % len(actions)
            times[index].append(actions[index]())
    return [statistics.median(t) for t in times]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def ordered(figures: Sequence[Figure]) -> list[Figure]:
    """Figures grouped by name in first-seen order, so one figure's N values sit side by side."""
    names = list(dict.fromkeys(f.name for f in figures))
    return sorted(figures, key=lambda f: (names.index(f.name), f.n))


def text_table(figures: Sequence[Figure]) -> str:
    rows = [HEADER, *(f.cells() for f in ordered(figures))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def markdown_table(figures: Sequence[Figure]) -> str:
    rows = [HEADER, tuple("---" for _ in HEADER), *(f.cells() for f in ordered(figures))]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def scaling_lines(figures: Sequence[Figure]) -> list[str]:
    """For each timed figure measured at two sizes: how ours and the baseline grew against the crate count."""
    lines = []
    by_name: dict[str, list[Figure]] = {}
    for figure in figures:
        if figure.baseline is not None:
            by_name.setdefault(figure.name, []).append(figure)
    for name, sized in by_name.items():
        if len(sized) < 2:
            continue
        small, large = min(sized, key=lambda f: f.n), max(sized, key=lambda f: f.n)
        assert small.baseline is not None and large.baseline is not None
        crates = large.n / small.n
        ours, theirs = large.ours / small.ours, large.baseline / small.baseline
        verdict = "WORSE THAN LINEAR" if ours > crates * _SCALING_TOLERANCE else "linear or better"
        lines.append(
            f"{name}: N x{crates:g} -> ours x{ours:.2f}, baseline x{theirs:.2f} ({verdict} in N"
            + ("; grows faster than its baseline" if ours > theirs * _SCALING_TOLERANCE else "")
            + ")"
        )
    return lines


def machine_lines(cargo_version: str) -> list[str]:
    return [
        f"- cores: {os.cpu_count()}",
        f"- Python {platform.python_version()} ({platform.machine()}, {platform.system()})",
        f"- {cargo_version}",
    ]


# A section that `bench_build.py --cache` writes and a full run keeps as it is.
CACHE_SECTION = "## Compile cache (sccache)"


def _run_lines(figures: Sequence[Figure], *, cargo_version: str, command: str, wall_seconds: float) -> list[str]:
    return [
        f"Run {datetime.now(timezone.utc).isoformat(timespec='seconds')} with `{command}` ({wall_seconds:.0f} s).",
        "",
        *machine_lines(cargo_version),
        "",
        markdown_table(figures),
        "",
    ]


def _limits(figures: Sequence[Figure]) -> list[str]:
    return [f"- {f.name} (N={f.n}): {f.limit or 'no breakdown measured'}" for f in ordered(figures)]


def _section(text: str, title: str) -> str:
    """The section ``title`` of a results file (up to the next section of the same level), or ""."""
    start = text.find(f"{title}\n")
    if start < 0:
        return ""
    end = text.find("\n## ", start + len(title))
    return text[start:] if end < 0 else text[start : end + 1]


def write_results(
    path: Path, figures: Sequence[Figure], *, cargo_version: str, command: str, wall_seconds: float
) -> list[str]:
    """bench/results.md: when, where, the table, and one line per unmet goal with what limits it.
    The compile cache's section, written by its own run, is kept. Returns the lines for the README."""
    unmet = [f for f in ordered(figures) if not f.met]
    run = _run_lines(figures, cargo_version=cargo_version, command=command, wall_seconds=wall_seconds)
    lines = ["# bench_build results", "", *run]
    scaling = scaling_lines(figures)
    if scaling:
        lines += ["## Scaling", "", *(f"- {line}" for line in scaling), ""]
    lines += ["## Unmet goals", ""]
    lines += _limits(unmet) or ["- none"]
    kept = _section(path.read_text(), CACHE_SECTION) if path.exists() else ""
    path.write_text("\n".join(lines) + "\n" + (f"\n{kept.rstrip()}\n" if kept else ""))
    return [*run, "Where the time went, for each goal not met:", "", *(_limits(unmet) or ["- every goal met"])]


def write_cache_results(
    path: Path, figures: Sequence[Figure], *, cargo_version: str, command: str, wall_seconds: float
) -> list[str]:
    """The compile cache's section of bench/results.md, replaced or added; the rest stays as it is.
    Returns the lines for the README."""
    lines = [
        CACHE_SECTION,
        "",
        *_run_lines(figures, cargo_version=cargo_version, command=command, wall_seconds=wall_seconds),
    ]
    lines += ["Where the time went:", "", *_limits(figures)]
    text = path.read_text() if path.exists() else "# bench_build results\n"
    old = _section(text, CACHE_SECTION)
    section = "\n".join(lines) + "\n"
    path.write_text(text.replace(old, section) if old else f"{text.rstrip()}\n\n{section}")
    return lines[2:]


def write_readme(readme: Path, block: str, lines: Sequence[str]) -> bool:
    """Replace the README's generated block ``block`` (between its begin and end comments) with
    ``lines``; False when the README has no such block."""
    begin, end = f"<!-- {block}: begin, written by bench/bench_build.py -->", f"<!-- {block}: end -->"
    text = readme.read_text()
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        return False
    readme.write_text(text[: start + len(begin)] + "\n" + "\n".join(lines).rstrip() + "\n" + text[stop:])
    return True
