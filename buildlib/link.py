"""The final link line, from the plan and the verified store only.

Order: host sources, then every route's verified archive in class order, then
the host's extra flags, then the union of the archives' native-static-libs
(F6; duplicates dropped, first position kept), then ``-o``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .config import HostConfig, close_match
from .errors import ConfigError, LinkError, StoreError
from .plan import Plan
from .records import read_report

if TYPE_CHECKING:
    from .store import StoreEntry

_SHOWN_LINES = 30
# GNU ld: undefined reference to `name' (typographic quotes in some locales);
# ld64: lines of "  _name", referenced from: ...
_UNDEFINED = re.compile(
    "undefined reference to [`'\u2018]([A-Za-z0-9_$.]+)['\u2019]|^\\s+\"?_([A-Za-z0-9_$.]+)\"?, referenced from",
    re.MULTILINE,
)


def check_host(host: HostConfig, *, file: str, environ: dict[str, str] | None = None) -> None:
    """The host's sources exist and its C compiler is on PATH, checked when the project loads, so
    a typo is one line before any build rather than a failed link after all of them.

    Raises ConfigError naming the dotted key.
    """
    for index, source in enumerate(host.sources):
        if not source.is_file():
            siblings = [p.name for p in source.parent.glob("*") if p.is_file()] if source.parent.is_dir() else []
            close = close_match(source.name, siblings)
            raise ConfigError(
                file,
                f"tool.buildlib.host.sources[{index}]",
                f"{source}: no such file",
                hint=f"did you mean '{close}'?" if close else "paths are relative to the pyproject.toml's directory",
            )
    path = (environ or os.environ).get("PATH", os.defpath)
    if shutil.which(host.cc, path=path) is None:
        raise ConfigError(
            file,
            "tool.buildlib.host.cc",
            f"{host.cc!r} is not a program on PATH",
            hint="install a C compiler, or set host.cc to one on PATH (cc, gcc, clang) or to its full path",
        )


def undefined_symbols(linker_output: str) -> list[str]:
    """The names a linker reported undefined, sorted, without Mach-O's leading ``_``."""
    return sorted({gnu or macho for gnu, macho in _UNDEFINED.findall(linker_output)})


# GNU ld names where each definition is: "<archive>(<member>)" at the start of a line (after
# "ld: ") and after the "; " of "multiple definition of `X'; <archive>(<member>)...first defined here".
_LOCATION = re.compile(r"^(?:\S*ld(?:\.\w+)?: )?(?P<archive>[^\s(]+\.(?:a|lib))\((?P<member>[^)]+)\)")
_MULTIPLE = re.compile(
    "multiple definition of [`'\u2018](?P<symbol>[^'\u2019]+)['\u2019]; (?P<archive>[^\\s(]+\\.(?:a|lib))\\((?P<member>[^)]+)\\)"
)


def explain_duplicates(output: str, entries: Sequence[StoreEntry], workspace_crates: frozenset[str]) -> list[str]:
    """The linker's "multiple definition" lines, grouped by cause, each with the archives, the crate
    the colliding code came from, and the fix: one line per cause instead of hundreds.

    ``workspace_crates`` are the library names of the workspace's crates.
    """
    from .audit import STD_CRATES, member_origin  # only on a failed link

    by_path = {entry.archive.resolve(): entry.name for entry in entries}
    exporters = {name for entry in entries for name in entry.exports}

    def archive_name(path: str) -> str:
        return by_path.get(Path(path).resolve(), path)

    causes: dict[tuple[str, str], set[str]] = {}
    context: tuple[str, str] | None = None
    for line in output.splitlines():
        where = _LOCATION.match(line)
        if where:
            context = (where["archive"], where["member"])
        duplicate = _MULTIPLE.search(line)
        if duplicate is None or context is None:
            continue
        symbol = duplicate["symbol"]
        archives = " and ".join(sorted({archive_name(context[0]), archive_name(duplicate["archive"])}))
        origin = member_origin(duplicate["member"]) or member_origin(context[1])
        if symbol in exporters:
            cause = (
                f"exports defined twice, by {archives}: one crate is carried by both archives",
                'build them in one bundle class (method = "bundle"), or make the shared crate rlib-only',
            )
        elif (origin is not None and origin[0] in STD_CRATES) or symbol.startswith("rust_"):
            cause = (
                f"std defined twice, by {archives}: each archive's std copy was rewritten by LTO",
                'use lto = "off" for every archive but one, or put the crates in one bundle class',
            )
        elif origin is not None and origin[0] in workspace_crates:
            cause = (
                f"{origin[0]} defined twice, by {archives}: one runtime built twice (two copies of its state)",
                'build every crate that uses it in one bundle class (method = "bundle")',
            )
        else:
            cause = (f"symbols defined twice, by {archives}", "see the linker's lines in the log")
        causes.setdefault(cause, set()).add(symbol)
    return [
        f"  {len(symbols)} {what} (e.g. {sorted(symbols)[0]}); fix: {fix}" for (what, fix), symbols in causes.items()
    ]


