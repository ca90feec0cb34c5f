"""Which mixes of Rust staticlib archives link with gcc and run: a measured LTO matrix.

For each fixture Cargo workspace (`crates-fixtures/`, std-only crates, and
`crates-fixtures/real/`, registry crates tokio/flate2/serde_json built offline from
Debian's registry), the script copies the workspace to a temporary directory, builds
every archive the matrix needs ONCE, then links the workspace's C host program
against many archive lines and runs it:

    gcc <cflags> host/main.c <archives, in order> <union of native-static-libs> -o host
    ./host            # exit 0: every check of every crate passed

Dimensions of one row (one link line):

* LTO mode of each archive: `off`, `thin` or `fat`, each built under its own custom
  cargo profile `lto-<mode>` (`--profile lto-<mode> --config
  'profile.lto-<mode>.inherits="release"' --config 'profile.lto-<mode>.lto="<mode>"'`).
* Build method: `staticlib` = `cargo rustc -p <crate> --lib --crate-type staticlib`
  per crate (cargo then really passes `-C lto=<mode>`); `bundle` = one generated
  wrapper crate (staticlib only) with path dependencies on several ext crates and a
  `pub use <crate>;` line each, built the same way: one archive, one std, one runtime.
* Position of the LTO archive(s) on the line: first, middle, last.
* Number of Rust archives on the line. The host calls every crate's exports, so
  every line carries every crate; what varies is how crates are grouped into
  archives: 1 (one bundle of all), 2 (one crate + a bundle of the rest), 4 (every
  standalone crate alone + the two shared-runtime crates in one bundle) and 5
  (every crate alone: the shared runtime is then in two archives).
* Sealed or not: `ld -r --whole-archive lib.a -o all.o`, `objcopy
  --keep-global-symbols=LIST --remove-section=.llvmbc --remove-section=.llvmcmd
  all.o sealed.o`, `ar rcs libsealed.a sealed.o`; LIST = the crate's C exports
  (`no_mangle` / `export_name` items in its sources) that `readelf -Ws` shows as
  GLOBAL DEFAULT defined symbols of the archive ("sealed", the F17 recipe), or that
  LIST plus the weak hidden `DW.ref.*` symbols ("sealed+dw").

Row families (4-archive line = every standalone crate alone + the shared-runtime bundle):
  A one LTO/sealed archive among off archives, first / middle / last, for each archive;
  B every archive of the 4-archive line in one mode and seal flavour;
  C two LTO archives among off archives (first two / first+last / last two);
  D 2 archives: one crate + a bundle of every other crate, each in every mode, both orders;
  E 1 archive: a bundle of every crate, every mode and seal flavour;
  F 5 archives: the shared-runtime crates in two archives (two copies of `runtime`),
    also with one of them built at another opt-level (`off-o2`);
  G every other order of the 4 off archives.

Each row records: links (gcc exit 0), the number of `multiple definition` and
`undefined reference` lines, the host's exit code and its number of FAIL lines.
Output: Markdown (archives built, the full row table, and pivot tables), on stdout
or into --out. Progress lines go to stderr.

    python bench/lto_matrix.py                           # both workspaces, full matrix
    python bench/lto_matrix.py --workspace fixtures --quick
    python bench/lto_matrix.py --out /tmp/lto-table.md --work-dir /tmp/lto-work

--work-dir keeps the copies and their target/ directories (a second run reuses the
builds); without it a temporary directory is used and removed. Standard library only;
it does not import buildlib: it measures raw cargo, gcc, ld, objcopy behaviour.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "crates-fixtures"
MODES = ("off", "thin", "fat")
# Profile settings per mode. `off-o2` is `off` built with another opt-level: the same code in
# another build, whose crates get other `-C metadata` hashes, so other symbol names.
PROFILE_SETTINGS = {
    "off": ('lto="off"',),
    "thin": ('lto="thin"',),
    "fat": ('lto="fat"',),
    "off-o2": ('lto="off"', "opt-level=2"),
}
# How an archive goes on the line: as cargo built it, sealed by the F17 recipe, or sealed
# keeping the weak hidden `DW.ref.*` COMDAT symbols global too (see seal()).
PLAIN, SEALED, SEALED_DW = "", "sealed", "sealed+dw"
SEALS = (PLAIN, SEALED, SEALED_DW)
LTO_VARIANTS = tuple((mode, s) for mode in MODES for s in SEALS if (mode, s) != ("off", PLAIN))
HOST_TIMEOUT = 30.0
LINK_TIMEOUT = 600.0
# Variables that would change what cargo builds behind the script's back (F5, F12).
_SCRUBBED_PREFIXES = ("CARGO_PROFILE_", "CARGO_BUILD_")
_SCRUBBED = ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_TARGET_DIR", "RUSTC_WRAPPER", "CARGO_INCREMENTAL")
_EXPORT_ATTR = re.compile(
    r"#\[(?:unsafe\()?(?:no_mangle|export_name\s*=\s*\"(?P<named>[^\"]+)\")\)?\]"
    r"(?P<rest>(?:\s*#\[[^\]]*\])*\s*(?:pub\s+)?(?:unsafe\s+)?(?:extern\s+\"C\"\s+)?(?:fn|static)\s+(?P<item>\w+))"
)
_NATIVE_LIBS = re.compile(r"native-static-libs:\s*(.*)")
_HIDDEN = re.compile(r"(R_\w+) against undefined hidden symbol [`']([^']+)'")
_COMPLAINT = re.compile(r"(?:multiple definition of|undefined reference to) [`']([^']+)'")
_STARTED = time.perf_counter()


class MatrixError(Exception):
    """A build or seal step failed; main prints it as one error line."""


def progress(text: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:7.1f}s] {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Workspace:
    """One fixture workspace and the roles its crates play in the matrix."""

    key: str
    source: Path
    skip: tuple[str, ...]  # top-level entries not copied
    standalone: tuple[str, ...]  # crates without the shared runtime, in base link order
    shared: tuple[str, ...]  # crates that share the `runtime` crate
    pick: str  # the crate given LTO in the 2-archive layout and in --quick
    pair: tuple[str, str]  # the two crates given LTO in the two-LTO family
    host_sources: tuple[str, ...]
    cflags: tuple[str, ...]

    @property
    def crates(self) -> tuple[str, ...]:
        return self.standalone + self.shared


# Host sources and cflags as in [tool.buildlib.host] of /pyproject.toml and crates-fixtures/real/pyproject.toml.
WORKSPACES = {
    "fixtures": Workspace(
        key="fixtures",
        source=FIXTURES,
        skip=("real", "target", "build"),
        standalone=("ext-zlib", "ext-events", "ext-hash"),
        shared=("ext-net", "ext-timers"),
        pick="ext-hash",
        pair=("ext-zlib", "ext-hash"),
        host_sources=("host/main.c",),
        cflags=("-O2", "-Wall"),
    ),
    "real": Workspace(
        key="real",
        source=FIXTURES / "real",
        skip=("target", "build"),
        standalone=("ext-compress", "ext-native", "ext-json"),
        shared=("ext-net", "ext-timers"),
        pick="ext-compress",
        pair=("ext-compress", "ext-json"),
        host_sources=("host/main.c",),
        cflags=("-O2", "-Wall"),
    ),
}


@dataclass(frozen=True, slots=True)
class Unit:
    """What one archive is built from: a crate (method staticlib) or a generated bundle crate."""

    package: str
    members: tuple[str, ...]
    method: str  # "staticlib" | "bundle"

    @property
    def label(self) -> str:
        short = [m.removeprefix("ext-") for m in self.members]
        return short[0] if self.method == "staticlib" else "[" + "+".join(short) + "]"


def crate_unit(crate: str) -> Unit:
    return Unit(package=crate, members=(crate,), method="staticlib")


def bundle_unit(members: Iterable[str]) -> Unit:
    members = tuple(members)
    name = "lto-bundle-" + "-".join(m.removeprefix("ext-") for m in members)
    return Unit(package=name, members=members, method="bundle")


@dataclass(frozen=True, slots=True)
class Slot:
    """One archive on a link line."""

    unit: Unit
    mode: str
    seal: str = PLAIN

    @property
    def label(self) -> str:
        text = f"{self.unit.label}:{variant(self.mode, self.seal)}"
        return text if self.mode == "off" and not self.seal else f"**{text}**"


@dataclass(frozen=True, slots=True)
class Row:
    """One link line to measure."""

    family: str
    layout: str
    slots: tuple[Slot, ...]
    what: str  # the varied cell, for the pivot tables
    position: str = ""


@dataclass(slots=True)
class Outcome:
    links: bool
    multiple: int
    undefined: int
    exit_code: int | None  # None: not run (no program), or timed out
    failed_checks: int
    seconds: float
    note: str = ""

    @property
    def runs(self) -> bool:
        return self.exit_code == 0

    def verdict(self) -> str:
        if not self.links:
            parts = [
                f"{self.multiple} md" if self.multiple else "",
                f"{self.undefined} undef" if self.undefined else "",
            ]
            return "link fails (" + (", ".join(p for p in parts if p) or self.note or "other") + ")"
        if self.runs:
            return "runs"
        if self.exit_code is None:
            return "links, hangs"
        return f"links, exit {self.exit_code} ({self.failed_checks} FAIL)"


@dataclass(slots=True)
class Archive:
    path: Path
    libs: tuple[str, ...]
    build_seconds: float
    size: int
    members: int
    bitcode_members: int
    exports: tuple[str, ...] = ()
    seal_seconds: float = 0.0


@dataclass(slots=True)
class Context:
    """A workspace copy and the archives built in it, each (unit, mode, seal) built once."""

    ws: Workspace
    root: Path
    store: Path
    env: dict[str, str]
    archives: dict[tuple[Unit, str, str], Archive] = field(default_factory=dict)


# --------------------------------------------------------------------------- the matrix


def base_line(ws: Workspace, mode: str = "off") -> list[Slot]:
    """4 archives: every standalone crate alone, the shared-runtime crates in one bundle."""
    return [Slot(crate_unit(c), mode) for c in ws.standalone] + [Slot(bundle_unit(ws.shared), mode)]


def place(rest: Sequence[Slot], moved: Sequence[Slot], position: str) -> tuple[Slot, ...]:
    if position == "first":
        return (*moved, *rest)
    if position == "last":
        return (*rest, *moved)
    middle = (len(rest) + 1) // 2
    return (*rest[:middle], *moved, *rest[middle:])


def variant(mode: str, seal: str) -> str:
    return mode + (f"/{seal}" if seal else "")


def plan_rows(ws: Workspace, quick: bool) -> list[Row]:
    rows: list[Row] = []
    four = "4 archives"
    # B. Every archive of the 4-archive line in one mode (the baseline is all off).
    for mode in ("off", "thin") if quick else MODES:
        for seal in SEALS:
            slots = tuple(Slot(s.unit, mode, seal) for s in base_line(ws))
            rows.append(Row("B all same mode", four, slots, variant(mode, seal)))
    # G. Every other order of the 4 off archives (--quick: only the reversed one).
    orders = [tuple(reversed(base_line(ws)))] if quick else list(itertools.permutations(base_line(ws)))[1:]
    for order in orders:
        rows.append(Row("G off orders", four, order, "all off"))
    # A. One LTO (or sealed) archive among off archives, first / middle / last.
    targets = base_line(ws)
    if quick:
        targets = [s for s in targets if s.unit.members == (ws.pick,)]
    for target in targets:
        rest = [s for s in base_line(ws) if s.unit != target.unit]
        for mode, seal in LTO_VARIANTS:
            for position in ("first", "middle", "last"):
                slots = place(rest, [Slot(target.unit, mode, seal)], position)
                what = f"{target.unit.label}:{variant(mode, seal)}"
                rows.append(Row("A one LTO archive", four, slots, what, position))
    # C. Two LTO archives among off archives.
    if not quick:
        a, b = (crate_unit(c) for c in ws.pair)
        rest = [s for s in base_line(ws) if s.unit not in (a, b)]
        for mode_a, mode_b in (("thin", "thin"), ("fat", "fat"), ("thin", "fat")):
            for seal in SEALS:
                sa, sb = Slot(a, mode_a, seal), Slot(b, mode_b, seal)
                what = f"{sa.unit.label}:{variant(mode_a, seal)} + {sb.unit.label}:{variant(mode_b, seal)}"
                for position, slots in (
                    ("first", (sa, sb, *rest)),
                    ("first+last", (sa, *rest, sb)),
                    ("last", (*rest, sa, sb)),
                ):
                    rows.append(Row("C two LTO archives", four, slots, what, position))
    # D. 2 archives: the picked crate alone + a bundle of every other crate.
    if not quick:
        pick = crate_unit(ws.pick)
        others = bundle_unit(c for c in ws.crates if c != ws.pick)
        for mode_p in MODES:
            for mode_o in MODES:
                for seal in SEALS:
                    if seal and mode_p == mode_o == "off":
                        continue
                    # Only the LTO archives are sealed here; sealed off archives are family A's.
                    sp = Slot(pick, mode_p, seal if mode_p != "off" else PLAIN)
                    so = Slot(others, mode_o, seal if mode_o != "off" else PLAIN)
                    what = f"{sp.unit.label}:{variant(mode_p, sp.seal)} + {so.unit.label}:{variant(mode_o, so.seal)}"
                    rows.append(Row("D two archives", "2 archives", (sp, so), what, "crate first"))
                    rows.append(Row("D two archives", "2 archives", (so, sp), what, "crate last"))
    # E. 1 archive: a bundle of every crate.
    everything = bundle_unit(ws.crates)
    for mode in MODES:
        for seal in SEALS:
            rows.append(Row("E one bundle", "1 archive", (Slot(everything, mode, seal),), variant(mode, seal)))
    # F. 5 archives: the shared-runtime crates in two archives (two copies of `runtime`).
    for mode in ("off", "thin") if quick else MODES:
        for seal in SEALS:
            slots = tuple(Slot(crate_unit(c), "off") for c in ws.standalone) + tuple(
                Slot(crate_unit(c), mode, seal) for c in ws.shared
            )
            rows.append(Row("F runtime split", "5 archives", slots, "net,timers:" + variant(mode, seal)))
    # The same split, ext-timers built with another opt-level: both archives carry `runtime`, under other names.
    net, timers = (crate_unit(c) for c in ws.shared)
    slots = (*(Slot(crate_unit(c), "off") for c in ws.standalone), Slot(net, "off"), Slot(timers, "off-o2"))
    rows.append(Row("F runtime split", "5 archives", slots, "net:off, timers:off-o2"))
    slots = tuple(Slot(crate_unit(c), "off") for c in reversed(ws.crates))
    rows.append(Row("F runtime split", "5 archives", slots, "all off, reversed"))
    return rows


# --------------------------------------------------------------------------- building


def run(
    cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith(_SCRUBBED_PREFIXES)}
    env["CARGO_TERM_COLOR"] = "never"
    return env


def copy_workspace(ws: Workspace, dest: Path, bundles: Sequence[Unit]) -> None:
    """Copies the workspace (with .cargo/config.toml, without target/) and adds the bundle crates."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in ws.source.iterdir():
        if entry.name in ws.skip:
            continue
        if entry.is_dir():
            shutil.copytree(
                entry, dest / entry.name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("target", "build")
            )
        else:
            shutil.copy2(entry, dest / entry.name)
    manifest = dest / "Cargo.toml"
    text = manifest.read_text()
    names = ", ".join(f'"{b.package}"' for b in bundles)
    if bundles:
        if "members = [" not in text:
            raise MatrixError(f"{manifest}: no `members = [` line to add the bundle crates to")
        text = text.replace("members = [", f"members = [{names}, ", 1)
    manifest.write_text(text)
    for bundle in bundles:
        crate = dest / bundle.package
        (crate / "src").mkdir(parents=True, exist_ok=True)
        deps = "\n".join(f'{m} = {{ path = "../{m}" }}' for m in bundle.members)
        (crate / "Cargo.toml").write_text(
            f'[package]\nname = "{bundle.package}"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
            f'[lib]\ncrate-type = ["staticlib"]\n\n[dependencies]\n{deps}\n'
        )
        uses = "".join(f"pub use {m.replace('-', '_')};\n" for m in bundle.members)
        (crate / "src" / "lib.rs").write_text(
            "//! Generated by bench/lto_matrix.py: one staticlib carrying these crates.\n" + uses
        )


