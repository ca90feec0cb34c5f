"""The plan cache: a run where nothing planning reads changed is served the tasks of the last
planning, the same tasks; a change to anything planning reads plans again."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import buildlib.project as project_module
from buildlib import Project, plancache
from buildlib.config import ProjectConfig

from .conftest import PROJECT, copy_project, executed

# A read-only doit command: for_dodo neither takes the project lock nor installs its signal handler.
READ_ONLY = ["doit", "list"]


def age(*paths: Path) -> None:
    """Date each path, and everything under a directory, a minute back: out of the racy window."""
    past = time.time_ns() - 60_000_000_000
    for top in paths:
        for directory, dirs, files in os.walk(top):
            for name in [*dirs, *files]:
                os.utime(Path(directory) / name, ns=(past, past), follow_symlinks=False)
        os.utime(top, ns=(past, past))


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's configuration and fixture workspace, dated a minute back; a
    directory of programs first on PATH; the check mode off (these tests look at the cache itself)."""
    monkeypatch.delenv(plancache.CHECK_VARIABLE, raising=False)
    shutil.copy2(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(PROJECT / "crates-fixtures", tmp_path / "crates-fixtures", ignore=shutil.ignore_patterns("target"))
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    age(tmp_path)
    return tmp_path


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The configuration file of each planning from now on."""
    calls: list[Path] = []
    real = project_module.plan_project

    def counting(config: ProjectConfig, environ: Any = os.environ) -> Any:
        calls.append(config.file)
        return real(config, environ)

    monkeypatch.setattr(project_module, "plan_project", counting)
    return calls


def load(root: Path) -> Project:
    return Project.for_dodo(root / "pyproject.toml", argv=READ_ONLY)


def cache_file(root: Path) -> Path:
    return root / "build" / ".buildlib" / "tasks.json"


def doit_view(project: Project) -> list[dict[str, Any]]:
    """The task dicts doit gets, each callable shown by what it does."""

    def shown(value: Any) -> Any:
        if isinstance(value, list):
            return [shown(item) for item in value]
        if isinstance(value, tuple):
            return tuple(shown(item) for item in value)
        if isinstance(value, dict):
            return {key: shown(item) for key, item in value.items()}
        for attribute in ("value", "config"):  # buildlib's checks, doit's config_changed
            if hasattr(value, attribute):
                return f"{type(value).__name__}({getattr(value, attribute)!r})"
        if callable(value):
            return getattr(value, "__name__", type(value).__name__)
        return value if isinstance(value, (str, int, float, type(None))) else repr(value)  # the link line

    return [shown(task) for task in project.create_doit_tasks()]


def test_a_second_load_is_served_the_same_tasks_without_planning(root: Path, plans: list[Path]) -> None:
    first = load(root)
    assert len(plans) == 1 and cache_file(root).is_file()
    second = load(root)
    assert len(plans) == 1, "nothing planning reads changed: no planning"
    assert doit_view(second) == doit_view(first)
    assert second.doit_config() == first.doit_config()
    assert second.plan == first.plan and len(plans) == 2, "the plan itself is made when asked for"


def _edit_pyproject(root: Path) -> None:
    with (root / "pyproject.toml").open("a") as handle:
        handle.write("\n# edited\n")


def _edit_manifest(root: Path) -> None:
    with (root / "crates-fixtures" / "ext-zlib" / "Cargo.toml").open("a") as handle:
        handle.write("\n")


def _add_crate_directory(root: Path) -> None:
    (root / "crates-fixtures" / "ext-new").mkdir()


def _add_cargo_config(root: Path) -> None:
    (root / "crates-fixtures" / ".cargo").mkdir()
    (root / "crates-fixtures" / ".cargo" / "config.toml").write_text("[build]\n")


def _add_program_on_path(root: Path) -> None:
    (root / "bin" / "cc").write_text("#!/bin/sh\n")


def _edit_host_source(root: Path) -> None:
    with (root / "crates-fixtures" / "host" / "main.c").open("a") as handle:
        handle.write("\n")


def _set_variable(root: Path) -> None:
    os.environ["BUILDLIB_TEST_PLANCACHE"] = "1"  # the test's monkeypatch set it first, and restores it


@pytest.mark.parametrize(
    "change",
    [
        _edit_pyproject,
        _edit_manifest,
        _add_crate_directory,
        _add_cargo_config,
        _add_program_on_path,
        _edit_host_source,
        _set_variable,
    ],
)
def test_a_change_to_what_planning_reads_plans_again(
    root: Path, plans: list[Path], monkeypatch: pytest.MonkeyPatch, change: Callable[[Path], None]
) -> None:
    monkeypatch.setenv("BUILDLIB_TEST_PLANCACHE", "0")
    load(root)
    change(root)
    load(root)
    assert len(plans) == 2


def test_a_workspace_symlink_pointed_elsewhere_plans_again(root: Path, plans: list[Path]) -> None:
    """The key holds the configuration as parsed, its paths resolved: the same bytes of
    pyproject.toml can name another workspace."""
    fixtures = root / "crates-fixtures"
    fixtures.rename(root / "ws-a")
    shutil.copytree(root / "ws-a", root / "ws-b", symlinks=True)
    fixtures.symlink_to("ws-a")
    age(root)
    first = load(root)
    (root / "next").symlink_to("ws-b")
    (root / "next").replace(fixtures)
    second = load(root)
    assert len(plans) == 2
    assert first.plan.workspace.root == root / "ws-a" and second.plan.workspace.root == root / "ws-b"


def test_a_member_reached_through_a_symlink_plans_again_when_its_manifest_changes(
    root: Path, plans: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """cargo names it; the search does not follow the link (it could lead anywhere)."""
    # Its files are known only after planning, by their change time, which dating back sets to now.
    monkeypatch.setattr(plancache, "RACY_NS", 0)
    member = root / "crates-fixtures" / "ext-zlib"
    (root / "elsewhere").mkdir()
    member.rename(root / "elsewhere" / "ext-zlib")
    member.symlink_to(root / "elsewhere" / "ext-zlib")
    age(root)
    load(root)
    load(root)
    assert len(plans) == 1
    _edit_manifest(root)
    load(root)
    assert len(plans) == 2


def test_a_shell_moving_around_is_still_served(root: Path, plans: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    load(root)
    monkeypatch.setenv("OLDPWD", str(root / "elsewhere"))
    monkeypatch.setenv("SHLVL", "7")
    load(root)
    assert len(plans) == 1


def test_a_file_changed_just_before_planning_is_not_kept(root: Path, plans: list[Path]) -> None:
    """It could change again within the same timestamp after planning read it (racily clean)."""
    _edit_manifest(root)
    load(root)
    assert not cache_file(root).exists()
    age(root / "crates-fixtures")
    load(root)
    load(root)
    assert cache_file(root).is_file() and len(plans) == 2


def _save_by_rename(source: Path) -> None:
    """Save ``source`` as many editors do: write a new file beside it, rename it over the old one."""
    temp = source.with_name(f".{source.name}.swp")
    temp.write_text(source.read_text() + "\n// saved\n")
    temp.replace(source)


def test_a_source_saved_by_renaming_a_new_file_over_it_is_served(root: Path, plans: list[Path]) -> None:
    """Its directory's times change, its names do not: planning reads only the names."""
    load(root)
    _save_by_rename(root / "crates-fixtures" / "ext-zlib" / "src" / "lib.rs")
    load(root)
    assert len(plans) == 1


def test_a_searched_directory_counts_by_what_it_holds(root: Path, plans: list[Path]) -> None:
    """A new entry, or a symbolic link pointed elsewhere, in a directory searched for manifests
    plans again; a file saved by rename does not."""
    source = root / "crates-fixtures" / "ext-zlib" / "src"
    for twin in ("a", "b"):  # two directories that hold the same: only the link's target tells them apart
        (root / twin).mkdir()
    (source / "vendor").symlink_to(root / "a")
    age(root)
    load(root)
    _save_by_rename(source / "lib.rs")
    load(root)
    assert len(plans) == 1
    (source / "next").symlink_to(root / "b")
    (source / "next").replace(source / "vendor")
    load(root)
    assert len(plans) == 2


def test_a_searched_directory_may_hold_a_name_that_is_not_utf_8(root: Path, plans: list[Path]) -> None:
    source = os.fsencode(root / "crates-fixtures" / "ext-zlib" / "src")
    os.mkdir(os.path.join(source, b"caf\xe9"))  # searched: its name is in what the cache keeps
    os.close(os.open(os.path.join(source, b"caf\xe9", b"caf\xe9.rs"), os.O_CREAT | os.O_WRONLY))
    age(root)
    load(root)
    load(root)
    assert len(plans) == 1


def test_only_a_directory_planning_lists_is_compared_by_its_entries(tmp_path: Path) -> None:
    """A directory planning runs programs from (rustup's toolchains) counts by its times: a
    toolchain replaced under the same name is another toolchain."""
    searched, toolchains, cache = tmp_path / "searched", tmp_path / "toolchains", tmp_path / "tasks.json"
    for directory in (searched, toolchains):
        (directory / "stable").mkdir(parents=True)
    age(tmp_path)
    kept = plancache.states([toolchains], [searched])
    assert plancache.store(cache, "key", kept, kept, started_ns=time.time_ns(), payload={"tasks": 1})

    def replace_entry(directory: Path) -> None:
        (directory / "new").mkdir()
        (directory / "stable").rename(directory / "old")
        (directory / "new").rename(directory / "stable")
        (directory / "old").rmdir()

    replace_entry(searched)
    assert plancache.load(cache, "key") == {"tasks": 1}
    replace_entry(toolchains)
    assert plancache.load(cache, "key") is None


def test_a_program_made_executable_on_path_plans_again(root: Path, plans: list[Path]) -> None:
    """shutil.which passes over a file it cannot run: made executable, it is found from then on,
    though the directory's names and times stay the same."""
    cc = root / "bin" / "cc"
    cc.write_text(f'#!/bin/sh\nexec {shutil.which("cc")} "$@"\n')
    age(root / "bin")
    load(root)
    load(root)
    assert len(plans) == 1
    cc.chmod(0o755)
    load(root)
    assert len(plans) == 2


def test_a_member_named_as_the_workspace_watches_its_workspace_by_change_time(root: Path, plans: list[Path]) -> None:
    """cargo's workspace root is known only after planning: no state from before to compare, so a
    change time in the racy window keeps nothing (dating a file back sets its change time to now)."""
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('workspace = "crates-fixtures"', 'workspace = "crates-fixtures/ext-zlib"')
    )
    age(root)
    project = load(root)
    assert project.plan.workspace.root == root / "crates-fixtures"
    assert not cache_file(root).exists()


