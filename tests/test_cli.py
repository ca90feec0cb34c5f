from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from buildlib.cli import main

from .conftest import FIXTURES, compile_c, make_ar, record


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
    (tmp_path / "x.build.json").write_bytes(record("x", artifact="/t/libx.a", native_static_libs=("-lm",)).to_json())
    assert native_libs_beside(archive) == ("-lm",)
    (tmp_path / "report.json").write_text('{"format": "0"}')  # an older report is no evidence
    assert native_libs_beside(archive) == ("-lm",)


@pytest.mark.parametrize("command", [["verify"], ["status"], ["link-line"], ["exports", "snapshot"], []], ids=str)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("usage: buildlib")


def test_an_exports_file_that_is_not_utf8_is_one_line_and_exit_2(
    tmp_path: Path, archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exports = tmp_path / "exports.txt"
    exports.write_bytes(b"js_ok\n\xff\xfe js_\x80\n")
    assert main(["verify", str(archive), "--exports", str(exports)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {exports}: exports file is not UTF-8 text") and "Traceback" not in err
    assert len(err.splitlines()) == 2 and err.splitlines()[1].startswith("hint: ")


def test_a_system_error_is_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An out-dir below a regular file: the cache cannot be written (an OSError buildlib does not expect)."""
    (tmp_path / "ws" / "src").mkdir(parents=True)
    (tmp_path / "ws" / "Cargo.toml").write_text('[package]\nname = "w"\nversion = "0.1.0"\nedition = "2021"\n')
    (tmp_path / "ws" / "src" / "lib.rs").write_text("")
    (tmp_path / "blocker").write_text("a file, not a directory")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.buildlib]\nworkspace = "ws"\nout-dir = "blocker/build"\n'
        '[tool.buildlib.classes.c]\nlto = "off"\n[tool.buildlib.host]\nsources = ["m.c"]\nprogram = "p"\n'
    )
    assert main(["status", "--project", str(tmp_path / "pyproject.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'blocker'}") and "Not a directory" in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_a_closed_output_pipe_is_silent(tmp_path: Path) -> None:
    """`buildlib exports snapshot big.a | head -1`: no traceback, the shell's code for SIGPIPE."""
    # Far more than a pipe holds (64 KiB), so the writer is still writing when the reader goes.
    names = "".join(f"int js_{i}_{'x' * 60}(void) {{ return {i}; }}\n" for i in range(4000))
    archive = make_ar(tmp_path / "big.a", compile_c(tmp_path, "big", names))
    reader = subprocess.Popen(
        [sys.executable, "-m", "buildlib", "exports", "snapshot", str(archive)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.readline()
    reader.stdout.close()  # the reader goes away after one line
    err = reader.stderr.read().decode()
    assert reader.wait() == 141, err
    assert err == ""


def test_ctrl_c_is_one_line_and_exit_130(
    archive: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import buildlib.cli

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(buildlib.cli, "verify_archive", interrupted)
    assert main(["verify", str(archive), "--expect", "js_ok"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("error: interrupted") and "Traceback" not in err


def test_verify_crate_uses_the_cfg_the_build_recorded_beside_the_archive(tmp_path: Path) -> None:
    from buildlib.probe import recorded_cfg
    from buildlib.records import LinkSymbols, VerifyReport, write_report

    crate_dir = tmp_path / "ext-a"
    (crate_dir / "src").mkdir(parents=True)
    archive = tmp_path / "verified" / "libext_a.a"
    archive.parent.mkdir()
    assert recorded_cfg(archive, crate_dir) is None  # not verified by buildlib: the cfg is not known
    built = record("ext-a", cfg=("unix",), features={"ext-a": ("tracing",)})
    report = VerifyReport(
        name="ext-a",
        crates=("ext-a",),
        routing_class="routed",
        verified_at="now",
        archive_file="libext_a-0.a",
        archive_sha256="0",
        archive_size=0,
        archive_identity=(0, 0, 0),
        native_static_libs=(),
        build=built,
        undecided=(),
        verify={"symbols": []},
        link_symbols=LinkSymbols(symbols=(), builds=()),
    )
    write_report(archive.parent / "report.json", report)
    cfg = recorded_cfg(archive, crate_dir)
    assert cfg is not None and cfg.holds("unix") and cfg.holds('feature="tracing"') and not cfg.holds("windows")


def test_link_line_before_anything_was_verified_says_what_to_run_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ws" / "src").mkdir(parents=True)
    (tmp_path / "ws" / "Cargo.toml").write_text(
        '[package]\nname = "ext-w"\nversion = "0.1.0"\nedition = "2021"\n[lib]\ncrate-type = ["staticlib"]\n'
    )
    (tmp_path / "ws" / "src" / "lib.rs").write_text("")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.buildlib]\nworkspace = "ws"\ndefault-class = "c"\n'
        '[tool.buildlib.classes.c]\nlto = "off"\n[tool.buildlib.host]\nsources = ["m.c"]\nprogram = "p"\n'
    )
    (tmp_path / "m.c").write_text("int main(void) { return 0; }\n")
    assert main(["link-line", "--project", str(tmp_path / "pyproject.toml")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    first, hint = captured.err.splitlines()
    assert first == f"error: {tmp_path / 'pyproject.toml'}: not verified yet: ext-w; the link line needs every archive"
    assert hint == "hint: run doit link first (it builds and verifies them)"
    # --project takes the directory too; with --json the error is also JSON on stdout.
    assert main(["link-line", "--project", str(tmp_path), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "ok": False,
        "error": f"{tmp_path / 'pyproject.toml'}: not verified yet: ext-w; the link line needs every archive",
        "hint": "run doit link first (it builds and verifies them)",
    }
    assert captured.err.splitlines()[0] == first


@pytest.mark.parametrize("fixture", ["macho-arm64.a", "elf-x86_64.a", "thin.a", "elf-x86_64.o"])
def test_snapshot_lists_c_names_of_every_format(fixture: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exports", "snapshot", str(FIXTURES / fixture)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["js_caller", "js_common", "js_hidden", "js_ok", "js_weak"]


@pytest.mark.parametrize(
    ("fixture", "pattern", "expected"),
    [
        ("elf-noindex.a", "*", "the archive has no symbol index, so a linker takes no export from it"),
        ("elf-x86_64.a", "rs_*", "no linkable export matches 'rs_*'; an empty baseline would check nothing"),
    ],
    ids=["no-index", "nothing-matches"],
)
def test_snapshot_never_writes_an_empty_baseline(
    fixture: str, pattern: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["exports", "snapshot", str(FIXTURES / fixture), "--pattern", pattern]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[0] == f"error: {FIXTURES / fixture}: {expected}"


def test_verifying_an_elf_archive_never_imports_lief() -> None:
    """F8: LIEF's import costs about 0.6 s; ELF symbol tables are read with struct."""
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "buildlib",
            "verify",
            str(FIXTURES / "elf-x86_64.a"),
            "--expect",
            "js_ok",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "buildlib.verify" in imported
    assert not any(name == "lief" or name.startswith("lief.") for name in imported)