def source_exports(crate_dir: Path) -> set[str]:
    """C names the crate's sources declare with `no_mangle` or `export_name` (before #[cfg] filtering)."""
    names: set[str] = set()
    for path in sorted((crate_dir / "src").rglob("*.rs")):
        for match in _EXPORT_ATTR.finditer(path.read_text()):
            names.add(match.group("named") or match.group("item"))
    return names


def defined_symbols(archive: Path) -> set[tuple[str, str, str]]:
    """(name, binding, visibility) of every defined symbol of every member, from `readelf -Ws` (not nm: F1)."""
    proc = run(["readelf", "-Ws", str(archive)], cwd=archive.parent)
    symbols: set[tuple[str, str, str]] = set()
    for line in proc.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0].endswith(":") and fields[6] != "UND":
            symbols.add((fields[7].split("@")[0], fields[4], fields[5]))
    return symbols


def archive_facts(path: Path) -> tuple[int, int]:
    """(members, members with an .llvmbc section)."""
    members = len(run(["ar", "t", str(path)], cwd=path.parent).stdout.split())
    sections = run(["readelf", "-SW", str(path)], cwd=path.parent).stdout
    bitcode = sum(1 for chunk in sections.split("\nFile: ")[1:] if ".llvmbc" in chunk)
    return members, bitcode


