"""Ground truth for an executable link: a generated C stub that references every expected
export, linked against the archive with the system compiler and the archive's native libs."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError, BuildlibError, StoreError
from .exports import Cfg
from .link import undefined_symbols
from .records import BuildRecord, read_report

# What rustc reports for a std staticlib on Linux GNU targets (F6); used when no
# build record or verify report beside the archive says otherwise.
DEFAULT_NATIVE_LIBS = ("-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc")
_C_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeResult:
    ok: bool
    undefined: tuple[str, ...]
    command: tuple[str, ...]
    output: str


def native_libs_beside(archive: Path) -> tuple[str, ...]:
    """The native-static-libs buildlib recorded next to ``archive`` (in the verified store, the
    report; among the built archives, its build record), else the Linux default."""
    try:
        return read_report(archive.parent / "report.json").native_static_libs
    except StoreError:
        pass
    for path in sorted(archive.parent.glob("*.build.json")):
        try:
            record = BuildRecord.from_file(path)
        except BuildError:
            continue
        if Path(record.artifact).name == archive.name:
            return record.native_static_libs
    return DEFAULT_NATIVE_LIBS


def recorded_cfg(archive: Path, crate_dir: Path) -> Cfg | None:
    """The cfg set and features the build of ``archive`` had for the crate in ``crate_dir``, when
    buildlib verified it (its report sits beside it); None otherwise."""
    try:
        report = read_report(archive.parent / "report.json")
    except StoreError:
        return None
    if not report.build.cfg:
        return None
    # One crate: its own; a bundle's: the member whose directory was named.
    crate = report.crates[0] if len(report.crates) == 1 else crate_dir.resolve().name
    return Cfg.of(report.build.cfg, report.build.features.get(crate, ()))


def stub_source(names: Sequence[str]) -> str:
    """C that takes the address of every name, so the linker must resolve each one."""
    declarations = "".join(f"extern char {name}[];\n" for name in names)
    references = ", ".join(names)
    return (
        f"{declarations}void *volatile buildlib_probe_refs[] = {{ {references} }};\n"
        "int main(void) { return buildlib_probe_refs[0] == 0; }\n"
    )


def probe_link(archive: Path, names: Sequence[str], *, native_libs: Sequence[str], cc: str = "cc") -> ProbeResult:
    """Link a stub referencing ``names`` against ``archive``; the linker's verdict, per name.

    Raises BuildlibError when a name is not a C identifier or the compiler cannot run.
    """
    bad = [name for name in names if not _C_NAME.match(name)]
    if bad:
        raise BuildlibError(f"--probe: {bad[0]!r} is not a C identifier", hint="probe only C-ABI names")
    with tempfile.TemporaryDirectory(prefix="buildlib-probe-") as scratch:
        stub = Path(scratch) / "probe.c"
        stub.write_text(stub_source(names))
        command = (cc, str(stub), str(archive.resolve()), *native_libs, "-o", str(Path(scratch) / "probe"))
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except FileNotFoundError as e:
            raise BuildlibError(f"--probe: {cc}: not found", hint="install a C compiler") from e
    output = result.stdout + result.stderr
    undefined = [name for name in undefined_symbols(output) if name in names]
    return ProbeResult(ok=result.returncode == 0, undefined=tuple(undefined), command=command, output=output)
