"""The steps the tasks run name the tasks as they exist, under any prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.errors import StoreError
from buildlib.names import TaskNames
from buildlib.steps import link_step

from .conftest import plan_for


@pytest.mark.parametrize(
    ("prefix", "hint"),
    [("", "doit forget verify:ext-b && doit link"), ("app", "doit forget app.verify:ext-b && doit app.link")],
    ids=["no-prefix", "prefix"],
)
def test_a_hint_names_a_task_that_exists(tmp_path: Path, prefix: str, hint: str) -> None:
    plan = plan_for(tmp_path)  # nothing verified yet: the link cannot start
    with pytest.raises(StoreError) as caught:
        link_step(plan, TaskNames(prefix))
    assert caught.value.hint == f"verify it again: {hint}"


def test_task_names_under_a_prefix() -> None:
    names = TaskNames("rt")
    assert (names.build("together"), names.verify("ext-a"), names.link) == (
        "rt.build:together",
        "rt.verify:ext-a",
        "rt.link",
    )
    assert TaskNames().run(TaskNames().link) == "doit link"


def test_expected_names_add_and_drop_what_the_configuration_says(tmp_path: Path) -> None:
    from buildlib.exports import Export, ExportScan
    from buildlib.steps import expected_names

    (tmp_path / "extra.txt").write_text("js_from_file  # made by a macro\n")
    plan = plan_for(
        tmp_path,
        crates={"ext-c": {"expect": ["js_macro_made"], "ignore": ["js_windows_only"], "exports": "extra.txt"}},
    )
    scan = ExportScan(
        exports=tuple(Export(name=n, file=tmp_path / "lib.rs", line=1) for n in ("js_a", "js_windows_only")),
        undecided=(),
    )
    assert expected_names(scan, plan.route("ext-c").staticlib) == ["js_a", "js_from_file", "js_macro_made"]
