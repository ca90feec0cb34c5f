"""End to end: the real `doit link` on a copy of the project, with real cargo, gcc and archives.

The tests share one copy and run in file order: a cold build, a no-op, one-file
edits, then a replaced archive. A logging `cargo` shim first on PATH counts calls.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from buildlib.records import BuildRecord

from .conftest import PROJECT, Project, copy_project, executed, require

pytestmark = pytest.mark.integration

ROUTED = ["ext-zlib", "ext-events", "ext-hash"]  # classes routed (lto off) and hot (thin)
BUILDS = ["build:routed", "build:ext-hash"]  # routed: one cargo build for both; hot: cargo rustc
TOGETHER = ["ext-net", "ext-timers"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return copy_project(tmp_path_factory.mktemp("project"))


def test_cold_link_builds_verifies_links_and_the_program_passes(project: Project) -> None:
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    ran = executed(result)
    # The lto-off routed class is one cargo build (cargo's job server on every core); thin ext-hash its own.
    assert {f"verify:{c}" for c in ROUTED + TOGETHER} | {"link", "build:together", *BUILDS} <= ran
    calls = project.calls
    assert sum(c.startswith("metadata") for c in calls) == 1
    assert calls.count("-vV") == 1
    builds = [c for c in calls if not c.startswith("metadata") and c != "-vV"]
    assert sorted(c.split()[0] for c in builds) == ["build", "build", "rustc"]
    run = project.run_program()
    assert run.returncode == 0, run.stdout
    assert "runtime: a value registered through ext-net is read back through ext-timers" in run.stdout
    assert "FAIL" not in run.stdout and run.stdout.rstrip().endswith("all checks passed")


def test_every_task_is_listed_with_a_doc_line(project: Project) -> None:
    result = project.doit("list", "--all")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    expected = {
        "build",
        "verify",
        "link",
        "exec",
        "build:together",
        *BUILDS,
        *(f"verify:{c}" for c in ROUTED + TOGETHER),
    }
    assert expected <= set(lines)
    assert all(len(lines[name].split()) > 1 for name in expected), "every task has a doc line"


def test_second_link_calls_no_cargo_and_no_linker(project: Project) -> None:
    before = project.program.stat().st_mtime_ns
    result = project.doit("link")
    assert result.returncode == 0, result.stderr
    assert project.calls == []
    assert executed(result) == set()
    assert project.program.stat().st_mtime_ns == before


def test_with_every_archive_fresh_the_link_still_takes_every_verified_archive(project: Project) -> None:
    """The field's fast-path failure: nothing rebuilt, yet the link line must hold every crate."""
    host = project.root / "crates-fixtures" / "host" / "main.c"
    host.write_text(host.read_text() + "/* relink */\n")
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.calls == [] and executed(result) == {"link"}
    (link,) = project.links
    archives = [arg for arg in link if arg.endswith(".a")]
    assert sorted(archives) == project.verified_archives() and len(archives) == len(ROUTED + TOGETHER)
    assert re.search(
        r"audit: .*runtime \(\d+ symbols\) carried by ext-net, ext-timers: the program runs ext-net's copy",
        result.stderr,
    )


def test_a_no_op_run_never_imports_lief(project: Project) -> None:
    """F8: importing LIEF costs about 0.6 s; only a run that inspects an archive may pay it."""
    result = project.python("-X", "importtime", "-m", "doit", "link")
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "buildlib.plan" in imported and "doit" in imported  # the dodo file did load buildlib
    assert not any(name == "lief" or name.startswith("lief.") for name in imported)


def test_editing_one_routed_crate_rebuilds_only_it(project: Project) -> None:
    source = project.root / "crates-fixtures" / "ext-zlib" / "src" / "codec.rs"
    with source.open("a") as handle:
        handle.write('\n#[no_mangle]\npub extern "C" fn js_zlib_codec_version() -> u32 {\n    2\n}\n')
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    (call,) = project.calls
    assert call.startswith("build --lib -p ext-zlib -p ext-events ")
    # cargo compiled ext-zlib alone; ext-events' archive and record were left as they were.
    assert executed(result) == {"build:routed", "verify:ext-zlib", "link"}
    (link,) = project.links  # a partial rebuild: still every crate's verified archive on the line
    assert sorted(arg for arg in link if arg.endswith(".a")) == project.verified_archives()
    report = json.loads((project.root / "build" / "verified" / "ext-zlib" / "report.json").read_text())
    assert {"name": "js_zlib_codec_version", "status": "ok"}.items() <= next(
        s for s in report["verify"]["symbols"] if s["name"] == "js_zlib_codec_version"
    ).items()
    assert project.run_program().returncode == 0


