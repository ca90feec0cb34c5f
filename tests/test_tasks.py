"""The doit layer: task dicts from a plan, and the Project API an outer dodo file uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from buildlib import ConfigError, Project
from buildlib._toml import tomllib

from .conftest import PROJECT


def table(tmp_path: Path) -> dict[str, Any]:
    """The repository's own [tool.buildlib] table as a dict, with outputs in tmp_path."""
    data: dict[str, Any] = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["buildlib"]
    data["out-dir"] = str(tmp_path / "out")
    return data


def test_project_from_a_dict_yields_prefixed_tasks(tmp_path: Path) -> None:
    project = Project.load(table(tmp_path), root=PROJECT, prefix="rt")
    tasks = list(project.create_doit_tasks())
    names = {f"{t['basename']}:{t['name']}" if t.get("name") else t["basename"] for t in tasks}
    assert {"rt.build:ext-zlib", "rt.build:together", "rt.verify:ext-net", "rt.link", "rt.exec"} <= names
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