def build(ctx: Context, unit: Unit, mode: str) -> Archive:
    key = (unit, mode, PLAIN)
    if key in ctx.archives:
        return ctx.archives[key]
    profile = f"lto-{mode}"
    settings = [f'profile.{profile}.inherits="release"'] + [f"profile.{profile}.{s}" for s in PROFILE_SETTINGS[mode]]
    cmd = ["cargo", "rustc", "-p", unit.package, "--lib", "--crate-type", "staticlib", "--profile", profile]
    for setting in settings:
        cmd += ["--config", setting]
    cmd += ["--message-format=json", "--", "--print", "native-static-libs"]
    started = time.perf_counter()
    proc = run(cmd, ctx.root, ctx.env)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-15:])
        raise MatrixError(f"{ctx.ws.key}: {' '.join(cmd)} failed:\n{tail}")
    built: Path | None = None
    libs: tuple[str, ...] = ()
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message["target"]["name"] == unit.package.replace("-", "_"):
            built = next((Path(f) for f in message["filenames"] if f.endswith(".a")), built)
        elif message.get("reason") == "compiler-message":
            found = _NATIVE_LIBS.search(message["message"].get("rendered") or "")
            libs = tuple(found.group(1).split()) if found else libs
    for line in proc.stderr.splitlines():
        found = _NATIVE_LIBS.search(line)
        libs = tuple(found.group(1).split()) if found else libs
    if built is None:
        raise MatrixError(f"{ctx.ws.key}: {' '.join(cmd)} reported no .a artifact")
    # Copy out at once: a later build of a bundle rebuilds its members and may overwrite target/.
    stored = ctx.store / f"lib{unit.package.replace('-', '_')}-{mode}.a"
    shutil.copy2(built, stored)
    members, bitcode = archive_facts(stored)
    archive = Archive(stored, libs, seconds, stored.stat().st_size, members, bitcode)
    ctx.archives[key] = archive
    progress(f"{ctx.ws.key}: built {unit.label}:{mode} ({unit.method}) in {seconds:.1f}s, {archive.size / 1e6:.1f} MB")
    return archive


