"""The compile cache for real: sccache, Redis (Debian's redis-server, started here on a free
loopback port) and cargo on the fixture workspaces.

"A fresh CI machine": the project is cloned with git and built with `doit -n 2 link`; then the
clone, its target/ and out dirs, its sccache server (each machine starts its own, on a free port)
and the local sccache state are deleted, the project is cloned again at the same path and built
again. Every rustc unit of the ext crates (and their local and registry dependencies) must come
from the cache, the archives must be byte-identical, verified and linked, and the host program
must pass. buildlib must use the machine's server and start none of its own.
"""

from __future__ import annotations

import filecmp
import json
import os
import selectors
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ._sccache import Server, free_port, sccache_processes, without_sccache_settings
from .conftest import PROJECT, Project, copy_project, copy_real_project, executed

pytestmark = pytest.mark.integration

_READY_SECONDS = 30.0


def need(tool: str) -> str:
    """A tool the cache tests cannot do without: missing, the test fails (never skips)."""
    path = shutil.which(tool)
    assert path is not None, f"{tool} is not installed: bash .ci/install-system-packages installs it"
    return path


@dataclass(frozen=True)
class Redis:
    port: int

    @property
    def endpoint(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        command = [need("redis-cli"), "-p", str(self.port), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()

    def keys(self, prefix: str) -> int:
        return len(self.cli("--scan", "--pattern", f"{prefix}*").splitlines())


def _wait_ready(process: subprocess.Popen[bytes]) -> bool:
    """Read redis-server's log until it says it accepts connections, it exits, or 30 s pass."""
    assert process.stdout is not None
    deadline, said = time.monotonic() + _READY_SECONDS, b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0 and selector.select(left):
            chunk = os.read(process.stdout.fileno(), 65536)  # unbuffered: select sees what is left
            if not chunk:
                return False  # it exited
            said += chunk
            if b"Ready to accept connections" in said:
                return True
    return False


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], Redis]:
    """A redis-server of the tests' own: loopback only, its own directory, nothing saved."""
    for _ in range(3):
        port = free_port()
        options = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", ""]
        options += ["--appendonly", "no", "--daemonize", "no", "--logfile", ""]
        process = subprocess.Popen(
            [need("redis-server"), *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        if _wait_ready(process) and Redis(port).cli("ping") == "PONG":
            return process, Redis(port)
        stop_redis(process)  # most likely the port was taken in between: another one
    pytest.fail("redis-server did not start on a free port of 127.0.0.1 in 3 tries")


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(30)
    assert process.stdout is not None
    process.stdout.close()


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    """One redis-server of this test session."""
    process, server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        stop_redis(process)


@dataclass
class Build:
    records: dict[str, dict[str, Any]]  # staticlib name -> its build record
    archives: dict[str, Path]  # staticlib name -> a copy of the archive it built


def cached_source(project: Project) -> Project:
    """``project`` as a git repository whose configuration turns the cache on, and its environment
    without the developer's own sccache settings."""
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("[tool.buildlib]\n", '[tool.buildlib]\ncache = "sccache"\n', 1))
    git = need("git")
    for command in (
        ["init", "-q"],
        ["add", "-A", "--", ".", ":!shim-bin", ":!*.log", ":!build", ":!target"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "fixture"],
    ):
        subprocess.run([git, *command], cwd=project.root, check=True, capture_output=True)
    project.env = without_sccache_settings(project.env)
    return project


def build_clone(source: Project, checkout: Path, settings: dict[str, str], keep: Path) -> Build:
    """Clone ``source`` at ``checkout``, start an sccache server of this machine's own with the
    cache ``settings``, `doit -n 2 link`, stop the server; check that the build linked a program
    that passes and started no other server. The archives are copied to ``keep``."""
    marker = f"BUILDLIB_TEST_RUN={uuid.uuid4().hex}"
    subprocess.run([need("git"), "clone", "-q", str(source.root), str(checkout)], check=True, capture_output=True)
    settings = {**source.env, **settings, "BUILDLIB_TEST_RUN": marker.partition("=")[2]}
    with Server(settings, keep.with_suffix(".log")) as server:
        project = Project(
            root=checkout, env=server.env, log=source.log, cc_log=source.cc_log, workspace_dir=source.workspace_dir
        )
        result = project.doit("-n", "2", "link")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "link" in executed(result)
        assert server.process is not None and sccache_processes(marker) == [server.process.pid]
    assert sccache_processes(marker) == [], "an sccache server outlived the test's"
    run = project.run_program()
    assert run.returncode == 0 and run.stdout.rstrip().endswith("all checks passed"), run.stdout
    records, archives = {}, {}
    for record_path in sorted((checkout / "build" / "archives").glob("*/*.build.json")):
        record = json.loads(record_path.read_text())
        records[record["name"]] = record
        archives[record["name"]] = keep / Path(record["artifact"]).name
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(record["artifact"]), archives[record["name"]])
        report = json.loads((checkout / "build" / "verified" / record["name"] / "report.json").read_text())
        assert report["build"]["built_at"] == record["built_at"], f"{record['name']}: not this build's archive"
    return Build(records=records, archives=archives)


