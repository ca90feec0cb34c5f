"""Routing classes end to end: the LTO cargo really applies is recorded, switching one class's
mode rebuilds only that class, and a bitcode-only class is stopped at verify, not at the link.

One copy of the project with its own [tool.buildlib] classes; tests run in file order.
"""

from __future__ import annotations

import json

import pytest

from .conftest import Project, copy_project, executed

pytestmark = pytest.mark.integration

CLASSES = """
[tool.buildlib.classes.routed]
lto = "off"
method = "staticlib"
crates = ["ext-zlib", "ext-events"]

[tool.buildlib.classes.together]
lto = "{together_lto}"
method = "{together_method}"
depends-on = ["runtime"]

[tool.buildlib.classes.hot]
lto = "thin"
method = "staticlib"
crates = ["ext-hash"]
rustflags = {hot_flags}
seal = {hot_seal}
"""


def configure(
    project: Project,
    *,
    together_lto: str = "thin",
    together_method: str = "together",
    hot_flags: str = "[]",
    hot_seal: str = "true",
) -> None:
    pyproject = project.root / "pyproject.toml"
    text = pyproject.read_text()
    head = text[: text.index("[tool.buildlib.classes.")]
    tail = text[text.index("[tool.buildlib.host]") :]
    pyproject.write_text(
        head
        + CLASSES.format(
            together_lto=together_lto, together_method=together_method, hot_flags=hot_flags, hot_seal=hot_seal
        )
        + "\n"
        + tail
    )


def record(project: Project, routing_class: str, crate: str) -> dict[str, object]:
    path = project.root / "build" / "archives" / routing_class / f"{crate}.build.json"
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = copy_project(tmp_path_factory.mktemp("classes"))
    configure(project)
    return project


def test_records_show_the_lto_cargo_really_applied(project: Project) -> None:
    result = project.doit("link")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # thin under `together`: the crates also build an rlib, so cargo passes no -C lto (F1).
    assert (
        "warning: tool.buildlib.classes.together.lto: 'thin' is requested, but ext-net, ext-timers also build an rlib"
        in output
    )
    assert "build:together: ext-net built in" in output and "(lto=thin NOT applied: cargo passed no -C lto)" in output
    net = record(project, "together", "ext-net")
    assert (net["lto"], net["lto_passed"], net["lto_observed"], net["lto_applied"]) == ("thin", None, True, False)
    # thin under `staticlib`: cargo rustc --crate-type staticlib, and cargo passes -C lto=thin (F2).
    hot = record(project, "hot", "ext-hash")
    assert (hot["lto"], hot["lto_passed"], hot["lto_applied"]) == ("thin", "thin", True)
    assert any(source.endswith("ext-hash/src/lib.rs") for source in hot["sources"])  # type: ignore[attr-defined]
    assert str(hot["toolchain"]).startswith("cargo 1.") and ", rustc 1." in str(hot["toolchain"])
    assert project.run_program().returncode == 0

    status = project.python("-m", "buildlib", "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = {row["crate"]: row for row in json.loads(status.stdout)}
    assert (rows["ext-net"]["lto_requested"], rows["ext-net"]["lto_applied"]) == ("thin", False)
    assert (rows["ext-hash"]["lto_passed"], rows["ext-hash"]["lto_applied"]) == ("thin", True)
    assert rows["ext-zlib"]["exports_ok"] == rows["ext-zlib"]["exports_expected"] == 4
    table = project.python("-m", "buildlib", "status").stdout
    assert "NO (no -C lto)" in table


def test_switching_one_class_lto_rebuilds_only_that_class(project: Project) -> None:
    configure(project, together_lto="off")
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    (call,) = project.calls
    assert call.startswith("build --lib -p ext-net -p ext-timers ")
    assert executed(result) == {"build:together", "verify:ext-net", "verify:ext-timers", "link"}
    net = record(project, "together", "ext-net")
    assert (net["lto"], net["lto_passed"], net["lto_applied"]) == ("off", "off", True)


def test_a_bitcode_only_class_is_stopped_at_verify(project: Project) -> None:
    configure(project, together_lto="off", hot_flags='["-Clinker-plugin-lto"]')
    program_before = project.program.stat().st_mtime_ns
    result = project.doit("link")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert executed(result) == {"build:ext-hash", "verify:ext-hash"}
    assert "verify:ext-hash: 3 of 3 expected exports cannot be linked" in output
    assert "js_hash_next_id: bitcode-only" in output and "-Clinker-plugin-lto" in output
    assert "Traceback" not in output
    assert project.program.stat().st_mtime_ns == program_before

    configure(project, together_lto="off")  # back to machine code: the next run recovers
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    assert project.run_program().returncode == 0


def test_guard_rail_stops_an_unsealed_thin_archive_before_any_build(project: Project) -> None:
    configure(project, together_lto="off", hot_seal="false")
    result = project.doit("link")
    assert result.returncode == 2
    assert (
        "tool.buildlib.classes.hot.lto: the thin-LTO archive of ext-hash links beside other Rust archives "
        "(ext-zlib, ext-events, ext-net and 1 more) only when sealed"
    ) in result.stderr
    assert "hint: add seal = true to its class" in result.stderr
    assert [c for c in project.calls if not c.startswith(("metadata", "-vV"))] == []


def test_a_bundle_class_links_one_archive_with_one_runtime_copy(project: Project) -> None:
    configure(project, together_lto="off", together_method="bundle")
    result = project.doit("link")
    assert result.returncode == 0, result.stdout + result.stderr
    # One archive, verified once against both crates' exports; verify:<crate> still names each crate.
    assert executed(result) >= {"build:together", "verify:together", "link"}
    bundled = record(project, "together", "together")
    assert str(bundled["artifact"]).endswith("libbuildlib_bundle_together.a")
    assert (bundled["lto_passed"], bundled["lto_applied"]) == ("off", True)
    report = json.loads((project.root / "build" / "verified" / "together" / "report.json").read_text())
    assert report["crates"] == ["ext-net", "ext-timers"]
    assert {s["name"][: len("js_net_")] for s in report["verify"]["symbols"]} == {"js_net_", "js_time"}
    (link,) = project.links
    archives = [arg for arg in link if arg.endswith(".a")]
    assert len(archives) == 4 and any("libbuildlib_bundle_together-" in a for a in archives)
    assert "symbols of runtime are defined by" not in result.stderr  # one archive carries the one runtime
    run = project.run_program()
    assert run.returncode == 0 and "ok   runtime: ext-net and ext-timers see one runtime instance" in run.stdout
    alias = project.doit("verify:ext-net")
    assert alias.returncode == 0 and executed(alias) == set(), "up to date: the bundle was verified once"
