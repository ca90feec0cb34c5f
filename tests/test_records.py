"""The documents under the output directory: every read checks the format; a missing, older or
damaged document is one StoreError or BuildError line, never a KeyError."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from buildlib.errors import BuildError, StoreError
from buildlib.layout import Layout
from buildlib.records import (
    REPORT_FORMAT,
    BuildRecord,
    CacheStats,
    LinkSymbols,
    VerifyReport,
    read_lto_evidence,
    read_report,
    write_lto_evidence,
    write_report,
)
from buildlib.status import project_status, status_table

from .conftest import plan_for, record


def report(**fields: object) -> VerifyReport:
    values: dict[str, object] = {
        "name": "ext-a",
        "crates": ("ext-a",),
        "routing_class": "routed",
        "verified_at": "now",
        "archive_file": "libext_a-0123456789abcdef.a",
        "archive_sha256": "0" * 64,
        "archive_size": 10,
        "archive_identity": (10, 1, 2),
        "native_static_libs": ("-lc",),
        "build": record("ext-a"),
        "undecided": (),
        "verify": {"symbols": [{"name": "js_a", "status": "ok"}, {"name": "js_b", "status": "missing"}]},
        "link_symbols": LinkSymbols(symbols=(("js_a", ("ext_a", "0123456789abcdef")),), builds=()),
    }
    values.update(fields)
    return VerifyReport(**values)  # type: ignore[arg-type]


def test_a_report_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_report(path, report())
    assert read_report(path) == report()
    assert read_report(path).exports == ("js_a", "js_b") and read_report(path).exports_ok == 1
    assert json.loads(path.read_text())["format"] == REPORT_FORMAT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("verify"), "unreadable verify report (KeyError: 'verify')"),
        (lambda d: d.update(format="3"), f"verify report of format '3', this buildlib reads '{REPORT_FORMAT}'"),
        (lambda d: d.update(archive_file="../../etc/passwd"), "is not a file name"),
        (lambda d: d["build"].update(format=1), "unreadable verify report (ValueError: format 1"),
    ],
    ids=["no-verify-key", "older-format", "path-in-name", "older-build-record"],
)
def test_a_damaged_or_older_report_is_one_store_error(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    path = tmp_path / "report.json"
    write_report(path, report())
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(StoreError) as caught:
        read_report(path)
    assert message in str(caught.value) and caught.value.hint
    path.write_text("{")
    with pytest.raises(StoreError, match="unreadable verify report"):
        read_report(path)
    with pytest.raises(StoreError, match="no verified archive yet"):
        read_report(tmp_path / "missing.json")


def test_a_build_record_of_another_format_is_a_build_error(tmp_path: Path) -> None:
    path = tmp_path / "x.build.json"
    data = record("x").to_dict()
    data.pop("format")
    path.write_text(json.dumps(data))
    with pytest.raises(BuildError, match="unreadable build record"):
        type(record("x")).from_file(path)


def test_a_build_record_carries_what_the_cache_did(tmp_path: Path) -> None:
    stats = CacheStats(tool="sccache", hits=3, misses=1, not_cached={"crate-type": 2})
    path = tmp_path / "x.build.json"
    path.write_bytes(record("x", cache=stats, native_static_libs_source="probe").to_json())
    data = json.loads(path.read_text())
    assert data["cache"] == {"tool": "sccache", "hits": 3, "misses": 1, "not_cached": {"crate-type": 2}, "errors": 0}
    assert BuildRecord.from_file(path).cache == stats
    assert BuildRecord.from_file(path).native_static_libs_source == "probe"


def test_status_shows_the_cache_column_and_json_only_when_a_build_used_the_cache(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    staticlib = plan.route("ext-a").staticlib
    staticlib.record.parent.mkdir(parents=True)
    staticlib.record.write_bytes(record("ext-a").to_json())
    rows = project_status(plan, next_build=False)
    assert "cache" not in status_table(rows)[0] and "cache" not in status_table(rows, summary=True)[0]
    assert all(row.to_dict()["cache"] is None for row in rows)
    stats = CacheStats(tool="sccache", hits=2, misses=0)
    staticlib.record.write_bytes(record("ext-a", cache=stats).to_json())
    rows = project_status(plan, next_build=False)
    table = status_table(rows, summary=True)
    assert table[0].split()[-1] == "cache"
    assert next(line for line in table if line.startswith("ext-a ")).endswith("2 hits, 0 misses")
    assert next(line for line in table if line.startswith("ext-b ")).endswith(" -")
    assert status_table(rows)[0].split()[-1] == "cache"
    row = next(row for row in rows if row.crate == "ext-a")
    assert json.loads(json.dumps(row.to_dict()))["cache"] == stats.to_dict()


def test_status_of_a_report_without_its_verify_key_is_not_a_crash(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    route = plan.route("ext-a").staticlib
    write_report(route.report, report())
    data = json.loads(route.report.read_text())
    del data["verify"]
    route.report.write_text(json.dumps(data))
    row = next(row for row in project_status(plan) if row.crate == "ext-a")
    assert (row.exports_expected, row.verified_at) == (None, None)


def test_the_layout_of_the_output_directory(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert layout.record("routed", "ext-a") == tmp_path / "archives" / "routed" / "ext-a.build.json"
    assert layout.report("ext-a") == tmp_path / "verified" / "ext-a" / "report.json"
    assert (layout.database, layout.audit, layout.cache("lock")) == (
        tmp_path / ".doit.db",
        tmp_path / "link-audit.json",
        tmp_path / ".buildlib" / "lock",
    )


def test_lto_evidence_holds_only_for_the_archive_it_was_written_for(tmp_path: Path) -> None:
    artifact = tmp_path / "libext_hash.a"
    artifact.write_bytes(b"!<arch>\nfirst")
    assert read_lto_evidence(artifact) == (False, None)
    write_lto_evidence(artifact, "thin")
    assert read_lto_evidence(artifact) == (True, "thin")
    write_lto_evidence(artifact, None)
    assert read_lto_evidence(artifact) == (True, None), "no -C lto is evidence too"
    artifact.write_bytes(b"!<arch>\nanother build")
    assert read_lto_evidence(artifact) == (False, None)
    write_lto_evidence(artifact, "fat")
    evidence = next(tmp_path.glob(".*.buildlib-lto.json"))
    evidence.write_text('{"format": 1, "archive": [')
    assert read_lto_evidence(artifact) == (False, None), "damaged evidence is no evidence"


def test_a_document_is_parsed_once_per_version_of_its_file(tmp_path: Path) -> None:
    """The link and its status table read each record and report: the second read of an unchanged
    file is the first's; a file written again (by rename, or in place) is read again."""
    path = tmp_path / "r" / "report.json"
    write_report(path, report(verified_at="first"))
    first = read_report(path)
    assert read_report(path) is first
    write_report(path, report(verified_at="second"))  # a new inode
    assert read_report(path).verified_at == "second"
    path.write_bytes(report(verified_at="third, longer").to_json())  # in place, another size
    assert read_report(path).verified_at == "third, longer"
    records = tmp_path / "x.build.json"
    records.write_bytes(record("x", built_at="one").to_json())
    assert BuildRecord.from_file(records) is BuildRecord.from_file(records)
    records.write_bytes(record("x", built_at="two, later").to_json())
    assert BuildRecord.from_file(records).built_at == "two, later"
    # In place, the same size, the modification time set back: the change time still differs.
    before = records.stat()
    records.write_bytes(record("x", built_at="six, later").to_json())
    os.utime(records, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert BuildRecord.from_file(records).built_at == "six, later"