def seal(ctx: Context, unit: Unit, mode: str, flavour: str) -> Archive:
    """Seals the (unit, mode) archive into one object whose only globals are the kept names.

    SEALED keeps the crate's C exports (F17). SEALED_DW also keeps the weak hidden
    `DW.ref.*` symbols global: each lives in a COMDAT group of the same name; when a
    sealed object comes first its group copy is the one kept, and with the symbol
    made local the later archives' references to it stay undefined.
    """
    key = (unit, mode, flavour)
    if key in ctx.archives:
        return ctx.archives[key]
    plain = build(ctx, unit, mode)
    wanted: set[str] = set()
    for member in unit.members:
        wanted |= source_exports(ctx.root / member)
    symbols = defined_symbols(plain.path)
    keep = sorted({name for name, bind, vis in symbols if name in wanted and bind == "GLOBAL" and vis == "DEFAULT"})
    if not keep:
        raise MatrixError(f"{ctx.ws.key}: {plain.path.name} defines none of {sorted(wanted)}")
    if flavour == SEALED_DW:
        keep += sorted({name for name, bind, _ in symbols if name.startswith("DW.ref.") and bind in ("GLOBAL", "WEAK")})
    work = ctx.store / f"seal-{unit.package}-{mode}-{flavour}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (work / "keep.txt").write_text("".join(f"{name}\n" for name in keep))
    sealed = ctx.store / f"lib{unit.package.replace('-', '_')}-{mode}-{flavour}.a"
    sealed.unlink(missing_ok=True)
    started = time.perf_counter()
    for cmd in (
        ["ld", "-r", "--whole-archive", str(plain.path), "-o", "all.o"],
        [
            "objcopy",
            "--keep-global-symbols=keep.txt",
            "--remove-section=.llvmbc",
            "--remove-section=.llvmcmd",
            "all.o",
            "sealed.o",
        ],
        ["ar", "rcs", str(sealed), "sealed.o"],
    ):
        proc = run(cmd, work)
        if proc.returncode != 0:
            raise MatrixError(
                f"{ctx.ws.key}: sealing {plain.path.name}: {' '.join(cmd)} failed: {proc.stderr.strip()[:2000]}"
            )
    seconds = time.perf_counter() - started
    shutil.rmtree(work)
    members, bitcode = archive_facts(sealed)
    archive = Archive(
        sealed, plain.libs, plain.build_seconds, sealed.stat().st_size, members, bitcode, tuple(keep), seconds
    )
    ctx.archives[key] = archive
    progress(f"{ctx.ws.key}: {flavour} {unit.label}:{mode} in {seconds:.1f}s, keeping {len(keep)} globals")
    return archive