def test_editing_the_shared_runtime_rebuilds_its_class_in_one_call(project: Project) -> None:
    source = project.root / "crates-fixtures" / "runtime" / "src" / "lib.rs"
    with source.open("a") as handle:
        handle.write("\npub fn generation() -> u32 {\n    2\n}\n")
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    (call,) = project.calls
    assert call.startswith("build --lib -p ext-net -p ext-timers ")
    assert executed(result) == {"build:together", "verify:ext-net", "verify:ext-timers", "link"}
    assert project.run_program().returncode == 0


def test_exec_task_runs_the_program(project: Project) -> None:
    result = project.doit("exec")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert project.calls == []


def test_an_export_added_to_the_source_after_the_build_is_missing(project: Project) -> None:
    newer = project.root / "ext-hash-newer"
    shutil.copytree(project.root / "crates-fixtures" / "ext-hash", newer)
    with (newer / "src" / "lib.rs").open("a") as source:
        source.write('\n#[unsafe(no_mangle)]\npub extern "C" fn js_hash_added_later() {}\n')
    archive = project.root / "build" / "verified" / "ext-hash" / "libext_hash.a"
    result = project.python("-m", "buildlib", "verify", str(archive), "--crate", str(newer), "--json")
    assert result.returncode == 1, result.stderr
    statuses = {s["name"]: s["status"] for s in json.loads(result.stdout)["symbols"]}
    assert statuses == {
        "js_hash_added_later": "missing",
        "js_hash_fnv1a64": "ok",
        "js_hash_next_id": "ok",
        "js_hash_to_hex": "ok",
    }


def test_an_archive_replaced_in_the_output_dir_is_noticed_and_built_again(project: Project) -> None:
    """buildlib's own output is an input of the build task: a file copied over it is not trusted."""
    archives = project.root / "build" / "archives"
    shutil.copyfile(archives / "routed" / "libext_zlib.a", archives / "hot" / "libext_hash.a")
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "build:ext-hash" in executed(result)
    assert [c.split()[:3] for c in project.calls] == [["rustc", "-p", "ext-hash"]]
    assert project.run_program().returncode == 0


def test_the_build_file_rewritten_in_place_is_built_again_by_cargo(project: Project) -> None:
    """The store's archive, the build's file and cargo's are hard links of one file (no bytes
    copied), so ``cp`` over the build's file rewrites all three: the next ``doit link`` has cargo
    build the crate again, verifies it and links."""
    archives = project.root / "build" / "archives"
    zlib = archives / "routed" / "libext_zlib.a"
    good = zlib.read_bytes()
    verified = project.root / "build" / "verified" / "ext-zlib" / "libext_zlib.a"
    assert verified.resolve().stat().st_ino == zlib.stat().st_ino
    shutil.copyfile(archives / "hot" / "libext_hash.a", zlib)
    assert verified.read_bytes() != good
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"build:routed", "verify:ext-zlib", "link"} <= executed(result)
    assert zlib.read_bytes() == good and verified.read_bytes() == good
    assert project.run_program().returncode == 0


def test_cargo_archive_written_in_place_is_built_again(project: Project) -> None:
    """cargo's archive and the build's file are one file (a hard link), so ``cp`` over cargo's name
    rewrites both, and cargo would find the unit fresh. The next ``doit link`` removes cargo's names
    of that file, cargo builds the crate again, and the rebuilt archive is verified and linked."""
    artifact = project.root / "crates-fixtures" / "target" / "buildlib-hot" / "libext_hash.a"
    built = project.root / "build" / "archives" / "hot" / "libext_hash.a"
    good = artifact.read_bytes()
    assert os.path.samefile(artifact, built)
    shutil.copyfile(project.root / "build" / "archives" / "routed" / "libext_zlib.a", artifact)
    assert built.read_bytes() != good
    result = project.doit("link")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{artifact} was written in place since it was built; removed so cargo builds it again" in output
    assert {"build:ext-hash", "verify:ext-hash", "link"} <= executed(result)
    assert BuildRecord.from_file(built.with_name("ext-hash.build.json")).units_compiled >= 1
    assert built.read_bytes() == good and os.path.samefile(artifact, built)
    assert project.run_program().returncode == 0


