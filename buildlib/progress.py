"""What a run of buildlib's tasks prints: a doit reporter (DOIT_CONFIG ``reporter``).

doit's own console reporter prints a line per task, then repeats every failure as
``TaskFailed - taskid:…`` with an empty ``#### <task> <stdout>:`` block. This one prints:

- ``[3/10] build:ext-hash (thin LTO)…`` when a task starts: its place among the tasks with
  actions this run selected (those found up to date count too, silently);
- the time of a task that took a while, when it ends;
- a failure once: the step's own message and hint (``error: …``), the output it kept back
  (``doit -v 2`` shows that as it goes), or doit's traceback for what is not an expected error;
- an end line with totals: how many ran, were up to date, failed, and the wall time.

It needs no doit import: doit calls the methods below by name (doit.reporter.ConsoleReporter).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

# A task that took longer than this gets its time printed when it ends.
LONG_TASK_SECONDS = 2.0
# The line a task starting prints, "[3/10] build:ext-hash (thin LTO)…": what started_tasks reads.
_STARTED = re.compile(r"^\[\d+/\d+\] (\S+?)(?: \(.*\))?…$")


def started_tasks(output: str) -> list[str]:
    """The tasks a run's output shows starting, in order (for tests and benchmarks that read a run)."""
    return [found.group(1) for found in map(_STARTED.match, output.splitlines()) if found]


class Reporter:
    """doit's reporter protocol, for buildlib's tasks and any task beside them in a dodo file."""

    desc = "buildlib: [n/total] progress, one message per failure, totals at the end"

    def __init__(self, outstream: TextIO, options: Mapping[str, object]) -> None:
        self.out = outstream
        self.err: TextIO = sys.stderr
        self.started = time.monotonic()
        self.total = 0
        self.seen = 0
        self.ran = 0
        self.up_to_date = 0
        self.failures: list[tuple[Any, Any]] = []
        self.runtime_errors: list[str] = []
        self._counted: set[str] = set()
        self._start: dict[str, float] = {}

    def initialize(self, tasks: Mapping[str, Any], selected_tasks: Iterable[str] | None) -> None:
        """Count the tasks with actions this run may execute: the selection and what it depends on."""
        todo = list(selected_tasks or tasks)
        closure: set[str] = set()
        while todo:
            name = todo.pop()
            if name in closure or name not in tasks:
                continue
            closure.add(name)
            todo.extend(tasks[name].task_dep)
            todo.extend(tasks[name].setup_tasks)
        self._counted = {name for name in closure if _shown(tasks[name])}
        self.total = len(self._counted)

    def get_status(self, task: Any) -> None:
        pass

    def _place(self, task: Any) -> str:
        if task.name in self._counted:
            self.seen += 1
        return f"[{self.seen}/{self.total}]"

    def execute_task(self, task: Any) -> None:
        if not _shown(task):
            return
        self._start[task.name] = time.monotonic()
        note = task.meta.get("progress") if task.meta else None
        self.out.write(f"{self._place(task)} {task.title()}{f' ({note})' if note else ''}…\n")
        self.out.flush()

    def add_success(self, task: Any) -> None:
        if not _shown(task):
            return
        self.ran += 1
        elapsed = time.monotonic() - self._start.get(task.name, time.monotonic())
        if elapsed >= LONG_TASK_SECONDS:
            self.out.write(f"       {task.name} done in {elapsed:.1f} s\n")

    def add_failure(self, task: Any, fail: Any) -> None:
        if not fail.report:
            return  # a task not run because one it depends on failed: that one says why
        self.failures.append((task, fail))
        message = fail.message if type(fail).__name__ == "TaskFailed" and not fail.traceback else fail.get_msg()
        if not message.startswith(f"{task.name}:"):
            message = f"{task.name}: {message}"
        self.out.flush()
        self.err.write(f"error: {message.rstrip()}\n")
        self.err.flush()

    def skip_uptodate(self, task: Any) -> None:
        if _shown(task):
            self._place(task)
            self.up_to_date += 1

    def skip_ignore(self, task: Any) -> None:
        self.out.write(f"{self._place(task)} {task.title()}: ignored (doit ignore)\n")

    def cleanup_error(self, exception: Any) -> None:
        self.err.write(f"error: {exception.get_msg()}")

    def runtime_error(self, msg: str) -> None:
        self.runtime_errors.append(msg)

    def teardown_task(self, task: Any) -> None:
        pass

    def complete_run(self) -> None:
        for task, _fail in self.failures:
            kept = "".join(action.out or "" for action in task.actions) if task.executed else ""
            kept += "".join(action.err or "" for action in task.actions) if task.executed and task.verbosity < 1 else ""
            if kept.strip():
                self.out.write(f"--- what {task.name} printed (shown as it runs with doit -v 2):\n{kept.rstrip()}\n")
        for message in self.runtime_errors:
            self.err.write(f"error: {message.rstrip()}\n")
        parts = [f"{self.ran} ran", f"{self.up_to_date} up to date"]
        if self.failures or self.runtime_errors:
            parts.append(f"{len(self.failures) + len(self.runtime_errors)} failed")
        self.out.write(f"{', '.join(parts)} in {time.monotonic() - self.started:.1f} s\n")
        self.out.flush()


def _shown(task: Any) -> bool:
    """Tasks with actions and a public name: what doit's console reporter lists too."""
    return bool(task.actions) and not task.name.startswith("_")