def archive_for(ctx: Context, slot: Slot) -> Archive:
    return seal(ctx, slot.unit, slot.mode, slot.seal) if slot.seal else build(ctx, slot.unit, slot.mode)


# --------------------------------------------------------------------------- linking


def link_and_run(ctx: Context, row: Row, index: int) -> Outcome:
    archives = [archive_for(ctx, slot) for slot in row.slots]
    libs: list[str] = []
    for archive in archives:
        libs += [lib for lib in archive.libs if lib not in libs]
    work = ctx.store / f"row-{index}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    program = work / "host"
    cmd = ["gcc", *ctx.ws.cflags, *(str(ctx.root / s) for s in ctx.ws.host_sources)]
    cmd += [str(a.path) for a in archives] + libs + ["-o", str(program)]
    started = time.perf_counter()
    proc = run(cmd, work, timeout=LINK_TIMEOUT)
    seconds = time.perf_counter() - started
    output = proc.stdout + proc.stderr
    multiple = output.count("multiple definition of")
    undefined = output.count("undefined reference to")
    outcome = Outcome(proc.returncode == 0, multiple, undefined, None, 0, seconds)
    if not outcome.links:
        outcome.note = link_note(output)
    else:
        try:
            ran = run([str(program)], work, timeout=HOST_TIMEOUT)
            outcome.exit_code = ran.returncode
            outcome.failed_checks = sum(1 for line in ran.stdout.splitlines() if line.startswith("FAIL"))
            if ran.returncode != 0 and outcome.failed_checks == 0:
                outcome.note = (ran.stderr.strip().splitlines() or [""])[-1][:120]
        except subprocess.TimeoutExpired:
            outcome.note = f"no exit in {HOST_TIMEOUT:.0f}s"
    shutil.rmtree(work)
    return outcome


