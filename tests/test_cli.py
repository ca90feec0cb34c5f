from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from buildlib.cli import main

from .conftest import compile_c, make_ar


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    obj = compile_c(
        tmp_path,
        "obj",
        'int js_ok(void) { return 1; }\n__attribute__((visibility("hidden"))) int js_h(void) { return 2; }\n',
    )
    return make_ar(tmp_path / "lib.a", obj)


def test_exit_0_when_every_export_links(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(archive), "--expect", "js_ok", "--expect", "js_h"]) == 0
    out = capsys.readouterr().out
    assert "js_ok" in out and "hidden" in out and out.rstrip().endswith("(elf): ok")


def test_exit_1_when_some_cannot_and_shared_fails_hidden(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(archive), "--expect", "js_nope"]) == 1
    assert main(["verify", str(archive), "--expect", "js_h", "--shared"]) == 1
    assert "cannot link" in capsys.readouterr().out


def test_json_output(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exports = tmp_path / "exports.txt"
    exports.write_text("# surface\njs_ok\njs_gone\n")
    assert main(["verify", str(archive), "--exports", str(exports), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["format"] == "elf" and data["archive"] == str(archive)
    assert {s["name"]: s["status"] for s in data["symbols"]} == {"js_ok": "ok", "js_gone": "missing"}
    assert all(set(s) >= {"name", "status", "member"} for s in data["symbols"])


def test_crate_sources_give_the_expectations(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "crate" / "src").mkdir(parents=True)
    (tmp_path / "crate" / "src" / "lib.rs").write_text('#[no_mangle]\npub extern "C" fn js_ok() -> i32 { 1 }\n')
    assert main(["verify", str(archive), "--crate", str(tmp_path / "crate")]) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"not an archive", "not an archive or object file"),
        (b"", "empty file"),
        (b"!<arch>\n/  ", "truncated member header"),
    ],
    ids=["missing", "text", "empty", "truncated"],
)
def test_exit_2_with_one_line_for_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path = tmp_path / "input.a"
    if content is not None:
        path.write_bytes(content)
    assert main(["verify", str(path), "--expect", "js_ok"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err.splitlines()[0]
    assert "Traceback" not in err


def test_no_expectations_is_exit_2(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(archive)]) == 2
    assert "nothing to verify" in capsys.readouterr().err


def test_console_command_is_installed_and_runs_as_module(archive: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "buildlib", "verify", str(archive), "--expect", "js_ok", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


SURFACE = """
int js_a(void) { return 1; }
int js_b(void) { return 2; }
__attribute__((visibility("hidden"))) int js_hidden(void) { return 3; }
__attribute__((used)) static int js_local(void) { return 4; }
int other(void) { return 5; }
"""


def test_snapshot_is_a_baseline_that_catches_a_lost_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = make_ar(tmp_path / "v1.a", compile_c(tmp_path, "v1", SURFACE))
    assert main(["exports", "snapshot", str(before), "--pattern", "js_*"]) == 0
    snapshot = capsys.readouterr().out
    assert snapshot.splitlines()[1:] == ["js_a", "js_b", "js_hidden"]
    baseline = tmp_path / "exports.txt"
    baseline.write_text(snapshot)

    after = make_ar(
        tmp_path / "v2.a", compile_c(tmp_path, "v2", SURFACE.replace("int js_b(void)", "static int js_b(void)"))
    )
    assert main(["verify", str(after), "--exports", str(baseline), "--json"]) == 1
    statuses = {s["name"]: s["status"] for s in json.loads(capsys.readouterr().out)["symbols"]}
    assert statuses == {"js_a": "ok", "js_b": "missing", "js_hidden": "hidden"}


def test_probe_reports_the_linkers_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = make_ar(tmp_path / "lib.a", compile_c(tmp_path, "s", SURFACE))
    assert (
        main(["verify", str(archive), "--expect", "js_a", "--expect", "js_hidden", "--probe", "--native-libs", ""]) == 0
    )
    assert "probe: a C program referencing every expected export links" in capsys.readouterr().out

    assert (
        main(
            [
                "verify",
                str(archive),
                "--expect",
                "js_a",
                "--expect",
                "js_local",
                "--expect",
                "js_gone",
                "--probe",
                "--json",
            ]
        )
        == 1
    )
    probe = json.loads(capsys.readouterr().out)["probe"]
    assert probe["ok"] is False
    assert probe["undefined"] == ["js_gone", "js_local"]


def test_probe_takes_native_libs_from_the_report_beside_the_archive(tmp_path: Path) -> None:
    from buildlib.probe import DEFAULT_NATIVE_LIBS, native_libs_beside

    archive = tmp_path / "libx.a"
    assert native_libs_beside(archive) == DEFAULT_NATIVE_LIBS
    (tmp_path / "report.json").write_text(json.dumps({"native_static_libs": ["-lm"]}))
    assert native_libs_beside(archive) == ("-lm",)


@pytest.mark.parametrize("command", [["verify"], ["status"], ["link-line"], ["exports", "snapshot"], []], ids=str)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("usage: buildlib")
