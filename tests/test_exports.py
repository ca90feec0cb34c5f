from __future__ import annotations

from pathlib import Path

import pytest

from buildlib.exports import Cfg, blank_comments_and_strings, read_exports_file, scan_crate, scan_source

FILE = Path("lib.rs")


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ('#[no_mangle]\npub extern "C" fn js_a() {}', ["js_a"]),
        ('#[no_mangle]\npub unsafe extern "C" fn js_b(p: *const u8) {}', ["js_b"]),
        ('#[unsafe(no_mangle)]\npub extern "C" fn js_c() {}', ["js_c"]),
        ('#[ unsafe ( no_mangle ) ]\nextern "C-unwind" fn js_d() {}', ["js_d"]),
        ('#[export_name = "js_named"]\npub extern "C" fn inner() {}', ["js_named"]),
        ('#[unsafe(export_name = "js_unsafe_named")]\nfn inner() {}', ["js_unsafe_named"]),
        ("#[no_mangle]\npub static JS_TABLE: [u8; 4] = [0; 4];", ["JS_TABLE"]),
        ("#[no_mangle]\npub static mut JS_COUNTER: u32 = 0;", ["JS_COUNTER"]),
        ('#[inline(never)]\n#[no_mangle]\n#[doc = "x"]\npub(crate) extern "C" fn js_multi() {}', ["js_multi"]),
        ("mod inner {\n    #[no_mangle]\n    fn js_private() {}\n}", ["js_private"]),
        ('#[no_mangle]\npub extern "C" fn r#js_raw() {}', ["js_raw"]),
        ('#[no_mangle]\npub const unsafe extern "C" fn js_const() {}', ["js_const"]),
        # Not exports:
        ('// #[no_mangle]\npub extern "C" fn js_commented() {}', []),
        ('/* #[no_mangle] /* nested */ */\npub extern "C" fn js_block() {}', []),
        ('const S: &str = "#[no_mangle] fn js_in_string() {}";', []),
        ('const S: &str = r#"#[no_mangle] fn js_raw_string() {}"#;', []),
        ('#[inline]\npub extern "C" fn js_plain() {}', []),
        ("#[no_mangle]\n// the attribute is on the item below\nstruct NotAFunction;", []),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_scan_finds_exactly_the_exports(source: str, names: list[str]) -> None:
    assert scan_source(source, FILE).names == names


def test_lifetimes_and_char_literals_do_not_confuse_the_scanner() -> None:
    source = (
        "fn f<'a>(s: &'a str) -> char { let q = '\"'; let e = '\\''; q }\n"
        '#[no_mangle]\npub extern "C" fn js_after_chars() {}\n'
    )
    assert scan_source(source, FILE).names == ["js_after_chars"]


def test_line_numbers_survive_multiline_strings_and_comments() -> None:
    source = 'const S: &str = "a\nb\nc";\n/*\n\n*/\n#[no_mangle]\nextern "C" fn js_x() {}\n'
    (export,) = scan_source(source, FILE).exports
    assert (export.name, export.line) == ("js_x", 8)


def test_cfg_attr_and_macros_are_reported_as_undecided() -> None:
    source = (
        '#[cfg_attr(feature = "ffi", no_mangle)]\npub extern "C" fn js_maybe() {}\n'
        'macro_rules! export {\n    ($n:ident) => { #[no_mangle] pub extern "C" fn $n() {} };\n}\n'
    )
    scan = scan_source(source, FILE)
    assert scan.names == []
    reasons = [u.reason for u in scan.undecided]
    assert any("js_maybe" in r and "cfg_attr" in r for r in reasons)
    assert any("macro" in r for r in reasons)


def test_blanking_keeps_length_of_comments_and_numbers_strings() -> None:
    text, strings = blank_comments_and_strings('a // c\nb "s" c')
    assert text == 'a     \nb "0" c'
    assert strings == ["s"]


def test_scan_crate_reads_every_module(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "net").mkdir(parents=True)
    (src / "lib.rs").write_text('mod net;\n#[no_mangle]\npub extern "C" fn js_root() {}\n')
    (src / "net" / "mod.rs").write_text('#[unsafe(export_name = "js_net_send")]\npub extern "C" fn send() {}\n')
    assert scan_crate(src / "lib.rs").names == ["js_net_send", "js_root"]


def test_the_fixture_crates_declare_their_exports() -> None:
    fixtures = Path(__file__).resolve().parent.parent / "crates-fixtures"
    assert scan_crate(fixtures / "ext-hash" / "src" / "lib.rs").names == [
        "js_hash_fnv1a64",
        "js_hash_next_id",
        "js_hash_to_hex",
    ]
    events = scan_crate(fixtures / "ext-events" / "src" / "lib.rs").names
    assert events == [
        "js_events_emit",
        "js_events_emitter_free",
        "js_events_emitter_new",
        "js_events_listener_count",
        "js_events_on",
    ]
    assert scan_crate(fixtures / "runtime" / "src" / "lib.rs").names == []


def test_exports_file_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "exports.txt"
    path.write_text("# the C surface\njs_a\n\n  js_b  # trailing comment\n")
    assert read_exports_file(path) == ["js_a", "js_b"]


CFG_SOURCE = """
#[no_mangle] pub extern "C" fn js_always() {}
#[cfg(windows)] #[no_mangle] pub extern "C" fn js_windows() {}
#[cfg(unix)]
#[no_mangle]
pub extern "C" fn js_unix() {}
#[cfg(feature = "tracing")] #[no_mangle] pub extern "C" fn js_traced() {}
#[cfg(all(target_os = "linux", not(feature = "tracing")))] #[no_mangle] pub extern "C" fn js_linux_plain() {}
#[cfg(any(windows, target_os = "macos"))] #[unsafe(export_name = "js_other")] pub extern "C" fn other() {}
#[cfg(test)]
mod tests {
    #[no_mangle] pub extern "C" fn js_only_in_tests() {}
}
#[cfg(feature = "tracing")]
pub mod traced {
    #[no_mangle] pub extern "C" fn js_traced_mod() {}
}
#[cfg(weird-token)] #[no_mangle] pub extern "C" fn js_unreadable() {}
"""
LINUX = ("unix", 'target_os="linux"', 'target_family="unix"', 'panic="unwind"')


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ((), ["js_always", "js_linux_plain", "js_unix"]),
        (("tracing",), ["js_always", "js_traced", "js_traced_mod", "js_unix"]),
    ],
    ids=["feature-off", "feature-on"],
)
def test_exports_behind_cfg_follow_the_builds_cfg_set(features: tuple[str, ...], expected: list[str]) -> None:
    scan = scan_source(CFG_SOURCE, Path("lib.rs"), Cfg.of(LINUX, features))
    assert scan.names == expected
    assert [u.reason for u in scan.undecided] == ["a cfg this scanner cannot read decides 'js_unreadable'"]


def test_without_a_cfg_set_only_cfg_test_is_known() -> None:
    names = scan_source(CFG_SOURCE, Path("lib.rs")).names
    assert "js_only_in_tests" not in names, "test is never set in a library build"
    assert {"js_windows", "js_traced", "js_unix"} <= set(names)
