"""Running a build unit's cargo call and recording what it produced.

What cargo says (messages.CargoOutput) names each archive it wrote; each gets a name of its own
in the output directory (a hard link, hashed while cargo goes on: staging), installed once cargo
succeeded, next to a build record. rustc writes a rebuilt archive as a new file, so a later
failed build can never damage it; a file written in place since is built again (run_unit).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from . import _fs
from .bundle import write_bundle
from .cache import counted_call
from .depinfo import DepsListing, cargo_reads, deps_original, parse_dep_info
from .errors import BuildError
from .freshness import collect_inputs, write_inputs
from .messages import CargoOutput
from .nativelibs import probe_std_libs, staticlib_native_libs
from .plan import BuildUnit
from .records import BuildRecord, CacheStats, read_lto_evidence, write_lto_evidence
from .staging import Staged, Stager, take


def cargo_environment(overrides: Mapping[str, str | None], environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` with a unit's variables set, and removed where the value is None."""
    env = dict(environ)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_unit(
    unit: BuildUnit, *, label: str, target_dir: Path, workspace_files: Sequence[Path], out: TextIO = sys.stderr
) -> list[BuildRecord]:
    """Run ``unit``'s cargo call, then install each archive, its build record, and the unit's inputs.

    cargo's own progress goes straight to the terminal; compiler diagnostics are
    shown under the crate's name. Each archive cargo writes is staged (linked and hashed)
    while cargo builds the rest. Nothing is installed unless cargo succeeded
    and reported every archive, so the previous archives stay as they were. The
    inputs document (freshness) is written last: until it is, the unit is stale.
    An archive written in place since its build (its names in target/ and in the
    output directory are one file) is removed from target/ first, so cargo builds it again.
    ``label`` starts every message (the task's name), ``target_dir`` is cargo's,
    ``workspace_files`` the workspace manifest and lockfile.

    With a compile cache, cargo's rustc calls go through sccache, whose counts over the call
    the records carry (cache.counted_call), and the native-static-libs come from nativelibs.

    Raises BuildError when cargo cannot start, fails, or omits an archive, or the cache's
    server cannot start; ToolchainError when the native-libs probe fails.
    """
    started = time.monotonic()
    if unit.bundle is not None:
        write_bundle(unit.bundle.directory, unit.bundle.manifest, unit.crates, unit.cwd / "Cargo.lock")
    started_ns = time.time_ns()
    stats, native_libs = None, None
    outputs = [path for staticlib in unit.staticlibs for path in (staticlib.built, staticlib.record)]
    _fs.remove_temporaries([*outputs, unit.inputs])  # what a run killed while writing them left (kill -9)
    previous = _previous_records(unit)
    _unshare_rewritten(unit, previous, label=label, out=out)
    stager = Stager({staticlib.lib_name: staticlib.built for staticlib in unit.staticlibs})
    output = CargoOutput(on_archive=stager.offer)
    try:
        if unit.cache is None:
            _run_cargo(unit, output, cargo_environment(dict(unit.env)), label=label, out=out)
        else:
            with counted_call(unit.cache, label=label) as counted:
                _run_cargo(unit, output, cargo_environment(dict(unit.env)), label=label, out=out)
                stats = counted()
            native_libs = probed_native_libs(unit, output)
        staged = stager.finish()
        seconds = time.monotonic() - started
        records = install_archives(
            unit, output, seconds, label=label, previous=previous, native_libs=native_libs, cache=stats, staged=staged
        )
    finally:
        stager.discard()
    inputs = collect_inputs(
        unit=unit.fingerprint,
        cwd=unit.cwd,
        reads=cargo_reads(output.units, unit.cargo_root),
        target_dir=target_dir,
        extra_files=[*workspace_files, unit.cargo_root / "Cargo.toml", unit.cargo_root / "Cargo.lock"],
        outputs=outputs,
        environ=os.environ,
        started_ns=started_ns,
    )
    write_inputs(unit.inputs, inputs)
    return records


