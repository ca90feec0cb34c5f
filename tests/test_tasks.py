"""The doit layer: task dicts from a plan, and the Project API an outer dodo file uses."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from buildlib import ConfigError, Project, tasks
from buildlib._packaging import PTH_LINE, PTH_NAME
from buildlib._toml import tomllib

from .conftest import PROJECT


def table(tmp_path: Path) -> dict[str, Any]:
    """The repository's own [tool.buildlib] table as a dict, with outputs in tmp_path."""
    data: dict[str, Any] = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["buildlib"]
    data["out-dir"] = str(tmp_path / "out")
    return data


def test_a_first_build_runs_tasks_side_by_side_and_a_rebuild_one_after_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project.load(table(tmp_path), root=PROJECT)
    monkeypatch.setattr(tasks, "usable_cores", lambda: 4)
    assert project.doit_config()["num_process"] == 4  # nothing built yet
    for unit in project.plan.units[:-1]:
        unit.inputs.parent.mkdir(parents=True, exist_ok=True)
        unit.inputs.write_text("{}")
    assert project.doit_config()["num_process"] == 4  # one class never built: a first build still
    project.plan.units[-1].inputs.parent.mkdir(parents=True, exist_ok=True)
    project.plan.units[-1].inputs.write_text("{}")
    assert project.doit_config()["num_process"] == 0
    project.plan.units[0].inputs.unlink()
    monkeypatch.setattr(multiprocessing, "get_start_method", lambda allow_none=False: "spawn")
    assert project.doit_config()["num_process"] == 0  # workers not forked would be sent the tasks pickled
    monkeypatch.undo()
    monkeypatch.setattr(tasks, "usable_cores", lambda: 1)
    assert project.doit_config()["num_process"] == 0  # one core: serial


def test_project_from_a_dict_yields_prefixed_tasks(tmp_path: Path) -> None:
    project = Project.load(table(tmp_path), root=PROJECT, prefix="rt")
    tasks = list(project.create_doit_tasks())
    names = {f"{t['basename']}:{t['name']}" if t.get("name") else t["basename"] for t in tasks}
    assert {
        "rt.build:routed",
        "rt.build:ext-hash",
        "rt.build:together",
        "rt.verify:ext-net",
        "rt.link",
        "rt.exec",
    } <= names
    assert project.task("link") == "rt.link"
    assert project.crates == ["ext-zlib", "ext-events", "ext-net", "ext-timers", "ext-hash"]
    assert project.program == tmp_path / "out" / "bin" / "host"
    assert project.verified_archive("ext-zlib") == tmp_path / "out" / "verified" / "ext-zlib" / "libext_zlib.a"
    exec_task = next(t for t in tasks if t["basename"] == "rt.exec")
    assert exec_task["task_dep"] == ["rt.link"]
    assert project.doit_config()["default_tasks"] == ["rt.link"]
    link = next(t for t in tasks if t["basename"] == "rt.link")
    assert sorted(link["file_dep"]) == sorted(
        [
            str(PROJECT / "crates-fixtures" / "host" / "main.c"),
            *(str(tmp_path / "out" / "verified" / c / "report.json") for c in project.crates),
        ]
    ), "the link depends on the store reports and the host sources, nothing else"


def test_unknown_crate_is_a_config_error(tmp_path: Path) -> None:
    project = Project.load(table(tmp_path), root=PROJECT)
    with pytest.raises(ConfigError, match="no ext crate 'ext-zlb'"):
        project.verified_archive("ext-zlb")


def test_for_dodo_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = table(tmp_path)
    data["classes"]["routed"]["lto"] = "thn"
    with pytest.raises(SystemExit) as caught:
        Project.for_dodo(data, root=PROJECT, argv=["doit", "list"])
    assert caught.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("tool.buildlib.classes.routed.lto: expected one of off, thin, fat, got 'thn'")
    assert err[1] == "hint: did you mean 'thin'?"


@pytest.mark.parametrize("how", ["doit", "python -m doit"])
def test_a_toml_syntax_error_seen_by_doit_itself_is_one_line(tmp_path: Path, how: str) -> None:
    # doit parses [tool.doit] of pyproject.toml before it loads any dodo file.
    (tmp_path / "pyproject.toml").write_text('[tool.buildlib]\nworkspace = "ws"\nout-dir = \n')
    (tmp_path / "dodo.py").write_text((PROJECT / "dodo.py").read_text())
    doit = [str(Path(sys.executable).with_name("doit"))] if how == "doit" else [sys.executable, "-m", "doit"]
    result = subprocess.run([*doit, "list"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'pyproject.toml'}: file: not valid TOML: Invalid value (at line 3, column 11)",
        "hint: fix the TOML syntax at that line and column",
    ]


def test_the_start_up_hook_is_installed_and_leaves_other_errors_alone(tmp_path: Path) -> None:
    pth = Path(sysconfig.get_paths()["purelib"], PTH_NAME)
    assert pth.read_text() == PTH_LINE, "pip install -e . puts the hook's .pth into site-packages"
    # A TOML error raised outside doit's config loader is not ours to reword: a traceback.
    script = "import sys, tomllib; sys.argv[0] = 'doit'; tomllib.loads('x = ')"
    result = subprocess.run(
        [sys.executable, "-c", f"import buildlib._doit_hook as h; h.install(); {script}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "error:" not in result.stderr


REPORTER_DODO = """
from doit.exceptions import TaskFailed
from buildlib.progress import Reporter

DOIT_CONFIG = {"reporter": Reporter, "default_tasks": ["last"], "dep_file": "db", "backend": "sqlite3"}

def keep_back():
    print("detail kept back")
    return TaskFailed("second: broke\\nhint: fix it")

def task_first():
    return {"actions": [lambda: True], "uptodate": [True], "meta": {"progress": "thin LTO"}}

def task_second():
    return {"actions": [keep_back], "task_dep": ["first"]}

def task_last():
    return {"actions": [lambda: True], "task_dep": ["second"]}
"""


def test_the_reporter_counts_tasks_and_says_each_failure_once(tmp_path: Path) -> None:
    (tmp_path / "dodo.py").write_text(REPORTER_DODO)
    result = subprocess.run([sys.executable, "-m", "doit"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert out[0] == "[2/3] second…", "the up-to-date first task counts, silently"
    assert out[1:3] == ["--- what second printed (shown as it runs with doit -v 2):", "detail kept back"]
    assert out[3].startswith("0 ran, 1 up to date, 1 failed in ")
    assert result.stderr.splitlines() == ["error: second: broke", "hint: fix it"]
    assert "TaskFailed" not in result.stdout + result.stderr and "####" not in result.stdout
    (tmp_path / "dodo.py").write_text(REPORTER_DODO.replace('return TaskFailed("second: broke\\nhint: fix it")', ""))
    result = subprocess.run(
        [sys.executable, "-m", "doit", "-v", "2"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[:3] == ["[2/3] second…", "detail kept back", "[3/3] last…"]
