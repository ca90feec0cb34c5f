from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from buildlib._toml import tomllib
from buildlib.bundle import workspace_profiles
from buildlib.cargoenv import check_rustc_wrapper, check_target_rustflags
from buildlib.config import parse_config
from buildlib.errors import ConfigError
from buildlib.plan import make_plan, profile_name

from .conftest import TOOLCHAIN, config_data, plan_for, workspace


def test_routes_follow_class_order_then_list_order_then_default_members(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    assert [(r.crate.name, r.routing_class.name) for r in plan.routes] == [
        ("ext-b", "routed"),
        ("ext-a", "routed"),
        ("ext-e", "routed"),  # not listed: the default class, after the listed crates
        ("ext-c", "shared"),
        ("ext-d", "shared"),
    ]
    assert "rt" not in {r.crate.name for r in plan.routes}


def test_an_lto_off_staticlib_class_is_one_cargo_build_and_thin_one_call_per_crate(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    assert [(u.name, [c.name for c in u.crates]) for u in plan.units] == [
        ("routed", ["ext-b", "ext-a", "ext-e"]),
        ("shared", ["ext-c", "ext-d"]),
    ]
    (routed, _) = plan.units
    assert routed.command[:3] == ("cargo", "build", "--lib")
    assert [routed.command[i + 1] for i, arg in enumerate(routed.command) if arg == "-p"] == ["ext-b", "ext-a", "ext-e"]
    thin = plan_for(tmp_path, classes=thin_routed())
    assert [(u.name, [c.name for c in u.crates]) for u in thin.units][:3] == [
        ("ext-b", ["ext-b"]),
        ("ext-a", ["ext-a"]),
        ("ext-e", ["ext-e"]),
    ]


def thin_routed() -> dict[str, Any]:
    classes: dict[str, Any] = config_data()["classes"]
    classes["routed"] = {**classes["routed"], "lto": "thin"}
    return classes


def test_staticlib_command_makes_cargo_apply_the_class_lto(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, classes=thin_routed())
    command = plan.units[0].command
    assert command[:7] == ("cargo", "rustc", "-p", "ext-b", "--lib", "--crate-type", "staticlib")
    profile = profile_name(plan.units[0].routing_class)
    assert profile == "buildlib-routed"
    text = " ".join(command)
    assert f"--profile {profile}" in text
    assert f'--config profile.{profile}.inherits="release"' in text
    assert f'--config profile.{profile}.lto="thin"' in text
    assert '--config build.rustflags=["--print=native-static-libs"]' in text
    assert "--message-format json" in text
    assert f"--manifest-path {tmp_path / 'ws' / 'Cargo.toml'}" in text


def test_together_command_builds_all_class_crates_in_one_call(tmp_path: Path) -> None:
    command = plan_for(tmp_path).units[-1].command
    assert command[:3] == ("cargo", "build", "--lib")
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "-p"] == ["ext-c", "ext-d"]
    assert "profile.buildlib-shared.codegen-units=2" in command
    assert 'profile.buildlib-shared.lto="thin"' in command


def test_outputs_are_separated_by_class_and_by_crate(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    staticlib = plan.route("ext-c").staticlib
    out = tmp_path / "build"
    assert staticlib.built == out / "archives" / "shared" / "libext_c.a"
    assert staticlib.record == out / "archives" / "shared" / "ext-c.build.json"
    assert staticlib.verified_archive == out / "verified" / "ext-c" / "libext_c.a"
    assert staticlib.report == out / "verified" / "ext-c" / "report.json"
    assert plan.program == out / "bin" / "app"


def test_unlisted_ext_crate_without_default_class_is_an_error(tmp_path: Path) -> None:
    data = config_data()
    del data["default-class"]
    config = parse_config(data, file=tmp_path / "pyproject.toml")
    with pytest.raises(ConfigError, match="ext crate 'ext-e' is in no class") as caught:
        make_plan(config, workspace(tmp_path / "ws"), TOOLCHAIN, {})
    assert caught.value.key == "tool.buildlib.default-class"


@pytest.mark.parametrize(
    ("crates", "key", "text"),
    [
        (["ext-b", "ext-aa"], "tool.buildlib.classes.routed.crates[1]", "did you mean 'ext-a'"),
        (["rt"], "tool.buildlib.classes.routed.crates[0]", "does not build a staticlib"),
    ],
    ids=["unknown-crate", "not-a-staticlib"],
)
def test_class_listing_a_wrong_crate_names_the_entry(tmp_path: Path, crates: list[str], key: str, text: str) -> None:
    data = config_data()
    data["classes"]["routed"]["crates"] = crates
    config = parse_config(data, file=tmp_path / "pyproject.toml")
    with pytest.raises(ConfigError) as caught:
        make_plan(config, workspace(tmp_path / "ws"), TOOLCHAIN, {})
    assert caught.value.key == key
    assert text in f"{caught.value} {caught.value.hint}"


def test_a_class_named_like_a_crate_collides_with_its_build_task(tmp_path: Path) -> None:
    data = config_data()
    data["classes"]["routed"]["lto"] = "thin"  # one unit per crate, named after it
    data["classes"]["ext-e"] = {"lto": "off", "method": "together", "crates": ["ext-c"]}
    data["classes"]["shared"]["crates"] = ["ext-d"]
    config = parse_config(data, file=tmp_path / "pyproject.toml")
    with pytest.raises(ConfigError, match=r"build unit name 'ext-e' is taken by both a class and a crate"):
        make_plan(config, workspace(tmp_path / "ws"), TOOLCHAIN, {})


def test_fingerprint_changes_with_the_command_and_the_toolchain(tmp_path: Path) -> None:
    unit = plan_for(tmp_path).units[0]
    assert json.dumps(unit.command) in unit.fingerprint
    assert "rustc 1.95.0 (59807616e" in unit.fingerprint
    assert plan_for(tmp_path, {"RUSTFLAGS": "-Copt-level=1"}).units[0].fingerprint != unit.fingerprint


def test_rustflags_in_the_environment_are_merged_with_the_class_flags_not_replacing_them(tmp_path: Path) -> None:
    """F12: RUSTFLAGS replaces --config build.rustflags; buildlib passes both in CARGO_ENCODED_RUSTFLAGS."""
    plain = plan_for(tmp_path).units[0]
    assert 'build.rustflags=["--print=native-static-libs"]' in plain.command and plain.env == ()
    for environ in (
        {"RUSTFLAGS": "-C  debug-assertions=on -Cforce-frame-pointers"},
        {
            "CARGO_ENCODED_RUSTFLAGS": "-C\x1fdebug-assertions=on\x1f-Cforce-frame-pointers",
            "RUSTFLAGS": "ignored, as cargo ignores it",
        },
    ):
        unit = plan_for(tmp_path, environ).units[0]
        assert not any(arg.startswith("build.rustflags") for arg in unit.command)
        assert dict(unit.env) == {
            "CARGO_ENCODED_RUSTFLAGS": "-C\x1fdebug-assertions=on\x1f-Cforce-frame-pointers\x1f--print=native-static-libs",
            "RUSTFLAGS": None,
        }


def test_with_the_cache_rustc_runs_through_sccache_and_prints_nothing(tmp_path: Path) -> None:
    """F14: sccache caches no rustc call with --print, and RUSTC_WRAPPER wins over any configured wrapper."""
    config = parse_config({**config_data(), "cache": "sccache"}, file=tmp_path / "pyproject.toml")
    sccache = tmp_path / "bin" / "sccache"
    environ = {"RUSTFLAGS": "-g", "RUSTC": "/opt/rustc"}
    plain = plan_for(tmp_path, environ).units[0]
    unit = make_plan(config, workspace(tmp_path / "ws"), TOOLCHAIN, environ, sccache=sccache).units[0]
    assert not any("native-static-libs" in arg for arg in unit.command)
    assert dict(unit.env) == {"CARGO_ENCODED_RUSTFLAGS": "-g", "RUSTFLAGS": None, "RUSTC_WRAPPER": str(sccache)}
    assert unit.fingerprint != plain.fingerprint and plain.cache is None
    assert unit.cache is not None
    assert (unit.cache.tool, unit.cache.rustc, unit.cache.target, unit.cache.rustflags) == (
        sccache,
        "/opt/rustc",
        None,
        ("-g",),
    )
    assert unit.cache.lock == tmp_path / "build" / ".buildlib" / "sccache.lock"


@pytest.mark.parametrize(
    ("environ", "config", "message"),
    [
        ({"RUSTC_WRAPPER": "/usr/bin/ccache"}, None, "environment: RUSTC_WRAPPER: '/usr/bin/ccache' would be replaced"),
        ({"CARGO_BUILD_RUSTC_WRAPPER": "wrap"}, None, "environment: CARGO_BUILD_RUSTC_WRAPPER: 'wrap' would be"),
        ({}, "[build]\nrustc-wrapper = 'cachepot'\n", "config.toml: build.rustc-wrapper: 'cachepot' would be"),
    ],
    ids=["env", "build-env", "config-file"],
)
def test_a_rustc_wrapper_the_cache_would_replace_is_refused(
    tmp_path: Path, environ: dict[str, str], config: str | None, message: str
) -> None:
    ws = tmp_path / "ws"
    home = {"CARGO_HOME": str(tmp_path / "home")}
    if config is not None:
        (ws / ".cargo").mkdir(parents=True)
        (ws / ".cargo" / "config.toml").write_text(config)
    with pytest.raises(ConfigError, match=message) as caught:
        check_rustc_wrapper(ws, {**home, **environ})
    assert "remove tool.buildlib.cache" in (caught.value.hint or "")
    # sccache itself, or an empty value (no wrapper), is what the cache does anyway.
    check_rustc_wrapper(tmp_path / "elsewhere", {**home, "RUSTC_WRAPPER": "/usr/local/bin/sccache"})
    check_rustc_wrapper(tmp_path / "elsewhere", {**home, "RUSTC_WRAPPER": ""})


def test_target_rustflags_that_would_drop_the_class_flags_are_refused(tmp_path: Path) -> None:
    variable = "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS"
    ws = tmp_path / "ws"
    with pytest.raises(ConfigError, match=f"environment: {variable}: target rustflags replace") as caught:
        check_target_rustflags(ws, {variable: "-Ctarget-cpu=native"})
    assert "tool.buildlib.classes.<class>.rustflags" in (caught.value.hint or "")
    config = ws / ".cargo" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[target.'cfg(unix)']\nrustflags = ['-Ctarget-cpu=native']\n")
    home = {"CARGO_HOME": str(tmp_path / "home")}
    with pytest.raises(ConfigError, match=r"config.toml: target.cfg\(unix\).rustflags: target rustflags"):
        check_target_rustflags(ws, home)
    # With RUSTFLAGS set, cargo ignores target rustflags and buildlib merges RUSTFLAGS: nothing to refuse.
    check_target_rustflags(ws, {**home, "RUSTFLAGS": "-g"})


def test_depends_on_rule_routes_crates_that_reach_the_runtime(tmp_path: Path) -> None:
    data = config_data()
    data["classes"]["shared"] = {"lto": "off", "method": "together", "depends-on": ["rt"]}
    config = parse_config(data, file=tmp_path / "pyproject.toml")
    plan = make_plan(config, workspace(tmp_path / "ws"), TOOLCHAIN, {})
    assert [r.crate.name for r in plan.routes if r.routing_class.name == "shared"] == ["ext-c", "ext-d"]


def test_a_crate_claimed_by_a_list_and_a_rule_of_two_classes_is_an_error(tmp_path: Path) -> None:
    data = config_data()
    data["classes"]["routed"]["crates"] = ["ext-a", "ext-c"]
    data["classes"]["shared"] = {"lto": "off", "method": "together", "depends-on": ["rt"]}
    config = parse_config(data, file=tmp_path / "pyproject.toml")
    with pytest.raises(ConfigError, match="crate 'ext-c' is claimed by 2 classes") as caught:
        make_plan(config, workspace(tmp_path / "ws"), TOOLCHAIN, {})
    message = str(caught.value)
    assert "listed in tool.buildlib.classes.routed.crates[1]" in message
    assert "depends on 'rt' (tool.buildlib.classes.shared.depends-on)" in message


def test_depends_on_an_unknown_crate_is_an_error(tmp_path: Path) -> None:
    data = config_data()
    data["classes"]["shared"]["depends-on"] = ["rtt"]
    config = parse_config(data, file=tmp_path / "pyproject.toml")
    with pytest.raises(ConfigError, match="no crate 'rtt'") as caught:
        make_plan(config, workspace(tmp_path / "ws"), TOOLCHAIN, {})
    assert caught.value.key == "tool.buildlib.classes.shared.depends-on[0]"
    assert caught.value.hint == "did you mean 'rt'?"


def test_a_bundle_class_is_one_cargo_call_on_a_generated_crate(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "Cargo.toml").write_text(
        '[workspace]\nmembers = []\n[profile.release]\ncodegen-units = 1\npanic = "abort"\n'
        "[profile.release.package.ext-c]\nopt-level = 2\n"
    )
    data = config_data()
    data["classes"]["shared"]["method"] = "bundle"
    profiles = workspace_profiles(ws)
    plan = make_plan(parse_config(data, file=tmp_path / "pyproject.toml"), workspace(ws), TOOLCHAIN, {}, profiles)
    unit = plan.units[-1]
    assert unit.bundle is not None and unit.bundle.lib_name == "buildlib_bundle_shared"
    text = " ".join(unit.command)
    assert f"--manifest-path {tmp_path / 'build' / 'bundles' / 'shared' / 'Cargo.toml'}" in text
    assert f"--target-dir {ws / 'target'}" in text and "-p " not in text
    (bundled,) = unit.staticlibs  # one archive, verified and stored once, for every crate of the class
    assert (bundled.name, bundled.built.name) == ("shared", "libbuildlib_bundle_shared.a")
    assert [c.name for c in bundled.crates] == ["ext-c", "ext-d"] and bundled.label == "shared (ext-c, ext-d)"
    assert bundled.report == tmp_path / "build" / "verified" / "shared" / "report.json"
    assert {r.staticlib for r in plan.routes if r.routing_class.name == "shared"} == {bundled}
    manifest = unit.bundle.manifest
    assert 'crate-type = ["staticlib"]' in manifest and f'"ext-c" = {{ path = "{ws / "ext-c"}" }}' in manifest
    assert '[profile."release"]' in manifest and '"panic" = "abort"' in manifest
    assert '[profile."release"."package"."ext-c"]' in manifest and '"opt-level" = 2' in manifest
    assert manifest in unit.fingerprint
    assert tomllib.loads(manifest)["profile"]["release"]["package"]["ext-c"]["opt-level"] == 2


def test_per_crate_expectations_reach_the_staticlib_that_carries_the_crate(tmp_path: Path) -> None:
    (tmp_path / "extra.txt").write_text("js_from_file\n")
    plan = plan_for(
        tmp_path,
        crates={"ext-c": {"expect": ["js_macro_made"], "ignore": ["js_windows_only"], "exports": "extra.txt"}},
    )
    staticlib = plan.route("ext-c").staticlib
    assert (staticlib.expect, staticlib.ignore, staticlib.exports_files) == (
        ("js_macro_made",),
        ("js_windows_only",),
        (tmp_path / "extra.txt",),
    )
    assert plan.route("ext-d").staticlib.expect == ()
    with pytest.raises(ConfigError, match=r"tool.buildlib.crates.ext-zz: no crate 'ext-zz'"):
        plan_for(tmp_path, crates={"ext-zz": {"expect": ["x"]}})
    with pytest.raises(ConfigError, match=r"tool.buildlib.crates.ext-c.expected: unknown key"):
        plan_for(tmp_path, crates={"ext-c": {"expected": ["x"]}})