def _run_cargo(unit: BuildUnit, output: CargoOutput, env: dict[str, str], *, label: str, out: TextIO) -> None:
    """Run the unit's cargo command in ``env``, feeding ``output``; raises BuildError when it fails."""
    try:
        process = subprocess.Popen(
            unit.command,
            cwd=unit.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except FileNotFoundError as e:
        raise BuildError(
            f"{label}: {unit.command[0]}: not found",
            hint="install Rust (rustup.rs) or set tool.buildlib.cargo",
        ) from e
    assert process.stdout is not None and process.stderr is not None
    crate_names = {crate.lib_name: crate.name for crate in unit.crates}
    if unit.bundle is not None:
        crate_names[unit.bundle.lib_name] = f"bundle of class {unit.routing_class.name}"
    shown: set[str] = set()
    stderr = process.stderr

    def pass_stderr() -> None:
        # cargo's progress lines pass through; the verbose rustc command lines are only read.
        for line in stderr:
            if output.feed_stderr(line):
                out.write(line)
                out.flush()

    forwarder = threading.Thread(target=pass_stderr, daemon=True)
    forwarder.start()
    with process:
        try:
            for line in process.stdout:
                diagnostic = output.feed(line)
                if diagnostic is not None:
                    target, text = diagnostic
                    if target not in shown:
                        shown.add(target)
                        out.write(f"--- {crate_names.get(target, target)} ---\n")
                    out.write(text)
                    out.flush()
            forwarder.join()
        except BaseException:
            # Ctrl-C (or anything else) while cargo runs: stop it rather than leave it running
            # alone; nothing was installed yet, so the previous archives stay whole.
            _stop(process)
            raise
    if process.returncode != 0:
        raise BuildError(
            f"{label}: cargo failed with exit code {process.returncode}; the previous archives are kept",
            hint="fix the error above and run again; command: " + " ".join(unit.command),
        )


def probed_native_libs(unit: BuildUnit, output: CargoOutput) -> dict[str, tuple[str, ...]]:
    """Each staticlib's native-static-libs without rustc's --print: std's from the toolchain probe,
    the rest from the build scripts of the call (nativelibs)."""
    assert unit.cache is not None
    cache = unit.cache
    std = probe_std_libs(
        unit.toolchain,
        rustc=cache.rustc,
        target=cache.target,
        flags=cache.rustflags,
        cwd=unit.cwd,
        cache=cache.probe,
        environ=os.environ,
    )
    own = {s.lib_name: {output.packages.get(s.lib_name, "")} for s in unit.staticlibs}
    return {
        lib: staticlib_native_libs(std, output.linked_libs, mine, {p for o, ps in own.items() if o != lib for p in ps})
        for lib, mine in own.items()
    }


def _stop(process: subprocess.Popen[str], grace: float = 5.0) -> None:
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _previous_records(unit: BuildUnit) -> dict[str, BuildRecord]:
    records = {}
    for staticlib in unit.staticlibs:
        try:
            records[staticlib.name] = BuildRecord.from_file(staticlib.record)
        except BuildError:
            continue
    return records


def _unshare_rewritten(unit: BuildUnit, previous: Mapping[str, BuildRecord], *, label: str, out: TextIO) -> None:
    """Remove cargo's names of each archive written in place since it was built.

    The build's file is a hard link of cargo's, so ``cp other.a`` over either name rewrites both;
    cargo would find the unit fresh (the file is newer than its sources) and report those bytes.
    Without its file in deps/, cargo builds the unit again.
    """
    listing = DepsListing()
    for staticlib in unit.staticlibs:
        record = previous.get(staticlib.name)
        if record is None:
            continue
        artifact = Path(record.artifact)
        try:
            if not os.path.samefile(artifact, staticlib.built):
                continue
            now = _fs.identity(staticlib.built)
        except OSError:
            continue
        if now[2] != record.built_identity[2] or now == record.built_identity:
            continue
        print(
            f"{label}: {staticlib.label}: {artifact} was written in place since it was built; "
            "removed so cargo builds it again",
            file=out,
            flush=True,
        )
        for path in (deps_original(artifact, listing), artifact):
            if path is not None:
                path.unlink(missing_ok=True)


def lto_applied(requested: str, passed: str | None) -> bool:
    """Whether rustc got the requested mode; no -C lto means no cross-crate LTO, which is what "off" asks."""
    return passed == requested or (requested == "off" and passed is None)


def install_archives(
    unit: BuildUnit,
    output: CargoOutput,
    seconds: float,
    *,
    label: str | None = None,
    previous: dict[str, BuildRecord] | None = None,
    native_libs: dict[str, tuple[str, ...]] | None = None,
    cache: CacheStats | None = None,
    staged: Mapping[str, Staged] | None = None,
) -> list[BuildRecord]:
    """Give each reported archive its name in the output directory (a hard link, or a copy where
    the file system has none) and write its record; all or nothing is checked first.

    An archive already staged while cargo ran (``staged``, by library name) is renamed into place
    when cargo's archive is still the file that was staged, and staged again otherwise.

    When cargo reused a fresh build it prints no rustc command, so the -C lto of
    the previous record of the same command and toolchain is carried over.
    ``native_libs`` (by library name) replaces what rustc printed, when it was not asked to
    (a compile cache); ``cache`` is what the cache did for the call.
    """
    label = label or unit.name
    missing = [s.label for s in unit.staticlibs if s.lib_name not in output.archives]
    if missing:
        raise BuildError(
            f"{label}: cargo reported no staticlib for {', '.join(missing)}",
            hint='check [lib] crate-type includes "staticlib"',
        )
    printed = native_libs is None
    native_libs = output.native_libs if native_libs is None else native_libs
    silent = [s.label for s in unit.staticlibs if s.lib_name not in native_libs]
    if silent:
        raise BuildError(
            f"{label}: rustc reported no native-static-libs for {', '.join(silent)}; "
            "the link would miss the system libraries the archive needs",
            hint="something replaced the rustc flags buildlib passes (a RUSTC_WRAPPER or rustc that drops "
            "--print=native-static-libs?); command: " + " ".join(unit.command),
        )
    built_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    records = []
    for staticlib in unit.staticlibs:
        lib_name = staticlib.lib_name
        artifact = output.archives[lib_name]
        requested = staticlib.routing_class.lto
        observed = lib_name in output.lto_passed
        passed = output.lto_passed.get(lib_name)
        before = (previous or {}).get(staticlib.name)
        same_call = (
            before is not None
            and before.command == unit.command
            and before.env == dict(unit.env)
            and before.toolchain == unit.toolchain
        )
        if same_call and before is not None and _kept(before, artifact, staticlib.built, native_libs[lib_name]):
            records.append(before)  # cargo found it fresh and nobody touched the file: leave it be
            continue
        if not observed and same_call and before is not None:
            observed, passed = before.lto_observed, before.lto_passed
        elif observed:
            write_lto_evidence(artifact, passed)
        else:  # the output directory was removed while cargo's target/ was kept
            observed, passed = read_lto_evidence(artifact)
        record = BuildRecord(
            name=staticlib.name,
            routing_class=staticlib.routing_class.name,
            method=staticlib.routing_class.method,
            lto=requested,
            lto_passed=passed,
            lto_observed=observed,
            lto_applied=observed and lto_applied(requested, passed),
            command=unit.command,
            env=dict(unit.env),
            cwd=str(unit.cwd),
            toolchain=unit.toolchain,
            artifact=str(artifact),
            native_static_libs=native_libs[lib_name],
            sources=_sources(artifact, unit.cargo_root),
            cfg=unit.cfg,
            features={crate.name: output.features.get(crate.lib_name, ()) for crate in staticlib.crates},
            units_fresh=output.units.fresh,
            units_compiled=output.units.compiled,
            built_at=built_at,
            seconds=round(seconds, 3),
            native_static_libs_source="rustc" if printed else "probe",
            cache=cache,
            artifact_identity=_fs.identity(artifact)[:2],
        )
        ready = take((staged or {}).get(lib_name), artifact)
        temp, sha256 = (ready.temp, ready.sha256) if ready else _fs.stage_link(artifact, staticlib.built)
        _fs.install(temp, staticlib.built)
        record = dataclasses.replace(record, built_identity=_fs.identity(staticlib.built), built_sha256=sha256)
        _fs.write_atomic(staticlib.record, record.to_json())
        records.append(record)
    return records


def _kept(before: BuildRecord, artifact: Path, built: Path, native_libs: tuple[str, ...]) -> bool:
    """Whether the last build's file and record still stand: cargo left ``artifact`` as it was, nobody touched ``built``."""
    try:
        return (
            before.artifact == str(artifact)
            and _fs.identity(artifact)[:2] == before.artifact_identity
            and _fs.identity(built) == before.built_identity
            and before.native_static_libs == native_libs
        )
    except OSError:
        return False


def _sources(artifact: Path, cargo_root: Path) -> tuple[str, ...]:
    """The sources cargo's dep-info beside ``artifact`` lists (the crate's and its local dependencies')."""
    try:
        return tuple(str(path) for path in parse_dep_info(artifact.with_suffix(".d").read_text(), cargo_root).files)
    except OSError:
        return ()
