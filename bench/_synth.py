"""A synthetic project for bench_build.py: a Cargo workspace of N std-only ext crates, a C host, a buildlib config.

Every export is a small deterministic function of its input whose value this
module also computes in Python, so the generated host can check the answer of
one export per crate: a benchmark of a build that links a wrong program would
measure nothing.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

EXPORTS_PER_CRATE = 20
HOST_INPUT = 0x1234_5678_9ABC_DEF0
_MASK = (1 << 64) - 1
_FNV_PRIME = 0x100_0000_01B3
_FNV_OFFSET = 0xCBF2_9CE4_8422_2325
# Three kinds of work, so each crate pulls in a little of std (iterators, Vec, String formatting).
_KINDS = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class Layout:
    """Where the generated project's parts live, relative to its root."""

    root: Path

    @property
    def workspace(self) -> Path:
        return self.root / "ws"

    @property
    def main_c(self) -> Path:
        return self.root / "host" / "main.c"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def target(self) -> Path:
        return self.workspace / "target"

    def crate_dir(self, name: str) -> Path:
        return self.workspace / name


def crate_name(index: int) -> str:
    return f"ext-{index:03d}"


def lib_name(index: int) -> str:
    return crate_name(index).replace("-", "_")


def export_name(index: int, i: int) -> str:
    return f"js_{lib_name(index)}_{i}"


def _seed(index: int, i: int) -> int:
    return ((index + 1) * 0x9E37_79B9_7F4A_7C15 + i * 0xBF58_476D_1CE4_E5B9) & _MASK


def _rounds(i: int) -> int:
    return 8 + i


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK


def export_value(index: int, i: int, x: int) -> int:
    """What export ``i`` of crate ``index`` returns for ``x``: the Python twin of ``_rust_export``."""
    seed, rounds = _seed(index, i), _rounds(i)
    kind = i % _KINDS
    if kind == 0:
        h = x ^ seed
        for k in range(rounds):
            h = _rotl((h * _FNV_PRIME) & _MASK, k % 31 + 1) ^ k
        return h
    if kind == 1:
        return sum(_rotl(x ^ seed, k % 63 + 1) for k in range(rounds)) & _MASK
    h = _FNV_OFFSET
    for byte in f"{x ^ seed:x}-{rounds}".encode():
        h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return h


def _rust_export(index: int, i: int) -> str:
    name, seed, rounds = export_name(index, i), _seed(index, i), _rounds(i)
    kind = i % _KINDS
    if kind == 0:
        body = (
            f"    let mut h = x ^ {seed:#x};\n"
            f"    for k in 0..{rounds}u64 {{\n"
            f"        h = h.wrapping_mul({_FNV_PRIME:#x}).rotate_left((k % 31 + 1) as u32) ^ k;\n"
            "    }\n"
            "    h\n"
        )
    elif kind == 1:
        body = (
            f"    let parts: Vec<u64> = (0..{rounds}u32).map(|k| (x ^ {seed:#x}).rotate_left(k % 63 + 1)).collect();\n"
            "    parts.iter().fold(0u64, |a, b| a.wrapping_add(*b))\n"
        )
    else:
        body = (
            f'    let text = format!("{{:x}}-{{}}", x ^ {seed:#x}, {rounds});\n'
            f"    text.bytes().fold({_FNV_OFFSET:#x}u64, |h, b| (h ^ b as u64).wrapping_mul({_FNV_PRIME:#x}))\n"
        )
    return f'#[no_mangle]\npub extern "C" fn {name}(x: u64) -> u64 {{\n{body}}}\n'


def crate_source(index: int) -> str:
    exports = "\n".join(_rust_export(index, i) for i in range(EXPORTS_PER_CRATE))
    return f"//! Synthetic ext crate {crate_name(index)} (bench/bench_build.py).\n\n{exports}"


def crate_manifest(index: int) -> str:
    return (
        f'[package]\nname = "{crate_name(index)}"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[lib]\ncrate-type = ["staticlib", "rlib"]\n'
    )


def workspace_manifest(n: int) -> str:
    members = ", ".join(f'"{crate_name(index)}"' for index in range(n))
    return f'[workspace]\nresolver = "2"\nmembers = [{members}]\n\n[profile.release]\ncodegen-units = 1\n'


def host_source(n: int) -> str:
    """A C host calling one export per crate (a different one each) and checking its answer."""
    lines = ["#include <stdint.h>", "#include <stdio.h>", ""]
    checks = []
    for index in range(n):
        i = index % EXPORTS_PER_CRATE
        name = export_name(index, i)
        lines.append(f"uint64_t {name}(uint64_t);")
        checks.append(
            f"    if ({name}(x) != {export_value(index, i, HOST_INPUT):#x}ULL) "
            f'{{ printf("FAIL {name}\\n"); failed++; }}'
        )
    lines += ["", "int main(void) {", f"    const uint64_t x = {HOST_INPUT:#x}ULL;", "    int failed = 0;"]
    lines += checks
    lines += [f'    if (!failed) printf("all {n} checks passed\\n");', "    return failed != 0;", "}", ""]
    return "\n".join(lines)


def pyproject(*, cache: bool = False) -> str:
    """The buildlib configuration; ``cache`` turns the compile cache (sccache) on."""
    return (
        "[tool.buildlib]\n"
        'workspace = "ws"\n'
        'out-dir = "build"\n' + ('cache = "sccache"\n' if cache else "") + 'default-class = "routed"\n\n'
        "[tool.buildlib.classes.routed]\n"
        'lto = "off"\n'
        'method = "staticlib"\n\n'
        "[tool.buildlib.host]\n"
        'sources = ["host/main.c"]\n'
        'program = "host"\n'
        'cc = "cc"\n'
        'cflags = ["-O2", "-Wall"]\n'
    )


def write_project(root: Path, n: int, dodo: Path) -> Layout:
    """Write the whole project under ``root`` (which must not exist); ``dodo`` is copied beside the config."""
    layout = Layout(root=root)
    layout.workspace.mkdir(parents=True)
    (layout.workspace / "Cargo.toml").write_text(workspace_manifest(n))
    for index in range(n):
        src = layout.crate_dir(crate_name(index)) / "src"
        src.mkdir(parents=True)
        (src.parent / "Cargo.toml").write_text(crate_manifest(index))
        (src / "lib.rs").write_text(crate_source(index))
    layout.main_c.parent.mkdir()
    layout.main_c.write_text(host_source(n))
    (root / "pyproject.toml").write_text(pyproject())
    shutil.copy2(dodo, root / "dodo.py")
    return layout


def touch_crate(layout: Layout, index: int, tag: str) -> str:
    """Append a new export to one crate's lib.rs, as an edit would; returns its name."""
    name = f"js_{lib_name(index)}_touch_{tag}"
    with (layout.crate_dir(crate_name(index)) / "src" / "lib.rs").open("a") as handle:
        handle.write(f'\n#[no_mangle]\npub extern "C" fn {name}(x: u64) -> u64 {{\n    x.rotate_left(7) ^ 0x5a\n}}\n')
    return name
