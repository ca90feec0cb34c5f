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
