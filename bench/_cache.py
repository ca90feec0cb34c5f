"""bench_build.py --cache: a cold `doit link` with a warm compile cache vs a cold one without.

"Cold" is what a fresh CI machine sees: a new copy of the project, no target/, no build/. The
cached side first fills a local sccache disk cache from a copy at the very path it is timed at
(the checkout's path is part of sccache's key), deletes that copy, and times a new copy there;
the baseline is the same new copy built without the cache.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import _synth
from _report import Figure
from _synth import Layout
from _tools import BenchError, Tools, check_program, doit, fresh_copy, progress, step_breakdown, timed_run

GOAL = 0.35


def cached_copy(template: Layout, root: Path) -> Layout:
    """A fresh copy of ``template`` with the compile cache turned on."""
    copy = fresh_copy(template, root)
    (copy.root / "pyproject.toml").write_text(_synth.pyproject(cache=True))
    return copy


def cache_counts(layout: Layout) -> tuple[int, int, int]:
    """(records, hits, misses) summed over the copy's build records."""
    records = [json.loads(path.read_text()) for path in sorted(layout.build.glob("archives/*/*.build.json"))]
    caches = [record["cache"] for record in records if record.get("cache")]
    if len(caches) != len(records):
        raise BenchError(f"{layout.build}: {len(records) - len(caches)} build records without cache counts")
    return len(records), sum(c["hits"] for c in caches), sum(c["misses"] for c in caches)


def warm_cache_link(template: Layout, scale_dir: Path, n: int, tools: Tools) -> Figure:
    """The figure: cold doit link with a warm cache over cold doit link without one, goal <= 0.35."""
    cached_tools = dataclasses.replace(tools, env={**tools.env, "SCCACHE_DIR": str(scale_dir / "sccache")})
    path = scale_dir / "cached"
    progress(f"N={n}: filling the sccache cache (cold doit link, cache on, {n} cargo calls)")
    filled = cached_copy(template, path)
    _, fill_s = timed_run(doit("link"), cached_tools, filled.root)
    records, hits, misses = cache_counts(filled)
    if (records, misses) != (n, n):
        raise BenchError(f"filling the cache: {records} records with {misses} misses for {n} crates")
    shutil.rmtree(path)

    progress(f"N={n}: cold doit link without a cache, {fill_s:.1f}s to fill the cache")
    plain = fresh_copy(template, scale_dir / "plain")
    plain_out, plain_s = timed_run(doit("link"), tools, plain.root)
    check_program(plain.build / "bin" / "host", n, tools)
    shutil.rmtree(plain.root)

    progress(f"N={n}: cold doit link with the warm cache, {plain_s:.1f}s without")
    warm = cached_copy(template, path)
    warm_out, warm_s = timed_run(doit("link"), cached_tools, warm.root)
    check_program(warm.build / "bin" / "host", n, tools)
    records, hits, misses = cache_counts(warm)
    if (records, hits, misses) != (n, n, 0):
        raise BenchError(f"warm cache: {records} records, {hits} hits, {misses} misses for {n} crates")
    shutil.rmtree(warm.root)
    limit = (
        f"with the cache ({hits} hits, {misses} misses): {step_breakdown(warm_out, warm_s)}; "
        f"without: {step_breakdown(plain_out, plain_s)}; filling the cache took {fill_s:.2f}s"
    )
    return Figure(name="cold link, warm cache vs no cache", n=n, ours=warm_s, baseline=plain_s, goal=GOAL, limit=limit)
