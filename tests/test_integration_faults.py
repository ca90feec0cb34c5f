"""The bad day: concurrent runs, a corrupt database, a crate that does not compile, a missing or
old toolchain, and kill -9 at random moments. One project copy; tests run in file order."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from buildlib.progress import started_tasks

from .conftest import Project, copy_project, executed

pytestmark = pytest.mark.integration

SOURCES = [
    "ext-zlib/src/codec.rs",
    "ext-events/src/lib.rs",
    "ext-hash/src/lib.rs",
    "ext-net/src/lib.rs",
    "runtime/src/lib.rs",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = copy_project(tmp_path_factory.mktemp("faults"))
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    return project


def edit(project: Project, relative: str, note: str) -> None:
    with (project.root / "crates-fixtures" / relative).open("a") as source:
        source.write(f"\n// {note}\n")


def store_state(project: Project) -> dict[str, str]:
    """Each crate's verified archive hash, after checking every entry is whole."""
    state = {}
    for report_path in sorted((project.root / "build" / "verified").glob("*/report.json")):
        report = json.loads(report_path.read_text())  # a half-written report would not parse
        archive = report_path.parent / report["archive_file"]
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert digest == report["archive_sha256"], f"{archive} does not match its report"
        state[report["name"]] = digest
    return state


def start_doit(project: Project, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "doit", "link"],
            cwd=project.root,
            env=project.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_two_runs_at_once_are_serialized_and_both_succeed(project: Project) -> None:
    edit(project, "ext-zlib/src/codec.rs", "concurrent")
    logs = [project.root / "first.log", project.root / "second.log"]
    first = start_doit(project, logs[0])
    lock = project.root / "build" / ".buildlib" / "lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().strip() == str(first.pid)):  # the event: the first holds it
        assert first.poll() is None and time.monotonic() < deadline, logs[0].read_text()
        time.sleep(0.01)
    second = start_doit(project, logs[1])
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0
    output = logs[0].read_text() + logs[1].read_text()
    assert f"another build holds the lock: pid {first.pid}" in output
    assert project.run_program().returncode == 0
    assert executed(project.doit("link")) == set()


def test_a_corrupt_database_is_set_aside_and_everything_checked_again(project: Project) -> None:
    database = project.root / "build" / ".doit.db"
    before = store_state(project)
    database.write_bytes(os.urandom(4096))
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "doit's database" in result.stderr and "was unreadable; moved to .doit.db.corrupt-" in result.stderr
    assert "Traceback" not in result.stderr
    assert {"link", "verify:ext-zlib", "build:together"} <= executed(result)
    assert store_state(project).keys() == before.keys()
    assert executed(project.doit("link")) == set()


def test_a_crate_that_does_not_compile_keeps_every_last_good_archive(project: Project) -> None:
    source = project.root / "crates-fixtures" / "ext-zlib" / "src" / "codec.rs"
    good = source.read_text()
    before = store_state(project)
    other = project.root / "build" / "archives" / "together" / "libext_net.a"
    other_mtime = other.stat().st_mtime_ns
    source.write_text(good + '\npub fn broken() -> u32 { "not a number" }\n')
    result = project.doit("link")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "--- ext-zlib ---" in output and "error[E0308]: mismatched types" in output
    assert "build:routed: cargo failed with exit code 101; the previous archives are kept" in output
    assert "Traceback" not in output and "link" not in executed(result)
    assert store_state(project) == before and other.stat().st_mtime_ns == other_mtime

    source.write_text(good)
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.run_program().returncode == 0


def test_temporary_archives_a_killed_run_left_are_removed_by_the_next_build(project: Project) -> None:
    """A run killed while it copied an archive out of target/, or promoted one into the store,
    leaves a temporary archive (22 MB for a real crate); the next build and promotion remove it."""
    build = project.root / "build"
    left = [
        build / "archives" / "routed" / ".libext_zlib.a.k1ll3d.tmp",
        build / "archives" / "routed" / ".ext-zlib.build.json.k1ll3d.tmp",
        build / "verified" / "ext-zlib" / ".libext_zlib-0123456789abcdef.a.k1ll3d.tmp",
    ]
    for path in left:
        path.write_bytes(b"!<arch>\nhalf")
    kept = build / "archives" / "together" / ".libext_net.a.k1ll3d.tmp"  # a unit that does not run
    kept.write_bytes(b"")
    edit(project, "ext-zlib/src/codec.rs", "after a kill")
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"build:routed", "verify:ext-zlib"} <= executed(result)
    assert [path for path in left if path.exists()] == []
    assert kept.exists()
    kept.unlink()


