"""Whether a build unit's archives are still what cargo would build: the inputs document.

After every cargo call buildlib writes ``<unit>.inputs.json`` beside the build
records, listing what cargo's fingerprint of every unit of that call depends on
(F13), each with its state at the time of the build:

- the sources rustc's dep-info lists for every local unit (workspace members, path
  dependencies, ``[patch]`` path crates, build scripts), whether cargo compiled the
  unit or found it fresh, from cargo's ``compiler-artifact`` messages;
- the manifests of those packages, the lockfile, every configuration file cargo
  reads (present or absent);
- each build script's ``rerun-if-changed`` paths, read from the ``output`` file
  cargo keeps under ``target/``; a local build script that declares none is rerun
  by cargo when any file of its package changes, so the package tree is an input;
- the environment: cargo's own variables (``cargoenv``), each build script's
  ``rerun-if-env-changed`` variables and each ``env!``/``option_env!`` rustc
  recorded (``# env-dep:`` lines of the dep-info);
- the unit's command, environment overrides and toolchain, and its own outputs.

The next run compares exactly that list, so the check agrees with cargo and the
second run after any build is a no-op. Like cargo, it compares modification
times: a file touched without a change rebuilds, as cargo would. A source
modified while cargo ran is recorded as changed, so the next run builds again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import _fs
from .cargoenv import config_files, tracked_environment

if TYPE_CHECKING:
    from .depinfo import CargoReads

INPUTS_FORMAT = 1
ABSENT = "absent"
CHANGED_DURING_BUILD = "changed during the build"
_TREE = "tree:"


@dataclass(frozen=True, kw_only=True, slots=True)
class Inputs:
    """One build unit's inputs, each with its state when the unit was built."""

    format: int
    unit: str  # the unit's command, environment overrides, toolchain and bundle manifest
    files: dict[str, str]  # path -> stamp (see ``stamp``)
    env: dict[str, str | None]

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode() + b"\n"


def stamp(path: Path | str, *, tree: bool = False) -> str:
    """What a file's state is compared by, as cargo compares it: modification time (and size).

    ``tree`` stamps a directory by its newest entry, as cargo does for a package's files.
    """
    try:
        status = os.stat(path)
    except OSError:
        return ABSENT
    if not tree:
        return f"{status.st_mtime_ns}:{status.st_size}"
    newest, count = status.st_mtime_ns, 0
    for file in _package_files(Path(path)):
        try:
            newest = max(newest, file.stat().st_mtime_ns)
        except OSError:
            continue
        count += 1
    return f"{_TREE}{newest}:{count}"


def _package_files(top: Path) -> list[Path]:
    """A package's files as a tree stamp counts them: no ``target/``, no hidden directories, and
    no buildlib output directory inside it (it holds ``.buildlib/``), which every build rewrites."""
    files = []
    for root, directories, names in os.walk(top):
        directories[:] = [
            d
            for d in directories
            if not d.startswith(".") and d != "target" and not os.path.isdir(os.path.join(root, d, ".buildlib"))
        ]
        files += [Path(root, name) for name in names if not name.startswith(".")]
    return files


def _stamp_after_build(path: Path, started_ns: int, target_dir: Path) -> str:
    """The stamp of an input read after the build: one modified after cargo started may have been
    read in its old state, so it is recorded as changed, and the next run builds again."""
    value = stamp(path)
    if value == ABSENT or path.name == "Cargo.lock" or path.is_relative_to(target_dir):
        return value  # cargo writes these itself
    return CHANGED_DURING_BUILD if int(value.partition(":")[0]) >= started_ns else value


def collect_inputs(
    *,
    unit: str,
    cwd: Path,
    reads: CargoReads,
    target_dir: Path,
    extra_files: Iterable[Path],
    outputs: Iterable[Path],
    environ: Mapping[str, str],
    started_ns: int,
) -> Inputs:
    """The inputs of a cargo call that has just succeeded, from what cargo says it ``reads``.

    ``cwd`` is where cargo ran (configuration files are found from there),
    ``extra_files`` the workspace manifest and lockfile, ``outputs`` what
    buildlib wrote from the build; ``started_ns`` when cargo started.
    """
    files = dict.fromkeys([*extra_files, *reads.files])
    stamps = {str(path): _stamp_after_build(path, started_ns, target_dir) for path in files}
    stamps.update({str(path): stamp(path, tree=True) for path in reads.trees})
    stamps.update({str(path): stamp(path) for path in config_files(cwd, environ)})
    stamps.update({str(path): stamp(path) for path in outputs})
    return Inputs(format=INPUTS_FORMAT, unit=unit, files=stamps, env=tracked_environment(environ, reads.env))


def write_inputs(path: Path, inputs: Inputs) -> None:
    _fs.write_atomic(path, inputs.to_json())


def why_stale(path: Path, unit: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """Why the unit whose inputs ``path`` records must be built again, or None when nothing changed."""
    try:
        data = json.loads(path.read_text())
        recorded = Inputs(**data)
        if not (isinstance(recorded.files, dict) and isinstance(recorded.env, dict)):
            raise TypeError("files and env must be tables")
    except FileNotFoundError:
        return "never built"
    except (OSError, ValueError, TypeError):
        return f"{path} is unreadable"
    if recorded.format != INPUTS_FORMAT:
        return f"{path} was written by another buildlib"
    if recorded.unit != unit:
        return "its cargo command, environment or toolchain changed"
    for name, value in recorded.files.items():
        if value == CHANGED_DURING_BUILD:
            return f"{name} changed while cargo was building"
        if stamp(name, tree=str(value).startswith(_TREE)) != value:
            return f"{name} changed"
    current = tracked_environment(environ, recorded.env)
    if current != recorded.env:
        changed = sorted(k for k in current.keys() | recorded.env.keys() if current.get(k) != recorded.env.get(k))
        return f"environment variable {changed[0]} changed"
    return None