def link_note(output: str) -> str:
    """The first few symbols defined twice or missing, else the linker's first other complaint."""
    names = list(dict.fromkeys(_COMPLAINT.findall(output)))
    if names:
        shown = ", ".join(f"`{n[:48]}`" for n in names[:3])
        return shown + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
    hidden = _HIDDEN.search(output)
    if hidden:
        return f"{hidden.group(1)} against undefined hidden `{hidden.group(2)}`"
    for line in output.splitlines():
        if line.startswith(("/usr/bin/ld:", "ld:")) and "final link failed" not in line:
            return re.sub(r"^\S*ld: \S*?\(([^)]*)\): ", r"\1: ", line).replace("`", "'")[:160]
    return (output.strip().splitlines() or [""])[0][:160]


# --------------------------------------------------------------------------- report


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def report(ctx: Context, rows: Sequence[Row], outcomes: Sequence[Outcome], seconds: float) -> list[str]:
    ws = ctx.ws
    out = [f"## Workspace `{ws.key}` ({ws.source.relative_to(ROOT)})", ""]
    out.append(
        f"{len(rows)} link lines; {sum(1 for k in ctx.archives if not k[2])} archives built, "
        f"{sum(1 for k in ctx.archives if k[2])} sealed; {seconds / 60:.1f} min for this workspace."
    )
    out += ["", "### Archives", ""]
    archive_rows = []
    for (unit, mode, seal), archive in sorted(
        ctx.archives.items(), key=lambda kv: (kv[0][0].label, list(PROFILE_SETTINGS).index(kv[0][1]), kv[0][2])
    ):
        archive_rows.append(
            [
                unit.label,
                unit.method,
                variant(mode, seal),
                f"{archive.size / 1e6:.1f}",
                str(archive.members),
                str(archive.bitcode_members),
                f"{archive.seal_seconds:.1f}" if seal else f"{archive.build_seconds:.1f}",
                str(len(archive.exports)) if seal else "",
                " ".join(archive.libs),
            ]
        )
    out += table(
        [
            "archive",
            "method",
            "mode",
            "MB",
            "members",
            "members with .llvmbc",
            "build / seal s",
            "globals kept",
            "native-static-libs",
        ],
        archive_rows,
    )
    # Pivot tables: one per family with positions.
    for family in ("A one LTO archive", "C two LTO archives", "D two archives"):
        picked = [(r, o) for r, o in zip(rows, outcomes, strict=True) if r.family == family]
        if not picked:
            continue
        positions = list(dict.fromkeys(r.position for r, _ in picked))
        whats = list(dict.fromkeys(r.what for r, _ in picked))
        cell = {(r.what, r.position): o.verdict() for r, o in picked}
        out += ["", f"### {family}: {picked[0][0].layout}, by position", ""]
        out += table(
            ["archive(s) varied", *positions], ([w, *(cell.get((w, p), "") for p in positions)] for w in whats)
        )
    out += ["", "### Every row", ""]
    out += table(
        [
            "#",
            "family",
            "layout",
            "archives on the line, in order",
            "links",
            "multiple definition",
            "undefined reference",
            "runs",
            "exit",
            "FAIL checks",
            "note",
        ],
        (
            [
                str(i),
                r.family,
                r.layout,
                " ".join(s.label for s in r.slots),
                yes(o.links),
                str(o.multiple),
                str(o.undefined),
                yes(o.runs),
                "" if o.exit_code is None else str(o.exit_code),
                str(o.failed_checks) if o.links else "",
                o.note.replace("|", "\\|"),
            ]
            for i, (r, o) in enumerate(zip(rows, outcomes, strict=True), 1)
        ),
    )
    return [*out, ""]


