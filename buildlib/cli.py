"""The ``buildlib`` command line: ``main(argv) -> int`` with fixed exit codes.

``verify`` exits 0 when every expected export can satisfy the link, 1 when
some cannot, 2 when the input could not be read. Other commands exit 0, or 2
with one ``error:`` line for a project that cannot be loaded.
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
from .project import load_project
from .status import project_status
from .verify import EMBEDDED_BITCODE_NOTE, VerifyResult, is_linkable, verify_archive

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

    status = commands.add_parser(
        "status", help="per crate: class, LTO requested and applied, size, exports, when verified"
    )
    status.add_argument(
        "--project", type=Path, default=Path("pyproject.toml"), help="the pyproject.toml (default: ./pyproject.toml)"
    )
    status.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _verify(args) if args.command == "verify" else _status(args)
    except BuildlibError as e:
        print(f"error: {e}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return EXIT_UNREADABLE


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


def format_table(rows: list[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns; the last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]) for row in rows
    ]


def _status(args: argparse.Namespace) -> int:
    rows = project_status(load_project(args.project))
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
        return EXIT_OK
    table: list[tuple[str, ...]] = [("crate", "class", "method", "lto", "applied", "archive", "exports", "verified")]
    for row in rows:
        applied = (
            "-" if row.lto_applied is None else "yes" if row.lto_applied else f"NO ({row.lto_passed or 'no -C lto'})"
        )
        size = "-" if row.archive_bytes is None else f"{row.archive_bytes / 1e6:.1f} MB"
        exports = "-" if row.exports_expected is None else f"{row.exports_ok}/{row.exports_expected}"
        table.append(
            (
                row.crate,
                row.routing_class,
                row.method,
                row.lto_requested,
                applied,
                size,
                exports,
                row.verified_at or "never",
            )
        )
    print("\n".join(format_table(table)))
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