def test_no_cargo_on_path_is_one_clear_error(project: Project) -> None:
    # A PATH of its own, with the C compiler and nothing else: a machine's /usr/bin may hold a cargo.
    tools = project.root / "no-cargo-bin"
    tools.mkdir(exist_ok=True)
    cc = shutil.which("cc")
    assert cc is not None
    (tools / "cc").symlink_to(cc)
    env = {**project.env, "PATH": str(tools)}
    result = project.python("-m", "doit", "link", env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "error: cargo: not found on PATH"
    assert "Traceback" not in result.stderr


def test_a_too_old_cargo_names_both_versions(project: Project) -> None:
    real = project.root / "shim-bin" / "cargo"
    old = project.root / "old-bin"
    old.mkdir(exist_ok=True)
    fake = old / "cargo"
    fake.write_text(
        f'#!/bin/sh\nif [ "$1" = "-vV" ]; then printf "cargo 1.60.0 (x)\\nrelease: 1.60.0\\n"; exit 0; fi\nexec "{real}" "$@"\n'
    )
    fake.chmod(0o755)
    env = {**project.env, "PATH": f"{old}{os.pathsep}{project.env['PATH']}"}
    result = project.python("-m", "doit", "link", env=env)
    assert result.returncode == 2
    assert "method 'staticlib' needs --config on the command line (cargo 1.63), this cargo is 1.60.0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("jobs", ["0", "2"], ids=["serial", "side-by-side"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_during_a_build_stops_cargo_and_keeps_the_store(
    project: Project, signum: signal.Signals, jobs: str
) -> None:
    """SIGINT or SIGTERM to doit alone (not its process group), whose build runs in doit's own
    process (-n 0) or in a worker process (-n 2, a first build's default): the cargo buildlib
    started is stopped."""
    real = project.root / "shim-bin" / "cargo"
    slow = project.root / "slow-bin"
    slow.mkdir(exist_ok=True)
    started = project.root / "slow-cargo.pid"
    started.unlink(missing_ok=True)
    # Builds hang (as a long compile would) after saying which pid to look for; the rest is real cargo.
    (slow / "cargo").write_text(
        f'#!/bin/sh\ncase "$1" in rustc|build) echo $$ > "{started}.tmp"; mv "{started}.tmp" "{started}"; '
        f'exec sleep 600;; esac\nexec "{real}" "$@"\n'
    )
    (slow / "cargo").chmod(0o755)
    edit(project, "ext-zlib/src/codec.rs", "interrupted")
    before = store_state(project)
    log = project.root / "interrupted.log"
    env = {**project.env, "PATH": f"{slow}{os.pathsep}{project.env['PATH']}"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "doit", "-n", jobs, "link"],
            cwd=project.root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while not started.exists():  # the event: the hanging cargo has started
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    cargo_pid = int(started.read_text())
    process.send_signal(signum)
    assert process.wait(timeout=60) != 0
    output = log.read_text()
    assert "Traceback" not in output, output
    said = "interrupted" if signum == signal.SIGINT else "terminated"
    assert f"{said}; every step that finished is kept" in output, output
    with pytest.raises(ProcessLookupError):
        os.kill(cargo_pid, 0)  # no cargo left running on its own
    assert store_state(project) == before

    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.run_program().returncode == 0


def test_kill_9_at_each_phase_loses_nothing(project: Project) -> None:
    """SIGKILL to the whole run at each phase in turn: as soon as the run has taken the project
    lock, or has started a build (cargo), a verify (reading and promoting into the store) or the
    link. The moment is an event the run shows, never a timer, so a slow machine kills as often."""
    rng = random.Random(int(os.environ.get("BUILDLIB_KILL_SEED", "20261123")))
    lock = project.root / "build" / ".buildlib" / "lock"
    kills, phases, runs = 0, [], 0
    while kills < 20 and runs < 60:
        phase = ["start", "build:", "verify:", "link"][runs % 4]
        runs += 1
        edit(project, rng.choice(SOURCES), f"kill loop {runs}")
        log = project.root / "killed.log"
        process = start_doit(project, log)
        while process.poll() is None:
            if phase == "start":
                seen = lock.exists() and lock.read_text().strip() == str(process.pid)
            else:
                seen = any(task.startswith(phase) for task in started_tasks(log.read_text()))
            if seen:
                os.killpg(process.pid, signal.SIGKILL)
                kills += 1
                phases.append(phase.rstrip(":"))
                break
            time.sleep(0.005)  # polling for the event; how long it takes does not matter
        process.wait(timeout=300)
        store_state(project)  # every entry whole after every kill
        if project.program.exists():
            assert project.run_program().returncode == 0, "the program is never half-written"
    print(f"\nkills: {kills} in {runs} runs; killed during: {sorted(set(phases))}")
    assert kills >= 20 and set(phases) == {"start", "build", "verify", "link"}

    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.run_program().returncode == 0
    assert executed(project.doit("link")) == set()
    # A kill while copying or promoting leaves a temporary archive; the next build or promotion
    # of that archive removes it, and every unit killed during its build ran again.
    left = [p for p in (project.root / "build").rglob(".*.tmp") if ".a." in p.name]
    assert left == [], left