def toolchain() -> list[str]:
    lines = []
    for cmd in (["cargo", "-V"], ["rustc", "-V"], ["ld", "-v"], ["gcc", "--version"], ["objcopy", "--version"]):
        proc = run(cmd, ROOT)
        lines.append(f"- `{' '.join(cmd)}`: {(proc.stdout or proc.stderr).splitlines()[0].strip()}")
    return lines


def measure(ws: Workspace, base: Path, quick: bool, jobs: int) -> list[str]:
    started = time.perf_counter()
    rows = plan_rows(ws, quick)
    bundles = list(dict.fromkeys(s.unit for r in rows for s in r.slots if s.unit.method == "bundle"))
    root = base / ws.key
    progress(f"{ws.key}: copying {ws.source} to {root}; {len(rows)} rows, bundles {[b.label for b in bundles]}")
    copy_workspace(ws, root, bundles)
    store = base / f"{ws.key}-archives"
    store.mkdir(exist_ok=True)
    ctx = Context(ws, root, store, clean_env())
    # Every archive first (sequential: cargo uses both cores), then the cheap link rows in parallel.
    for row in rows:
        for slot in row.slots:
            archive_for(ctx, slot)
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, outcome in enumerate(pool.map(lambda ir: link_and_run(ctx, ir[1], ir[0]), enumerate(rows, 1)), 1):
            row = rows[i - 1]
            progress(
                f"{ws.key}: row {i}/{len(rows)} {row.family} {' '.join(s.label.strip('*') for s in row.slots)}: {outcome.verdict()}"
            )
            outcomes.append(outcome)
    return report(ctx, rows, outcomes, time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", choices=("fixtures", "real", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="fewer rows and archives (a smoke run of a few minutes)")
    parser.add_argument("--out", type=Path, help="write the Markdown here instead of stdout")
    parser.add_argument("--work-dir", type=Path, help="keep the copies and builds here (reused by the next run)")
    parser.add_argument("--jobs", type=int, default=2, help="link rows run in parallel (default 2)")
    args = parser.parse_args(argv)
    keys = ["fixtures", "real"] if args.workspace == "both" else [args.workspace]
    base = args.work_dir.resolve() if args.work_dir else Path(tempfile.mkdtemp(prefix="lto-matrix-"))
    base.mkdir(parents=True, exist_ok=True)
    lines = ["# LTO matrix (generated by bench/lto_matrix.py)", "", *toolchain(), ""]
    command = "python bench/lto_matrix.py --workspace " + args.workspace + (" --quick" if args.quick else "")
    lines += [f"Command: `{command}`", ""]
    try:
        for key in keys:
            lines += measure(WORKSPACES[key], base, args.quick, args.jobs)
    except MatrixError as error:
        print(f"lto_matrix: {error}", file=sys.stderr)
        return 1
    finally:
        if args.work_dir is None:
            shutil.rmtree(base, ignore_errors=True)
    total = time.perf_counter() - _STARTED
    lines += [f"Wall time of the whole run: {total / 60:.1f} min.", ""]
    text = "\n".join(lines)
    if args.out:
        args.out.write_text(text)
        progress(f"wrote {args.out}")
    else:
        print(text)
    progress(f"done in {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