def fresh_machine_twice(tmp_path: Path, source: Project, env: dict[str, str], local_state: list[Path]) -> None:
    """Build in a clone, delete the clone (target/ and build/ with it) and ``local_state``, clone
    again at the same path, build again: every unit a hit, the same archives."""
    checkout = tmp_path / "ci" / "checkout"
    first = build_clone(source, checkout, env, tmp_path / "first")
    assert all(r["cache"]["tool"] == "sccache" and r["cache"]["misses"] > 0 for r in first.records.values())
    shutil.rmtree(checkout)
    for path in local_state:
        shutil.rmtree(path)
    second = build_clone(source, checkout, env, tmp_path / "second")
    assert set(second.records) == set(first.records)
    for name, record in second.records.items():
        cache = record["cache"]
        assert (cache["hits"], cache["misses"], cache["errors"]) == (first.records[name]["cache"]["misses"], 0, 0), (
            f"{name}: {cache}"
        )
        # Every unit cargo compiled came from the cache, but build scripts and proc-macros (not cacheable).
        # The hits also count C files a cc-rs build script compiled through sccache (cc-rs takes an
        # sccache RUSTC_WRAPPER as its C compiler's wrapper too): ext-native's scale.c is one.
        assert record["units_compiled"] <= cache["hits"] + cache["not_cached"].get("crate-type", 0), record
        assert filecmp.cmp(first.archives[name], second.archives[name], shallow=False), f"{name}: archives differ"
        assert record["native_static_libs"] == first.records[name]["native_static_libs"]


def test_a_fresh_ci_machine_gets_every_unit_from_redis(tmp_path: Path, redis: Redis) -> None:
    (tmp_path / "source").mkdir()
    source = cached_source(copy_project(tmp_path / "source"))
    prefix = f"buildlib-test-{uuid.uuid4().hex[:8]}/"
    local = tmp_path / "sccache-local"  # a Redis cache keeps nothing here; deleted all the same
    env = {"SCCACHE_REDIS_ENDPOINT": redis.endpoint, "SCCACHE_REDIS_KEY_PREFIX": prefix, "SCCACHE_DIR": str(local)}
    local.mkdir()
    fresh_machine_twice(tmp_path, source, env, [local])
    assert redis.keys(prefix) >= 6  # the cached units are in Redis: runtime and five ext crates at least


def test_a_fresh_checkout_gets_every_unit_from_a_local_disk_cache(tmp_path: Path) -> None:
    (tmp_path / "source").mkdir()
    source = cached_source(copy_project(tmp_path / "source"))
    disk = tmp_path / "sccache-disk"
    fresh_machine_twice(tmp_path, source, {"SCCACHE_DIR": str(disk)}, [])
    assert any(path.is_file() for path in disk.rglob("*"))


