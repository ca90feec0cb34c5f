"""The ``buildlib`` command line: ``main(argv) -> int`` with fixed exit codes.

Exit codes: 0 every expected export can satisfy the link; 1 some cannot;
2 the input could not be read, or the command line is wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .archive import read_archive
from .errors import ArchiveError, BuildlibError
from .exports import read_exports_file, scan_crate
from .verify import VerifyResult, is_linkable, verify_archive

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNREADABLE = 2


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _verify(args)
    except BuildlibError as e:
        print(f"error: {e}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return EXIT_UNREADABLE if isinstance(e, ArchiveError) or args.command == "verify" else EXIT_FAILED


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
        scan = scan_crate(root)
        expected += scan.names
        notes += [f"{u.file}:{u.line}: {u.reason}" for u in scan.undecided]
    if not expected:
        raise ArchiveError(
            "nothing to verify: no expected exports", hint="give --expect NAME, --exports FILE or --crate DIR"
        )
    result = verify_archive(read_archive(args.archive), expected, shared=args.shared)
    if args.json:
        print(json.dumps({**result.to_dict(), "undecided": notes}, indent=2))
    else:
        print(_table(result))
        for note in notes:
            print(f"note: {note}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _table(result: VerifyResult) -> str:
    rows = [("symbol", "status", "member", "reason")]
    for symbol in result.symbols:
        mark = "" if is_linkable(symbol.status, shared=result.shared) else "  <-- cannot link"
        rows.append((symbol.name, symbol.status, symbol.member or "-", symbol.reason + mark))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    ]
    verdict = "ok" if result.ok else f"{len(result.failures)} of {len(result.symbols)} cannot link"
    lines.append(f"{result.archive} ({result.format}): {verdict}")
    return "\n".join(lines)
