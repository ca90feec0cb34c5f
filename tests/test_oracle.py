"""The judge of freshness: after each change, `doit link`, then ask cargo whether anything was left.

For each fixture workspace (the std-only one and the one of registry crates,
F11) one project is built cold, then changed step by step. After each change
`doit link` runs, then every build record's own cargo command runs again with
the record's environment and ``--message-format=json``: a unit cargo does not
find fresh is stale (buildlib's fast path skipped work cargo had to do).
A build task that ran while cargo found every unit fresh is wasted work. Each
step also checks that a second `doit link` runs nothing, calls no cargo and no
cc. The table of steps is printed at the end (``pytest -s``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from buildlib.build import cargo_environment
from buildlib.config import load_config
from buildlib.project import plan_project

from .conftest import ORACLE_ROWS, Project, copy_project, copy_real_project, executed

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    id: str
    change: Callable[[Project], None]
    # None: not asserted; True/False: a build task must (not) run
    builds: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    workspace: str
    step: str
    built: tuple[str, ...]
    stale: tuple[str, ...]
    wasted: tuple[str, ...]


def _record(config: pytest.Config, outcome: Outcome) -> None:
    """Add a row to the table printed at the end of the run (conftest's terminal summary)."""
    rows = config.stash.setdefault(ORACLE_ROWS, [])
    if not rows:
        rows += [
            "| workspace | change | build tasks run | stale units | wasted build tasks |",
            "| --- | --- | --- | --- | --- |",
        ]
    wasted = f"{len(outcome.wasted)} ({', '.join(outcome.wasted)})" if outcome.wasted else "0"
    stale = f"{len(outcome.stale)} ({', '.join(outcome.stale)})" if outcome.stale else "0"
    rows.append(f"| {outcome.workspace} | {outcome.step} | {len(outcome.built)} | {stale} | {wasted} |")


def cargo_oracle(project: Project) -> tuple[list[str], dict[str, int]]:
    """Run each current build record's cargo command again; the units cargo did not find fresh, and
    how many units each build task's last cargo call compiled."""
    plan = plan_project(load_config(project.root / "pyproject.toml"), project.env)
    stale: list[str] = []
    compiled: dict[str, int] = {}
    for unit in plan.units:
        record = json.loads(unit.staticlibs[0].record.read_text())
        compiled[unit.name] = record["units_compiled"]
        assert all(json.loads(s.record.read_text())["native_static_libs"] for s in unit.staticlibs)
        result = subprocess.run(
            record["command"],
            cwd=record["cwd"],
            env=cargo_environment(record["env"], project.env),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        for line in result.stdout.splitlines():
            message = json.loads(line) if line.startswith("{") else {}
            if message.get("reason") == "compiler-artifact" and not message["fresh"]:
                target = message["target"]
                stale.append(f"{unit.name}: {target['name']} ({target['kind'][0]})")
    return stale, compiled


def _append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def _set_env(name: str, value: str | None) -> Callable[[Project], None]:
    def change(project: Project) -> None:
        if value is None:
            project.env.pop(name, None)
        else:
            project.env[name] = value

    return change


def _edit_crate(crate: str) -> Callable[[Project], None]:
    return lambda p: _append(p.workspace / crate / "src" / "lib.rs", "\n// edited\n")


def _readme(crate: str) -> Callable[[Project], None]:
    def change(project: Project) -> None:
        (project.workspace / crate / "README.md").write_text("# not compiled\n")

    return change


def _tests_file(crate: str) -> Callable[[Project], None]:
    def change(project: Project) -> None:
        tests = project.workspace / crate / "tests"
        tests.mkdir(exist_ok=True)
        (tests / "smoke.rs").write_text("#[test]\nfn smoke() {}\n")

    return change


def _manifest_edit(crate: str) -> Callable[[Project], None]:
    def change(project: Project) -> None:
        manifest = project.workspace / crate / "Cargo.toml"
        manifest.write_text(manifest.read_text().replace("[package]\n", '[package]\ndescription = "edited"\n', 1))

    return change


def _feature_on(crate: str) -> Callable[[Project], None]:
    def change(project: Project) -> None:
        manifest = project.workspace / crate / "Cargo.toml"
        _append(manifest, '\n[features]\ndefault = ["extra"]\nextra = []\n')
        _append(manifest.parent / "src" / "lib.rs", '\n#[cfg(feature = "extra")]\npub fn extra() -> u32 { 1 }\n')

    return change


def _new_path_dependency(crate: str) -> Callable[[Project], None]:
    def change(project: Project) -> None:
        helper = project.workspace / "helper"
        (helper / "src").mkdir(parents=True)
        (helper / "Cargo.toml").write_text('[package]\nname = "helper"\nversion = "0.1.0"\nedition = "2021"\n')
        (helper / "src" / "lib.rs").write_text("pub fn one() -> u32 { 1 }\n")
        root = project.workspace / "Cargo.toml"
        root.write_text(root.read_text().replace("members = [", 'members = ["helper", ', 1))
        manifest = project.workspace / crate / "Cargo.toml"
        text = manifest.read_text()
        if "[dependencies]" not in text:
            text += "\n[dependencies]\n"
        manifest.write_text(text.replace("[dependencies]\n", '[dependencies]\nhelper = { path = "../helper" }\n', 1))
        _append(manifest.parent / "src" / "lib.rs", "\npub fn helped() -> u32 { helper::one() }\n")

    return change


def _pin_toolchain(project: Project) -> None:
    (project.workspace / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "stable"\n')


def _config_opt_level(project: Project) -> None:
    config = project.workspace / ".cargo" / "config.toml"
    config.parent.mkdir(exist_ok=True)
    _append(config, "\n[profile.release]\nopt-level = 2\n")


def _patch_registry_crate(project: Project) -> None:
    """A [patch.crates-io] path crate below a registry crate: crc32fast, under flate2."""
    (source,) = Path("/usr/share/cargo/registry").glob("crc32fast-*")
    shutil.copytree(source, project.workspace / "patches" / "crc32fast")
    root = project.workspace / "Cargo.toml"
    text = root.read_text().replace("[workspace]\n", '[workspace]\nexclude = ["patches"]\n', 1)
    root.write_text(text + '\n[patch.crates-io]\ncrc32fast = { path = "patches/crc32fast" }\n')


def _edit_patch_crate(project: Project) -> None:
    _append(project.workspace / "patches" / "crc32fast" / "src" / "lib.rs", "\n// edited in the patch\n")


def _switch_to_bundle(project: Project) -> None:
    pyproject = project.root / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('method = "together"', 'method = "bundle"', 1))


def _copy_elsewhere(project: Project) -> None:
    """The project copied (mtimes kept, its build/ and target/ too), then one crate edited in the copy."""
    copy = project.root.parent / f"{project.root.name}-copy"
    shutil.copytree(project.root, copy, symlinks=True)
    project.root = copy
    _append(project.workspace / "ext-zlib" / "src" / "lib.rs", "\n// edited in the copy\n")


def _move_elsewhere(project: Project) -> None:
    moved = project.root.parent / "moved"
    project.root.rename(moved)
    project.root = moved
    _append(project.workspace / "ext-compress" / "src" / "lib.rs", "\n// edited after the move\n")


# Cheap steps first; each builds on the state the previous ones left.
FIXTURE_STEPS = [
    Step(id="nothing", change=lambda p: None, builds=False),
    Step(id="source edited", change=_edit_crate("ext-zlib"), builds=True),
    Step(id="README in a crate", change=_readme("ext-events"), builds=False),
    Step(id="file under tests/", change=_tests_file("ext-hash"), builds=False),
    Step(id="manifest edited", change=_manifest_edit("ext-events"), builds=True),
    Step(id="feature switched on", change=_feature_on("ext-net"), builds=True),
    Step(id="new path dependency", change=_new_path_dependency("ext-zlib"), builds=True),
    Step(id="path dependency edited", change=_edit_crate("helper"), builds=True),
    Step(id="toolchain pinned in rust-toolchain.toml", change=_pin_toolchain),
    Step(id="method switched to bundle", change=_switch_to_bundle, builds=True),
    Step(id="project copied, crate edited", change=_copy_elsewhere, builds=True),
    Step(id="profile.release opt-level in .cargo/config.toml", change=_config_opt_level, builds=True),
    Step(id="RUSTFLAGS set", change=_set_env("RUSTFLAGS", "-Cforce-frame-pointers=yes"), builds=True),
]
REAL_STEPS = [
    Step(id="nothing", change=lambda p: None, builds=False),
    Step(id="source edited", change=_edit_crate("ext-json"), builds=True),
    Step(id="README in a crate", change=_readme("ext-native"), builds=False),
    Step(id="file under tests/", change=_tests_file("ext-compress"), builds=False),
    Step(id="rerun-if-env-changed variable set", change=_set_env("EXT_NATIVE_SCALE", "5"), builds=True),
    Step(
        id="C source of the build script edited",
        change=lambda p: _append(p.workspace / "ext-native" / "native" / "scale.c", "\n/* edited */\n"),
        builds=True,
    ),
    Step(id="manifest edited", change=_manifest_edit("ext-timers"), builds=True),
    Step(id="[patch.crates-io] path crate added", change=_patch_registry_crate, builds=True),
    Step(id="[patch.crates-io] path crate edited", change=_edit_patch_crate, builds=True),
    Step(id="toolchain pinned in rust-toolchain.toml", change=_pin_toolchain),
    Step(id="project moved, crate edited", change=_move_elsewhere, builds=True),
    Step(id="profile.release opt-level in .cargo/config.toml", change=_config_opt_level, builds=True),
    Step(id="RUSTFLAGS set", change=_set_env("RUSTFLAGS", "-Cforce-frame-pointers=yes"), builds=True),
]


def _cold(project: Project) -> Project:
    cold = project.doit("link")
    assert cold.returncode == 0, cold.stdout + cold.stderr[-5000:]
    run = project.run_program()
    assert run.returncode == 0 and run.stdout.rstrip().endswith("all checks passed"), run.stdout + run.stderr
    return project


@pytest.fixture(scope="module")
def fixtures_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The std-only fixture workspace, built cold once; the steps change it in order."""
    return _cold(copy_project(tmp_path_factory.mktemp("fixtures")))


@pytest.fixture(scope="module")
def real_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The workspace of registry crates (tokio, flate2, serde, cc), built cold once."""
    return _cold(copy_real_project(tmp_path_factory.mktemp("registry")))


def _status(project: Project) -> dict[str, str | None]:
    """``buildlib status --json``: why the next `doit link` builds each crate again (None: it does not)."""
    result = project.python("-m", "buildlib", "status", "--json")
    assert result.returncode == 0, result.stderr
    return {row["crate"]: row["rebuild"] for row in json.loads(result.stdout)}


def _check_step(workspace: str, step: Step, project: Project, config: pytest.Config) -> None:
    step.change(project)
    predicted = _status(project)
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    built = tuple(sorted(name for name in executed(result) if name.startswith("build:")))
    run = project.run_program()
    assert run.returncode == 0 and run.stdout.rstrip().endswith("all checks passed"), run.stdout + run.stderr

    again = project.doit("link")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (executed(again), project.calls, project.links) == (set(), [], []), "the second run is a no-op"
    assert set(_status(project).values()) == {None}

    stale, compiled = cargo_oracle(project)
    wasted = tuple(name for name in built if compiled.get(name.removeprefix("build:")) == 0)
    _record(config, Outcome(workspace=workspace, step=step.id, built=built, stale=tuple(stale), wasted=wasted))
    assert stale == [], f"{step.id}: cargo still had units to build: {stale}"
    if step.builds is not None:
        assert bool(built) == step.builds, f"{step.id}: build tasks run: {built}"
    assert any(predicted.values()) == bool(built), f"status predicted {predicted}, build tasks run: {built}"


@pytest.mark.parametrize("step", FIXTURE_STEPS, ids=[s.id for s in FIXTURE_STEPS])
def test_fixture_workspace_cargo_finds_nothing_left_after(
    step: Step, fixtures_project: Project, pytestconfig: pytest.Config
) -> None:
    _check_step("fixtures", step, fixtures_project, pytestconfig)


def test_registry_exports_behind_cfg_are_not_expected(real_project: Project) -> None:
    """ext-json has exports behind a feature that is off, behind cfg(windows) and in cfg(test) code:
    the build's cfg set decides, so verify expects only the two it compiled."""
    report = json.loads((real_project.root / "build" / "verified" / "ext-json" / "report.json").read_text())
    assert [s["name"] for s in report["verify"]["symbols"]] == ["js_json_normalize", "js_json_service_port"]
    assert report["build"]["features"] == {"ext-json": []} and "unix" in report["build"]["cfg"]


@pytest.mark.parametrize("step", REAL_STEPS, ids=[s.id for s in REAL_STEPS])
def test_registry_workspace_cargo_finds_nothing_left_after(
    step: Step, real_project: Project, pytestconfig: pytest.Config
) -> None:
    _check_step("registry crates", step, real_project, pytestconfig)