def rebuild_as_rustc(original: Path, uplifted: Path, data: bytes) -> None:
    """Write ``data`` as rustc writes an archive (a new file renamed into place) and uplift it as cargo does."""
    temp = original.with_name(f"{original.name}.new")
    temp.write_bytes(data)
    temp.replace(original)
    uplifted.unlink()
    os.link(original, uplifted)


def test_an_archive_without_the_exports_stops_at_verify(project: Project) -> None:
    verified = project.root / "build" / "verified" / "ext-hash" / "libext_hash.a"
    verified_before = verified.read_bytes()
    program_before = project.program.stat().st_mtime_ns
    # A rebuild that lost the exports, as rustc and cargo write one: a new file renamed over the
    # archive in deps/, then uplifted again. cargo finds the unit fresh and reports that file.
    artifact = project.root / "crates-fixtures" / "target" / "buildlib-hot" / "libext_hash.a"
    original = next(p for p in artifact.parent.glob("deps/libext_hash-*.a") if os.path.samefile(p, artifact))
    good = artifact.read_bytes()
    rebuild_as_rustc(
        original, artifact, (project.root / "build" / "archives" / "routed" / "libext_zlib.a").read_bytes()
    )
    try:
        assert project.doit("forget", "build:ext-hash").returncode == 0
        result = project.doit("link")
    finally:
        rebuild_as_rustc(original, artifact, good)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "verify:ext-hash: 3 of 3 expected exports cannot be linked" in output
    for name in ("js_hash_fnv1a64", "js_hash_next_id", "js_hash_to_hex"):
        assert f"  {name}: missing: no member defines or mentions it" in output
    assert "link" not in executed(result)
    assert "Traceback" not in output
    assert verified.read_bytes() == verified_before, "the last verified archive is kept"
    assert project.program.stat().st_mtime_ns == program_before


