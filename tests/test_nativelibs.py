"""native-static-libs without rustc's --print: cargo's link requests as rustc prints them, rustc's
order, and std's libraries from a real probe, cached."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from buildlib.nativelibs import combine, link_lib_flags, probe_std_libs, staticlib_native_libs

from .conftest import PROJECT


@pytest.mark.parametrize(
    ("spec", "flags"),
    [
        ("z", ["-lz"]),
        ("dylib=z", ["-lz"]),
        ("dylib:+verbatim=libz.so.1", ["-l:libz.so.1"]),
        ("static=native_scale", []),
        ("static:+whole-archive=foo", []),
        ("static:-bundle=foo", ["-lfoo"]),
        ("static:-bundle,+whole-archive=foo", ["-lfoo"]),
        ("framework=Security", ["-framework", "Security"]),
        ("dylib=old:new", ["-lnew"]),
    ],
    ids=[
        "plain",
        "dylib",
        "verbatim",
        "static-bundled",
        "whole-archive",
        "unbundled",
        "modifiers",
        "framework",
        "rename",
    ],
)
def test_cargo_link_requests_as_rustc_prints_them(spec: str, flags: list[str]) -> None:
    assert link_lib_flags(spec) == flags


def test_rustc_order_dependencies_then_std_then_own_with_neighbours_merged() -> None:
    std = ("-lgcc_s", "-lc")
    scripts = [
        ("pkg-b", ("dylib=b",)),  # cargo ran b's build script first: rustc lists a before b
        ("pkg-a", ("dylib=a", "dylib=a")),
        ("top", ("own", "static=bundled")),
        ("sibling", ("dylib=s",)),  # another staticlib of the same cargo call
    ]
    assert staticlib_native_libs(std, scripts, {"top"}, {"sibling"}) == ("-la", "-lb", "-lgcc_s", "-lc", "-lown")
    assert combine(["-lm"], ["-lm", "-lc"], ["-lc"]) == ("-lm", "-lc")


def test_the_probe_asks_rustc_once_per_toolchain_target_and_flags(tmp_path: Path) -> None:
    cache = tmp_path / "native-libs.json"

    def probe(flags: list[str]) -> tuple[str, ...]:
        return probe_std_libs(
            "toolchain-a", rustc="rustc", target=None, flags=flags, cwd=PROJECT, cache=cache, environ=os.environ
        )

    libs = probe([])
    # What rustc 1.95 prints for std on x86_64 Linux (F6).
    assert "-lc" in libs and libs == ("-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc")
    (key,) = json.loads(cache.read_text())
    cache.write_text(json.dumps({key: ["-lfrom-the-cache"]}))
    assert probe([]) == ("-lfrom-the-cache",)
    assert probe(["-Copt-level=1"]) == libs  # other flags: asked again, and kept beside the first
    assert len(json.loads(cache.read_text())) == 2