def test_a_two_level_chain_refills_from_redis_after_the_disk_level_is_gone(tmp_path: Path, redis: Redis) -> None:
    (tmp_path / "source").mkdir()
    source = cached_source(copy_project(tmp_path / "source"))
    disk = tmp_path / "sccache-disk"
    prefix = f"buildlib-test-{uuid.uuid4().hex[:8]}/"
    env = {
        "SCCACHE_MULTILEVEL_CHAIN": "disk,redis",
        "SCCACHE_DIR": str(disk),
        "SCCACHE_REDIS_ENDPOINT": redis.endpoint,
        "SCCACHE_REDIS_KEY_PREFIX": prefix,
    }
    fresh_machine_twice(tmp_path, source, env, [disk])
    assert redis.keys(prefix) >= 6


@pytest.mark.slow
def test_the_registry_workspace_on_a_fresh_ci_machine_gets_every_unit_from_redis(tmp_path: Path, redis: Redis) -> None:
    """tokio, flate2, serde and the C code ext-native's build script compiles: registry units are
    hits too; build scripts and proc-macros are compiled again (sccache caches neither)."""
    source = cached_source(copy_real_project(tmp_path / "source"))
    prefix = f"buildlib-test-{uuid.uuid4().hex[:8]}/"
    local = tmp_path / "sccache-local"
    local.mkdir()
    env = {"SCCACHE_REDIS_ENDPOINT": redis.endpoint, "SCCACHE_REDIS_KEY_PREFIX": prefix, "SCCACHE_DIR": str(local)}
    fresh_machine_twice(tmp_path, source, env, [local])


# native-static-libs: rustc's own --print (no cache) against the probe and the build scripts (cache).

_SCRATCH = {
    "Cargo.toml": '[workspace]\nresolver = "2"\nmembers = ["dep", "top", "pair-a", "pair-b"]\n',
    "dep/Cargo.toml": '[package]\nname = "dep"\nversion = "0.1.0"\nedition = "2021"\n',
    "dep/build.rs": 'fn main() {\n    println!("cargo:rustc-link-lib=dylib=z");\n'
    '    println!("cargo:rustc-link-lib=static:-bundle=unbundled");\n}\n',
    "dep/src/lib.rs": "pub fn d() -> u32 { 1 }\n",
    "main.c": "int main(void) { return 0; }\n",  # never linked here: the test builds only
    "pyproject.toml": '[tool.buildlib]\nworkspace = "."\n[tool.buildlib.classes.routed]\nlto = "off"\n'
    'crates = ["top"]\n[tool.buildlib.classes.pair]\nlto = "off"\nmethod = "together"\n'
    'crates = ["pair-a", "pair-b"]\n[tool.buildlib.host]\nsources = ["main.c"]\nprogram = "p"\n',
}
for _crate, _lib in (("top", "bz2"), ("pair-a", "dylib=lzma"), ("pair-b", "dylib:+verbatim=libvv.so.1")):
    _SCRATCH[f"{_crate}/Cargo.toml"] = (
        f'[package]\nname = "{_crate}"\nversion = "0.1.0"\nedition = "2021"\n'
        '[lib]\ncrate-type = ["staticlib", "rlib"]\n[dependencies]\ndep = { path = "../dep" }\n'
    )
    _SCRATCH[f"{_crate}/build.rs"] = f'fn main() {{ println!("cargo:rustc-link-lib={_lib}"); }}\n'
    _SCRATCH[f"{_crate}/src/lib.rs"] = (
        f'#[no_mangle]\npub extern "C" fn js_{_crate.replace("-", "_")}() -> u32 {{ dep::d() }}\n'
    )


def scratch_project(root: Path) -> Project:
    """A workspace whose build scripts ask for system libraries: a dependency's, each crate's own."""
    for name, text in _SCRATCH.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    shutil.copy2(PROJECT / "dodo.py", root / "dodo.py")
    project = copy_project(root)  # the logging shims and environment; the files are replaced below
    shutil.rmtree(root / "crates-fixtures")
    for name in ("pyproject.toml", "dodo.py"):
        (root / name).write_text(_SCRATCH.get(name, (PROJECT / name).read_text()))
    project.workspace_dir = "."
    return project


