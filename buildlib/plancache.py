"""The tasks of the last planning, kept under the output directory (``.buildlib/tasks.json``) with
what that planning read, so that a run where none of it changed starts without planning again:
no workspace to load, no plan to make, none of the modules that do it to import.

What planning reads is listed beside it (``project.planning_reads``): cargo's manifests and
the directories searched for them, cargo's configuration files, the toolchain's files, each
name the programs planning looks for could have on PATH, the host sources, buildlib's own code.
Each is kept with its (size, mtime_ns, ctime_ns, inode), or as absent, and compared on the next
run. Of the directories searched (for manifests, for buildlib's modules) planning reads only
what they hold, so each of those also keeps a digest of its entries (``_fs.listing_digest``):
when its times moved but its entries did not, as when an editor saves a file by writing a new
one and renaming it over the old, it is unchanged. Other directories (rustup's toolchains:
planning runs what is in them) count by their times alone. The key holds the rest: the parsed
configuration (its paths resolved, symlinks included), the whole environment, the working
directory, the Python, the task prefix.

Nothing is kept when a path changed while planning ran (its states before and after differ; for
a path known only after planning, its change time tells), or less than ``RACY_NS`` before the
run began: it could change again within the same timestamp after planning read it (git's
"racily clean" rule). The next run plans again.

With ``BUILDLIB_CHECK_PLAN_CACHE=1`` (the test suite sets it) a run the cache serves plans
again all the same and stops when the two disagree: every scenario of the tests then
checks that the cache never stands for another plan.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import _fs

FORMAT = 3
CHECK_VARIABLE = "BUILDLIB_CHECK_PLAN_CACHE"
# Two seconds: the coarsest timestamps of a common file system (FAT) are that far apart.
RACY_NS = 2_000_000_000
# Variables no planning reads: the ones a shell changes as it goes (the last command, the previous
# directory, the nesting depth; the working directory itself is in the key), and the check mode's.
_NOT_READ = frozenset({"_", "OLDPWD", "SHLVL", CHECK_VARIABLE})

# [size, mtime_ns, ctime_ns, inode], a listed directory's with the digest of its entries; None: absent.
Stat = list[Any] | None


def key(config: str, prefix: str, environ: Mapping[str, str]) -> str:
    """The key of the planning of the configuration ``config`` (its repr) under ``prefix`` in this
    process's world."""
    world = [
        FORMAT,
        sys.version,
        sys.executable,
        os.getcwd(),
        config,
        prefix,
        sorted(item for item in environ.items() if item[0] not in _NOT_READ),
    ]
    return hashlib.sha256(json.dumps(world).encode()).hexdigest()


def states(paths: Iterable[Path], listed: Iterable[Path] = ()) -> dict[str, Stat]:
    """The state of each path: (size, mtime_ns, ctime_ns, inode), or None when absent; each of the
    ``listed`` directories, those planning read the names of and nothing else, with its entries'
    digest (``_fs.listing_digest``) too."""
    found = {name: _state(name) for name in dict.fromkeys(map(str, paths))}
    for name in dict.fromkeys(map(str, listed)):
        if name in found:
            continue  # read as a path too: its times alone
        state = _state(name)
        names = None if state is None else _fs.listing_digest(name)
        found[name] = state if state is None or names is None else [*state, names]
    return found


def _state(path: str) -> Stat:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _unchanged(path: str, kept: Stat) -> bool:
    """Whether ``path`` is as ``kept``: the same times, or for a listed directory the same entries."""
    state = _state(path)
    if state is None or kept is None:
        return state == kept
    if state == kept[:4]:
        return True
    return len(kept) == 5 and _fs.listing_digest(path) == kept[4]


def load(path: Path, expected_key: str) -> dict[str, Any] | None:
    """What ``store`` kept at ``path`` under ``expected_key``, if nothing it watches changed since."""
    try:
        document = json.loads(path.read_bytes())
        if document["format"] != FORMAT or document["key"] != expected_key:
            return None
        if not all(_unchanged(name, stat) for name, stat in document["watched"]):
            return None
        payload = document["payload"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, damaged or from another buildlib: plan again
    return payload if isinstance(payload, dict) else None


def store(
    path: Path,
    key_: str,
    before: Mapping[str, Stat],
    after: Mapping[str, Stat],
    *,
    started_ns: int,
    payload: Mapping[str, Any],
) -> bool:
    """Keep ``payload`` at ``path`` under ``key_`` with ``after``, the states of what planning read when
    it was done, unless one differs from ``before`` (taken before planning) or changed within
    ``RACY_NS`` of ``started_ns``, when the run began. Returns whether it was kept."""
    changed = any(name in after and after[name] != stat for name, stat in before.items())
    # A path known only after planning (the workspace root cargo reported) has no state from
    # before: its change time, which nobody can set back, must be out of the window too.
    limit = started_ns - RACY_NS
    racy = any(
        stat is not None and (stat[1] >= limit or (name not in before and stat[2] >= limit))
        for name, stat in after.items()
    )
    if changed or racy:
        path.unlink(missing_ok=True)
        return False
    document = {"format": FORMAT, "key": key_, "watched": list(after.items()), "payload": payload}
    _fs.write_atomic(path, json.dumps(document).encode())
    return True


def checking(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(CHECK_VARIABLE, "") not in ("", "0")
