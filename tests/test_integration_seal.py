"""Link rules on the workspace of registry crates (tokio, flate2, serde_json, cc): thin LTO beside
other archives is refused unless sealed, before any cargo call; sealed, thin LTO on every class
links and the host passes (docs/lto.md measured both)."""

from __future__ import annotations

import json

import pytest

from .conftest import Project, copy_real_project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLASSES = """
[tool.buildlib.classes.routed]
lto = "thin"
method = "staticlib"
crates = ["ext-native", "ext-json", "ext-compress"]
seal = {seal}

[tool.buildlib.classes.together]
lto = "thin"
method = "bundle"
depends-on = ["runtime"]
seal = {seal}
"""


def configure(project: Project, *, seal: bool) -> None:
    pyproject = project.root / "pyproject.toml"
    text = pyproject.read_text()
    head, tail = text[: text.index("[tool.buildlib.classes.")], text[text.index("[tool.buildlib.host]") :]
    pyproject.write_text(head + CLASSES.format(seal=str(seal).lower()) + "\n" + tail)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return copy_real_project(tmp_path_factory.mktemp("sealed"))


def test_thin_flate2_beside_other_archives_is_refused_before_any_build(project: Project) -> None:
    configure(project, seal=False)
    result = project.doit("link")
    assert result.returncode == 2, result.stdout + result.stderr
    first, hint = result.stderr.splitlines()[:2]
    assert (
        "tool.buildlib.classes.routed.lto: the thin-LTO archive of ext-native links beside other Rust archives" in first
    )
    assert hint.startswith("hint: add seal = true to its class")
    assert [call for call in project.calls if not call.startswith(("metadata", "-vV"))] == []


def test_thin_lto_on_every_class_links_sealed_and_the_host_passes(project: Project) -> None:
    configure(project, seal=True)
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    run = project.run_program()
    assert run.returncode == 0 and run.stdout.rstrip().endswith("all checks passed"), run.stdout + run.stderr
    for name in ("ext-native", "ext-json", "ext-compress", "together"):
        report = json.loads((project.root / "build" / "verified" / name / "report.json").read_text())
        assert report["sealed"] is True and report["build"]["lto_passed"] == "thin", name
    assert result.stderr.count(" ok, sealed in ") == 4, "each archive verified again after sealing"
    assert "multiple definition" not in result.stdout + result.stderr