def native_libs(project: Project, *, cache: bool, settings: dict[str, str]) -> dict[str, list[str]]:
    if cache:
        pyproject = project.root / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace("[tool.buildlib]\n", '[tool.buildlib]\ncache = "sccache"\n'))
    with Server({**without_sccache_settings(project.env), **settings}, project.root / "sccache.log") as server:
        project.env = server.env
        result = project.doit("-n", "2", "build")
    assert result.returncode == 0, result.stdout + result.stderr
    records = [json.loads(path.read_text()) for path in (project.root / "build" / "archives").glob("*/*.build.json")]
    assert {r["native_static_libs_source"] for r in records} == {"probe" if cache else "rustc"}
    return {r["name"]: r["native_static_libs"] for r in records}


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(copy_project, id="fixtures"),
        pytest.param(copy_real_project, id="registry-fixtures", marks=pytest.mark.slow),
        pytest.param(scratch_project, id="build-script-libraries"),
    ],
)
def test_native_static_libs_with_the_cache_equal_what_rustc_prints(
    tmp_path: Path, make: Callable[[Path], Project]
) -> None:
    """Measured on both fixture workspaces (ext-native's build script compiles C code, which rustc
    bundles into the archive) and on one whose build scripts link system libraries."""
    found = {}
    for cache in (False, True):
        root = tmp_path / ("cached" if cache else "printed")
        root.mkdir()
        found[cache] = native_libs(make(root), cache=cache, settings={"SCCACHE_DIR": str(tmp_path / "sccache")})
    assert found[True] == found[False]
    assert len(found[True]) == (3 if make is scratch_project else 5)
    if make is scratch_project:  # the dependency's, std's, then the crate's own, as rustc orders them
        std = found[False]["top"][2:-1]
        assert found[False]["top"] == ["-lz", "-lunbundled", *std, "-lbz2"]
        assert found[False]["pair-a"] == ["-lz", "-lunbundled", *std, "-llzma"]
        assert found[False]["pair-b"] == ["-lz", "-lunbundled", *std, "-l:libvv.so.1"]


@pytest.mark.slow  # sccache waits on the gone Redis for each compile: about a minute
def test_redis_going_away_mid_project_still_builds_right_and_the_record_says_so(tmp_path: Path) -> None:
    """sccache falls back to compiling when its Redis is gone: the build must still be right, and
    the record and the build line must say the cache failed (never a silent switch to no cache)."""
    (tmp_path / "source").mkdir()
    project = cached_source(copy_project(tmp_path / "source"))
    (tmp_path / "redis").mkdir()
    process, redis = start_redis(tmp_path / "redis")
    env = {**project.env, "SCCACHE_REDIS_ENDPOINT": redis.endpoint, "SCCACHE_DIR": str(tmp_path / "local")}
    try:
        with Server(env, tmp_path / "sccache.log") as server:
            project.env = server.env
            first = project.doit("link")
            assert first.returncode == 0, first.stdout + first.stderr
            stop_redis(process)  # Redis goes away between two builds of one working session
            source = project.workspace / "ext-zlib" / "src" / "lib.rs"
            source.write_text(source.read_text() + "\n// edited while Redis is gone\n")
            second = project.doit("link")
    finally:
        if process.poll() is None:
            stop_redis(process)
    output = second.stdout + second.stderr
    assert second.returncode == 0, output
    assert executed(second) >= {"build:routed", "verify:ext-zlib", "link"}
    run = project.run_program()
    assert run.returncode == 0 and run.stdout.rstrip().endswith("all checks passed"), run.stdout
    record = json.loads((project.root / "build" / "archives" / "routed" / "ext-zlib.build.json").read_text())
    assert record["cache"]["tool"] == "sccache" and record["cache"]["hits"] == 0, record["cache"]
    assert record["cache"]["errors"] > 0, record["cache"]
    assert "cache error" in output
    assert "Traceback" not in output
