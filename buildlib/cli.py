"""The ``buildlib`` command line: ``main(argv) -> int`` with fixed exit codes.

``verify`` exits 0 when every expected export can satisfy the link, 1 when
some cannot, 2 when the input could not be read. Other commands exit 0, or 2
with one ``error:`` line for a project that cannot be loaded. Every command
exits 130 on Ctrl-C and 141, silently, when its output pipe is closed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ._table import format_table
from .archive import read_archive
from .errors import ArchiveError, StoreError, UsageError, user_message
from .exports import read_exports_file, scan_crate
from .link import planned_link_line
from .names import TaskNames
from .probe import native_libs_beside, probe_link, recorded_cfg
from .project import load_plan
from .status import project_status, status_table
from .verify import EMBEDDED_BITCODE_NOTE, VerifyResult, is_linkable, snapshot_exports, verify_archive

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREADABLE = 2  # also a usage error, as argparse exits for a wrong option
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a closed pipe


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buildlib", description="Verify the C exports of Rust static libraries from their bytes."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="prove that an archive's expected exports can satisfy a link")
    verify.add_argument("archive", type=Path, help="a static archive (.a) or an object file")
    verify.add_argument("--expect", action="append", default=[], metavar="NAME", help="an expected C name (repeatable)")
    verify.add_argument(
        "--crate", type=Path, metavar="DIR", help="expect every #[no_mangle]/export_name item in DIR/src"
    )
    verify.add_argument("--exports", type=Path, metavar="FILE", help="expect the names in FILE, one a line, # comments")
    verify.add_argument(
        "--shared", action="store_true", help="the archive goes into a shared library: hidden symbols fail"
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    verify.add_argument(
        "--probe", action="store_true", help="also link a C stub referencing every expected export (linker's verdict)"
    )
    verify.add_argument(
        "--native-libs", metavar="FLAGS", help="system libraries for --probe (default: recorded beside the archive)"
    )
    verify.add_argument("--cc", default="cc", help="compiler driver for --probe (default: cc)")

    link_line = commands.add_parser("link-line", help="print the link command the link task runs")
    link_line.add_argument(
        "--project",
        type=_project_file,
        default=Path("pyproject.toml"),
        help="the pyproject.toml, or its directory (default: ./pyproject.toml)",
    )
    link_line.add_argument("--json", action="store_true", help="print the argument list as JSON")

    exports = commands.add_parser("exports", help="the C surface an archive really exports")
    exports_commands = exports.add_subparsers(dest="exports_command", required=True)
    snapshot = exports_commands.add_parser("snapshot", help="print the exports present, as an exports file")
    snapshot.add_argument("archive", type=Path)
    snapshot.add_argument("--pattern", default="*", help="a glob the names must match, e.g. 'js_*' (default: *)")

    status = commands.add_parser(
        "status", help="per crate: class, LTO requested and applied, size, exports, when verified, next build"
    )
    status.add_argument(
        "--project",
        type=_project_file,
        default=Path("pyproject.toml"),
        help="the pyproject.toml, or its directory (default: ./pyproject.toml)",
    )
    status.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    return parser


def _project_file(value: str) -> Path:
    """``--project``: a pyproject.toml, or the directory that holds one."""
    path = Path(value)
    return path / "pyproject.toml" if path.is_dir() else path


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"verify": _verify, "status": _status, "exports": _snapshot, "link-line": _link_line}[args.command]
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return code
    except BrokenPipeError:
        # The reader went away (`buildlib status | head -1`): nothing to say, and no second
        # error when Python flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (Exception, KeyboardInterrupt) as e:
        message = user_message(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        if getattr(args, "json", False):
            # A program reading --json output gets the error as JSON too, not an empty stdout.
            error, _, hint = message.partition("\nhint: ")
            print(json.dumps({"ok": False, "error": error, "hint": hint or None}))
        return EXIT_INTERRUPTED if isinstance(e, KeyboardInterrupt) else EXIT_UNREADABLE


def _verify(args: argparse.Namespace) -> int:
    expected = list(args.expect)
    notes: list[str] = []
    if args.exports:
        expected += read_exports_file(args.exports)
    if args.crate:
        root = args.crate / "src" / "lib.rs"
        if not root.is_file():
            raise ArchiveError(
                f"{args.crate}: no src/lib.rs", hint="pass the directory that holds the crate's Cargo.toml"
            )
        cfg = recorded_cfg(args.archive, args.crate)
        if cfg is None:
            notes.append("the build's cfg is not known here: exports behind #[cfg(...)] are expected as well")
        scan = scan_crate(root, cfg)
        expected += scan.names
        notes += [f"{u.file}:{u.line}: {u.reason}" for u in scan.undecided]
    if not expected:
        raise UsageError(
            "nothing to verify: no expected exports (a usage error)",
            hint="give --expect NAME, --exports FILE or --crate DIR",
        )
    result = verify_archive(read_archive(args.archive), expected, shared=args.shared)
    extra: dict[str, object] = {"undecided": notes}
    probe = None
    if args.probe:
        libs = args.native_libs.split() if args.native_libs is not None else native_libs_beside(args.archive)
        probe = probe_link(args.archive, [s.name for s in result.symbols], native_libs=libs, cc=args.cc)
        extra["probe"] = {"ok": probe.ok, "undefined": list(probe.undefined), "command": list(probe.command)}
    if args.json:
        print(json.dumps({**result.to_dict(), **extra}, indent=2))
    else:
        print(_table(result))
        for note in notes:
            print(f"note: {note}")
        if probe is not None:
            verdict = "links" if probe.ok else f"FAILS: undefined {', '.join(probe.undefined) or '(see output)'}"
            print(f"probe: a C program referencing every expected export {verdict}")
            if not probe.ok:
                print(probe.output.rstrip())
    ok = result.ok and (probe is None or probe.ok)
    return EXIT_OK if ok else EXIT_FAILED


def _link_line(args: argparse.Namespace) -> int:
    command, missing = planned_link_line(load_plan(args.project))
    if missing:
        # The line needs each archive's verified path and native-static-libs: a line with holes misleads.
        names = TaskNames()
        raise StoreError(
            f"{args.project}: not verified yet: {', '.join(missing)}; the link line needs every archive",
            hint=f"run {names.run(names.link)} first (it builds and verifies them)",
        )
    print(json.dumps(command) if args.json else shlex.join(command))
    return EXIT_OK


def _snapshot(args: argparse.Namespace) -> int:
    names = snapshot_exports(read_archive(args.archive), args.pattern)
    print(f"# exports of {args.archive.name} matching {args.pattern!r}: buildlib exports snapshot")
    print("\n".join(names))
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    plan = load_plan(args.project)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    rows = project_status(plan)
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        print("\n".join(status_table(rows)))
    return EXIT_OK


def _table(result: VerifyResult) -> str:
    rows: list[tuple[str, ...]] = [("symbol", "status", "member", "reason / fix")]
    for symbol in result.symbols:
        linkable = is_linkable(symbol.status, shared=result.shared)
        advice = symbol.reason if linkable or not symbol.hint else f"{symbol.reason}; fix: {symbol.hint}"
        rows.append((symbol.name, symbol.status if linkable else symbol.status.upper(), symbol.member or "-", advice))
    lines = format_table(rows)
    if result.embedded_bitcode:
        lines.append(f"note: {EMBEDDED_BITCODE_NOTE}")
    verdict = "ok" if result.ok else f"{len(result.failures)} of {len(result.symbols)} cannot link"
    lines.append(f"{result.archive} ({result.format}): {verdict}")
    return "\n".join(lines)
