"""Tasks side by side (`doit -n 2`, the default on a machine with 2 cores or more) build the same
verified program as a serial run (`doit -n 0`), and leave a database the next run trusts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Project, copy_project, executed

pytestmark = pytest.mark.integration


def statuses(project: Project) -> dict[str, list[tuple[str, str]]]:
    reports = sorted((project.root / "build" / "verified").glob("*/report.json"))
    return {
        r.parent.name: [(s["name"], s["status"]) for s in json.loads(r.read_text())["verify"]["symbols"]]
        for r in reports
    }


def test_parallel_run_matches_a_serial_one(tmp_path: Path) -> None:
    (tmp_path / "parallel").mkdir()
    parallel = copy_project(tmp_path / "parallel")
    result = parallel.doit("-n", "2", "link")
    assert result.returncode == 0, result.stdout + result.stderr
    run = parallel.run_program()
    assert run.returncode == 0 and run.stdout.rstrip().endswith("all checks passed")

    again = parallel.doit("link")  # the database written by the parallel run is whole and current
    assert again.returncode == 0, again.stderr
    assert executed(again) == set() and parallel.calls == []

    (tmp_path / "serial").mkdir()
    serial = copy_project(tmp_path / "serial")
    assert serial.doit("-n", "0", "link").returncode == 0
    assert statuses(parallel) == statuses(serial)
    assert len(statuses(parallel)) == 5 and all(s == "ok" for crate in statuses(parallel).values() for _, s in crate)