def test_nm_is_blind_to_the_field_archive_but_the_verifier_is_not(project: Project) -> None:
    """F1: staticlib+rlib under the thin-LTO release profile: nm shows no js_ symbol, yet it links."""
    nm = require("nm")
    workspace = project.root / "crates-fixtures"
    subprocess.run(
        ["cargo", "build", "--release", "-p", "ext-zlib", "--quiet"], cwd=workspace, env=project.env, check=True
    )
    archive = workspace / "target" / "release" / "libext_zlib.a"
    listed = subprocess.run([nm, str(archive)], capture_output=True, text=True, check=False).stdout
    assert " T js_zlib_crc32" not in listed
    verify = project.python("-m", "buildlib", "verify", str(archive), "--crate", str(workspace / "ext-zlib"), "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    data = json.loads(verify.stdout)
    assert data["ok"] and data["embedded_bitcode"] is True
    main = project.root / "crc.c"
    main.write_text(
        "#include <stdint.h>\n#include <stddef.h>\nuint32_t js_zlib_crc32(const uint8_t*, size_t);\n"
        'int main(void) { return js_zlib_crc32((const uint8_t*)"123456789", 9) == 0xCBF43926u ? 0 : 1; }\n'
    )
    exe = project.root / "crc"
    subprocess.run(["cc", str(main), str(archive), "-lpthread", "-ldl", "-lm", "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)], check=False).returncode == 0


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('lto = "off"', 'lto = "thn"', "tool.buildlib.classes.routed.lto: expected one of off, thin, fat, got 'thn'"),
        (
            '"ext-zlib", "ext-events"',
            '"ext-zlb", "ext-events"',
            "tool.buildlib.classes.routed.crates[0]: no crate 'ext-zlb'",
        ),
        ('"crates-fixtures/host/main.c"', '"crates-fixtures/host/mian.c"', "tool.buildlib.host.sources[0]: "),
    ],
    ids=["bad-lto", "unknown-crate", "host-source-typo"],
)
def test_bad_configuration_is_one_line_and_exit_2(project: Project, old: str, new: str, expected: str) -> None:
    pyproject = project.root / "pyproject.toml"
    original = pyproject.read_text()
    pyproject.write_text(original.replace(old, new, 1))
    try:
        result = project.doit("link")
    finally:
        pyproject.write_text(original)
    assert result.returncode == 2
    first, *rest = result.stderr.splitlines()
    assert first.startswith("error: ") and expected in first
    assert rest and rest[0].startswith("hint: did you mean")
    assert "Traceback" not in result.stderr


def test_doit_conventions_forget_default_always_execute_info_clean(project: Project) -> None:
    # The earlier test left a bad ext-hash archive: forgetting its build makes the default task rebuild it.
    assert project.doit("forget", "build:ext-hash").returncode == 0
    result = project.doit()  # the default task is link
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"build:ext-hash", "verify:ext-hash", "link"} <= executed(result)
    assert "link: " in result.stderr and re.search(r"crate +class +lto +applied +exports +build", result.stderr)

    forced = project.doit("--always-execute", "link")
    assert forced.returncode == 0
    assert (
        len([c for c in project.calls if c.startswith(("rustc", "build"))]) == 3
    )  # every unit, cargo finds them fresh

    line = project.python("-m", "buildlib", "link-line", "--json")
    assert line.returncode == 0, line.stderr
    command = json.loads(line.stdout)
    assert sorted(arg for arg in command if arg.endswith(".a")) == project.verified_archives()
    assert command[-2:] == ["-o", str(project.program)]
    assert project.python("-m", "buildlib", "link-line").stdout.strip() == shlex.join(command)

    info = project.doit("info", "verify:ext-zlib")
    assert info.returncode == 0 and "libext_zlib.a" in info.stdout and "ext-zlib.build.json" in info.stdout
    link_info = project.doit("info", "link").stdout
    assert "link_line" in link_info and "-lgcc_s" in link_info

    # What a crate since removed from the workspace left behind: doit clean removes it too.
    orphans = [project.root / "build" / "verified" / "ext-gone", project.root / "build" / "archives" / "routed"]
    orphans[0].mkdir()
    (orphans[0] / "report.json").write_text("{}")
    (orphans[1] / "libext_gone.a").write_bytes(b"!<arch>\n")
    (orphans[1] / "notes.txt").write_text("not buildlib's: kept")
    cleaned = project.doit("clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert not orphans[0].exists() and not (orphans[1] / "libext_gone.a").exists()
    assert f"removed {orphans[0]} (no crate of the plan builds it now)" in cleaned.stdout
    assert (orphans[1] / "notes.txt").exists()
    assert not project.program.exists() and not (project.root / "build" / "verified" / "ext-zlib").exists()
    assert not (project.root / "build" / "archives" / "routed" / "libext_zlib.a").exists()
    again = project.doit("link")
    assert again.returncode == 0, again.stdout + again.stderr
    assert project.run_program().returncode == 0
    # cargo found every unit fresh, so it printed no rustc command: the LTO evidence outlived the
    # output directory beside cargo's archives, and the summary says the builds were fresh.
    summary = {line.split()[0]: line.split() for line in again.stderr.splitlines() if line.startswith("ext-")}
    assert summary.pop("ext-zlib")[2:] == ["off", "yes", "5/5", "fresh"], again.stderr
    # ext-hash's archive in target/ was written by hand by an earlier test: not the file rustc made.
    assert summary.pop("ext-hash")[2:] == ["thin", "-,", "sealed", "3/3", "fresh"], again.stderr
    assert "applied -: cargo reused a build whose rustc command buildlib never saw" in again.stderr
    assert all(row[3] == "yes" and row[5] == "fresh" for row in summary.values()), again.stderr


def test_the_example_release_pipeline_packages_and_smoke_tests_the_program(project: Project) -> None:
    shutil.copytree(PROJECT / "examples", project.root / "examples", ignore=shutil.ignore_patterns("dist"))
    assert project.doit("link").returncode == 0
    result = project.python(
        "-m", "doit", "-f", str(project.root / "examples" / "release" / "dodo.py"), cwd=project.root / "crates-fixtures"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    # One state per output directory: right after `doit link` the pipeline builds nothing again,
    # and the next root `doit link` neither.
    assert executed(result) == {"package", "smoke"}
    again = project.doit("link")
    assert again.returncode == 0 and executed(again) == set(), again.stdout
    tarball = project.root / "examples" / "release" / "dist" / "host-release.tar.gz"
    with tarfile.open(tarball) as tar:
        names = sorted(tar.getnames())
    assert names == ["SHA256SUMS", "bin/host", *sorted(f"lib/lib{c.replace('-', '_')}.a" for c in ROUTED + TOGETHER)]
    listed = project.python("-m", "doit", "-f", "examples/release/dodo.py", "list", "--all").stdout
    assert {"link", "verify:ext-zlib", "build:together", "package", "smoke"} <= {
        line.split()[0] for line in listed.splitlines()
    }


def test_doit_k_runs_from_a_crate_folder(project: Project) -> None:
    result = project.python("-m", "doit", "-k", "link", cwd=project.workspace / "ext-zlib")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("0 ran, 9 up to date in ")
