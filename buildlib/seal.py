"""Sealing: an archive whose only global symbols are its verified C surface (F17, ELF).

Every Rust staticlib carries its own std. Without LTO the copies are identical and the linker
keeps the first; LTO rewrites each copy differently, and two copies then collide (F4). A sealed
archive keeps std and everything else it carries, but local: nothing in it can collide with
another archive, whatever its LTO mode. The direction rustc's unstable
``-Zstaticlib-hide-internal-symbols`` takes, done with GNU binutils on the built archive:

    ld -r --whole-archive lib.a -o all.o
    objcopy --wildcard --keep-global-symbols=KEEP --remove-section=.llvmbc --remove-section=.llvmcmd all.o sealed.o
    ar rcs lib.sealed.a sealed.o

KEEP is the verified exports plus ``DW.ref.*``: the personality references of unwinding tables.
Made local, a sealed archive first on the link line fails against the unsealed ones after it
(``R_X86_64_PC32 against undefined hidden symbol 'DW.ref.rust_eh_personality'``, measured in
docs/lto.md); kept global they are COMDAT copies the linker merges, and a sealed archive links in
any position. The embedded bitcode sections go too: GNU ar's LLVM plugin cannot read LLVM 22
bitcode and aborts on it (F1, F17). The sealed archive is verified again before the store takes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import BuildError, ConfigError

TOOLS = ("ld", "objcopy", "ar")

# Kept global besides the exports (objcopy --wildcard patterns; C names have no wildcard characters).
KEEP_PATTERNS = ("DW.ref.*",)


def check_sealable(*, file: str, key: str, target: str) -> None:
    """A class may be sealed: an ELF target, and GNU ld, objcopy and ar on PATH. Raises ConfigError."""
    if "-apple-" in target or "windows" in target:
        raise ConfigError(
            file,
            key,
            f"sealing works on ELF archives only, and this toolchain builds for {target}",
            hint="remove seal = true; on this target put LTO crates in one bundle instead",
        )
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise ConfigError(
            file, key, f"sealing needs {', '.join(missing)} on PATH", hint="install GNU binutils (apt install binutils)"
        )


def seal_archive(archive: Path, keep: Iterable[str], dest: Path, *, label: str) -> Path:
    """Write ``dest``: ``archive`` as one object whose only global symbols are ``keep``.

    Written under a temporary name and renamed, so ``dest`` is whole or absent. Raises BuildError
    naming the tool that failed and its first line of output.
    """
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".seal-") as scratch:
        work = Path(scratch)
        (work / "keep").write_text("".join(f"{name}\n" for name in [*sorted(set(keep)), *KEEP_PATTERNS]))
        for command in (
            ["ld", "-r", "--whole-archive", str(archive), "-o", str(work / "all.o")],
            [
                "objcopy",
                "--wildcard",
                f"--keep-global-symbols={work / 'keep'}",
                "--remove-section=.llvmbc",
                "--remove-section=.llvmcmd",
                str(work / "all.o"),
                str(work / "sealed.o"),
            ],
            ["ar", "rcs", str(work / "sealed.a"), str(work / "sealed.o")],
        ):
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                first = (result.stderr or result.stdout).strip().splitlines()[:1]
                raise BuildError(
                    f"{label}: sealing failed: {command[0]} exited {result.returncode}"
                    + (f": {first[0]}" if first else ""),
                    hint="the unsealed archive was not promoted; command: " + " ".join(command),
                )
        os.replace(work / "sealed.a", dest)
    return dest
