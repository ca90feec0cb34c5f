"""An outer release pipeline around a buildlib project:

    build -> verify -> link   (buildlib's tasks, the same as the root dodo.py's)
    -> package                 a tarball of the program and every verified archive, with SHA256SUMS
    -> smoke                   unpack it elsewhere, check the sums, run the packaged program

Run it from anywhere: ``doit -f examples/release/dodo.py`` (the default task is ``smoke``).
"""

from __future__ import annotations

import hashlib
import subprocess
import tarfile
import tempfile
from pathlib import Path

import buildlib

HERE = Path(__file__).resolve().parent
DIST = HERE / "dist"
TARBALL = DIST / "host-release.tar.gz"

# One import, one call: the whole build/verify/link graph of the project at the repository root.
# No prefix, and the project's own doit configuration (its state database under the output
# directory, its reporter): one state per output directory, so this pipeline right after a root
# `doit link` builds nothing again, and the next root `doit link` neither. A prefix names the
# tasks differently, and doit keeps state by task name: use one for a second project in a graph,
# not for the same project seen from two dodo files.
APP = buildlib.Project.for_dodo(HERE.parent.parent / "pyproject.toml")

DOIT_CONFIG = {**APP.doit_config(), "default_tasks": ["smoke"]}
DIST.mkdir(exist_ok=True)


def _payload() -> dict[str, Path]:
    """Names inside the tarball -> files: the program and each verified archive's stable path (a
    symlink to the content-addressed file; depend on it, resolve it only when packaging)."""
    files = {f"bin/{APP.program.name}": APP.program}
    for crate in APP.crates:
        archive = APP.verified_archive(crate)
        files[f"lib/{archive.name}"] = archive
    return files


def package() -> None:
    payload = _payload()
    sums = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {name}\n" for name, path in sorted(payload.items())
    )
    with tempfile.TemporaryDirectory(dir=DIST) as scratch:
        staged = Path(scratch) / TARBALL.name
        with tarfile.open(staged, "w:gz") as tar:
            for name, path in sorted(payload.items()):
                tar.add(path.resolve(), arcname=name)
            sums_file = Path(scratch) / "SHA256SUMS"
            sums_file.write_text(sums)
            tar.add(sums_file, arcname="SHA256SUMS")
        staged.replace(TARBALL)


def smoke() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        with tarfile.open(TARBALL) as tar:
            tar.extractall(scratch, filter="data")
        root = Path(scratch)
        for line in (root / "SHA256SUMS").read_text().splitlines():
            digest, name = line.split("  ", 1)
            if hashlib.sha256((root / name).read_bytes()).hexdigest() != digest:
                raise RuntimeError(f"SHA256SUMS: {name} does not match")
        result = subprocess.run([str(root / "bin" / APP.program.name)], capture_output=True, text=True, check=False)
        print(result.stdout, end="")
        if result.returncode != 0:
            raise RuntimeError(f"the packaged program exited {result.returncode}")


def task_package():
    """Package the linked program and the verified archives with SHA256SUMS."""
    return {
        "file_dep": [str(path) for path in _payload().values()],
        "task_dep": [APP.task("link")],
        "targets": [str(TARBALL)],
        "actions": [package],
        "clean": True,
    }


def task_smoke():
    """Unpack the release elsewhere, check its sums and run the packaged program."""
    return {"file_dep": [str(TARBALL)], "actions": [smoke], "uptodate": [False], "verbosity": 2}
