"""The final link line, from the plan and the verified store only.

Order: host sources, then every route's verified archive in class order, then
the host's extra flags, then the union of the archives' native-static-libs
(F6; duplicates dropped, first position kept), then ``-o``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from .errors import LinkError
from .plan import Plan
from .store import StoreEntry

_SHOWN_LINES = 30


def merge_native_libs(entries: Iterable[StoreEntry]) -> list[str]:
    merged: dict[str, None] = {}
    for entry in entries:
        merged.update(dict.fromkeys(entry.native_static_libs))
    return list(merged)


def link_command(plan: Plan, entries: list[StoreEntry], output: Path) -> list[str]:
    """The link command for ``plan`` writing ``output``; ``entries`` are in route order."""
    host = plan.config.host
    return [
        host.cc,
        *host.cflags,
        *(str(source) for source in host.sources),
        *(str(entry.archive) for entry in entries),
        *host.ldflags,
        *merge_native_libs(entries),
        "-o",
        str(output),
    ]


def run_link(plan: Plan, entries: list[StoreEntry]) -> Path:
    """Link the program to a temporary name and rename it into place.

    A failed link leaves the previous program untouched. Raises LinkError.
    """
    program = plan.program
    program.parent.mkdir(parents=True, exist_ok=True)
    temp = program.with_name(f".{program.name}.tmp")
    command = link_command(plan, entries, temp)
    log = plan.config.out_dir / "link.log"
    try:
        result = subprocess.run(command, check=False, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise LinkError(f"{command[0]}: not found", hint="install a C compiler or set tool.buildlib.host.cc") from e
    # The linker can print thousands of lines (one per duplicate std symbol):
    # keep all of them in a log, show the start.
    output = result.stdout + result.stderr
    log.write_text(" ".join(command) + "\n" + output)
    lines = output.splitlines()
    sys.stderr.write("".join(line + "\n" for line in lines[:_SHOWN_LINES]))
    if len(lines) > _SHOWN_LINES:
        sys.stderr.write(f"... {len(lines) - _SHOWN_LINES} more lines in {log}\n")
    if result.returncode != 0:
        temp.unlink(missing_ok=True)
        raise LinkError(
            f"link: {command[0]} failed with exit code {result.returncode}; {program} was not changed",
            hint=f"the full command and output are in {log}",
        )
    os.replace(temp, program)
    return program
