"""Taking each archive cargo reports while cargo goes on building the others.

cargo prints a ``compiler-artifact`` message as soon as a staticlib is written. A worker thread
then gives that file a temporary second name (a hard link; a copy where the file system has
none) beside its place in the output directory, and hashes and syncs it, so that work overlaps
the rest of the cargo call instead of following it. Nothing is installed here: only after cargo
succeeded does build.install_archives rename a staged name into place, and only if cargo's
archive is still the file that was staged. Whatever is not installed (cargo failed, the run was
interrupted, the archive changed) is removed by ``discard``; what a killed run left, the next
build of the unit removes (build.run_unit).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import _fs


@dataclass(frozen=True, slots=True)
class Staged:
    """cargo's archive under a temporary name (``_fs.stage_link``), not yet installed."""

    temp: Path  # a synced temporary name beside the archive's place
    sha256: str  # of the bytes in ``temp``
    source: Path  # cargo's archive it was taken from
    source_identity: tuple[int, int]  # (size, mtime_ns) of that archive before and after hashing


class Stager:
    """Stages archives in a worker thread as cargo reports them; ``places`` maps each library target
    name to where its archive is installed."""

    def __init__(self, places: Mapping[str, Path]) -> None:
        self._places = dict(places)
        self._queue: queue.SimpleQueue[tuple[str, Path] | None] = queue.SimpleQueue()
        self._staged: dict[str, Staged] = {}
        self._temps: list[Path] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._work, name="buildlib-stager", daemon=True)
        self._thread.start()

    def offer(self, lib_name: str, archive: Path) -> None:
        """cargo wrote ``archive`` for ``lib_name`` in this call: stage it, if it is one of ours."""
        if lib_name in self._places:
            self._queue.put((lib_name, archive))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            lib_name, archive = item
            if self._stopped.is_set():
                continue
            try:
                before = _fs.identity(archive)[:2]
                temp, sha256 = _fs.stage_link(archive, self._places[lib_name])
                self._temps.append(temp)
                if _fs.identity(archive)[:2] == before:
                    self._staged[lib_name] = Staged(temp, sha256, archive, before)
            except OSError:
                continue  # install_archives stages it itself, and says what failed

    def finish(self) -> dict[str, Staged]:
        """Wait for everything offered to be staged; returns it by library target name."""
        self._queue.put(None)
        self._thread.join()
        return dict(self._staged)

    def discard(self) -> None:
        """Stop staging (what is queued is dropped), then remove every staged name not installed."""
        self._stopped.set()
        if self._thread.is_alive():
            self.finish()
        for temp in self._temps:
            temp.unlink(missing_ok=True)


def take(staged: Staged | None, archive: Path) -> Staged | None:
    """``staged`` when it is ``archive`` as it is now, else None (stage it again)."""
    try:
        if staged is not None and staged.source == archive and _fs.identity(archive)[:2] == staged.source_identity:
            return staged
    except OSError:
        pass
    return None
