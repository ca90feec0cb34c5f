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
