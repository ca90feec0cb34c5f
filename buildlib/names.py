"""How a project's tasks are named, so that every message and hint names a task that exists.

The task layer (``tasks``) names its tasks with this, and hands it to the steps the
tasks run, so a hint says ``doit forget app.verify:ext-zlib && doit app.link`` when the
project's tasks carry the prefix ``app``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TaskNames:
    """Task names under an optional prefix: ``link``, or ``rt.link`` inside an outer pipeline."""

    prefix: str = ""

    def __call__(self, base: str) -> str:
        return f"{self.prefix}.{base}" if self.prefix else base

    def build(self, unit: str) -> str:
        return self(f"build:{unit}")

    def verify(self, crate: str) -> str:
        return self(f"verify:{crate}")

    @property
    def link(self) -> str:
        return self("link")

    def run(self, task: str) -> str:
        """The command that runs ``task``."""
        return f"doit {task}"

    def again(self, task: str) -> str:
        """The commands that run ``task`` again although doit finds it up to date, then the link."""
        return f"doit forget {task} && doit {self.link}"