def test_a_damaged_cache_plans_again(root: Path, plans: list[Path]) -> None:
    load(root)
    cache_file(root).write_text('{"format": 1, "key": ')
    load(root)
    assert len(plans) == 2
    json.loads(cache_file(root).read_text())  # written whole again


def test_the_check_mode_stops_a_run_the_cache_would_serve_other_tasks(
    root: Path, plans: list[Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    load(root)
    document = json.loads(cache_file(root).read_text())
    build = next(spec for spec in document["payload"]["specs"] if spec.get("step"))
    build["doc"] = "not what planning says"
    cache_file(root).write_text(json.dumps(document))
    served = load(root)
    assert len(plans) == 1 and "not what planning says" in str(doit_view(served)), "the cache is what served it"
    monkeypatch.setenv(plancache.CHECK_VARIABLE, "1")
    with pytest.raises(SystemExit) as stopped:
        load(root)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert f"error: {cache_file(root)}: the plan cache's tasks differ from a new plan's (task build:" in error
    assert "doc" in error and plancache.CHECK_VARIABLE in error


def test_a_doit_run_the_cache_serves_imports_no_planner(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    age(tmp_path)
    env = {name: value for name, value in project.env.items() if name != plancache.CHECK_VARIABLE}
    planned = project.python("-m", "doit", "list", "--all", env=env)
    assert planned.returncode == 0, planned.stderr
    served = project.python("-X", "importtime", "-m", "doit", "list", "--all", env=env)
    assert served.returncode == 0, served.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in served.stderr.splitlines() if line.startswith("import time:")
    }
    assert "buildlib.tasks" in imported
    assert not imported & {"buildlib.plan", "buildlib.workspace", "buildlib.toolchain", "buildlib.records"}
    assert served.stdout == planned.stdout and "verify:ext-zlib" in served.stdout


def test_a_run_the_cache_serves_builds_an_edit_and_a_first_build(tmp_path: Path) -> None:
    """With the check off: the tasks come from the cache, and the plan is made when a step runs (an
    edit), or before doit forks its workers (a first build)."""
    project = copy_project(tmp_path)
    age(tmp_path)
    env = {name: value for name, value in project.env.items() if name != plancache.CHECK_VARIABLE}
    cold = project.python("-m", "doit", "link", env=env)
    assert cold.returncode == 0, cold.stdout + cold.stderr
    past = time.time_ns() - 60_000_000_000  # the workspace directory gained cargo's target/: date it back
    os.utime(project.workspace, ns=(past, past))
    noop = project.python("-m", "doit", "link", env=env)
    assert noop.returncode == 0 and not executed(noop), noop.stdout + noop.stderr
    kept = cache_file(tmp_path).stat()

    with (project.workspace / "ext-zlib" / "src" / "codec.rs").open("a") as handle:
        handle.write("\n// edited\n")
    edit = project.python("-m", "doit", "link", env=env)
    assert edit.returncode == 0, edit.stdout + edit.stderr
    assert executed(edit) == {"build:routed", "verify:ext-zlib", "link"}

    shutil.rmtree(tmp_path / "build" / "archives")  # every build unit's inputs document: a first build
    first = project.python("-m", "doit", "link", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert {"build:routed", "build:ext-hash", "build:together", "link"} <= executed(first)
    assert project.run_program().returncode == 0
    now = cache_file(tmp_path).stat()
    assert (now.st_ino, now.st_mtime_ns) == (kept.st_ino, kept.st_mtime_ns), "each run was served"