def merge_native_libs(libs: Iterable[Sequence[str]]) -> list[str]:
    merged: dict[str, None] = {}
    for group in libs:
        merged.update(dict.fromkeys(group))
    return list(merged)


def link_command(plan: Plan, archives: Sequence[Path], native_libs: Sequence[str], output: Path) -> list[str]:
    """The link command for ``plan`` writing ``output``; ``archives`` are in route order."""
    host = plan.config.host
    return [
        host.cc,
        *host.cflags,
        *(str(source) for source in host.sources),
        *(str(archive) for archive in archives),
        *host.ldflags,
        *native_libs,
        "-o",
        str(output),
    ]


def planned_link_line(plan: Plan) -> tuple[list[str], list[str]]:
    """The link line as it stands: every staticlib's store path, native libs from the reports
    present; and the staticlibs not verified yet (a placeholder stands for their native libs).

    For display (``buildlib link-line``, the link task's meta); the link itself
    uses checked store entries.
    """
    libs: list[Sequence[str]] = []
    archives: list[Path] = []
    unverified: list[str] = []
    for staticlib in plan.staticlibs:
        try:
            report = read_report(staticlib.report)
        except StoreError:
            libs.append([f"<native-static-libs of {staticlib.name}: not verified yet>"])
            archives.append(staticlib.verified_archive)
            unverified.append(staticlib.label)
            continue
        libs.append(report.native_static_libs)
        archives.append(staticlib.report.parent / report.archive_file)
    return link_command(plan, archives, merge_native_libs(libs), plan.program), unverified


def run_link(plan: Plan, entries: list[StoreEntry], *, label: str = "link", detail: TextIO | None = None) -> Path:
    """Link the program to a temporary name and rename it into place.

    A failed link leaves the previous program untouched. Raises LinkError naming
    each undefined symbol and the crate that was expected to provide it, and each
    cause of duplicate definitions with its archives and fix.
    """
    program = plan.program
    program.parent.mkdir(parents=True, exist_ok=True)
    temp = program.with_name(f".{program.name}.tmp")
    native_libs = merge_native_libs(entry.native_static_libs for entry in entries)
    command = link_command(plan, [entry.archive for entry in entries], native_libs, temp)
    log = plan.layout.link_log
    if detail is not None:
        detail.write(f"{label}: {shlex.join(command)}\n")
        detail.flush()
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
        providers = {name: entry.name for entry in entries for name in entry.exports}
        duplicates = explain_duplicates(output, entries, frozenset(c.lib_name for c in plan.workspace.crates))
        missing = [
            f"  {name}: "
            + (f"expected from {providers[name]}" if name in providers else "no crate in the plan exports it")
            for name in undefined_symbols(output)
        ]
        raise LinkError(
            "\n".join(
                [
                    f"{label}: {command[0]} failed with exit code {result.returncode}; {program} was not changed",
                    *duplicates,
                    *missing,
                ]
            ),
            hint=f"the full command and output are in {log}",
        )
    os.replace(temp, program)
    return program
