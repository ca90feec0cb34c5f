"""One build at a time per output directory, and a doit database that opens.

Two builds of one project at once would race on cargo's outputs, on the
verified store and on doit's database, so the second waits for the first and
says so. A database that is not a readable sqlite file is moved aside: doit
then starts afresh and checks everything again (cargo finds its own work done).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import IO, TextIO


def hold_lock(path: Path, *, out: TextIO) -> IO[str]:
    """Take the exclusive lock at ``path``, waiting (and saying who holds it) when another process has it.

    The lock lives as long as the returned handle; the OS releases it when the
    process ends, however it ends.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        out.write(f"buildlib: another build holds the lock: pid {holder} ({path}); waiting for it to finish\n")
        out.flush()
        fcntl.flock(handle, fcntl.LOCK_EX)
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def set_aside_corrupt_database(path: Path, *, out: TextIO) -> Path | None:
    """Move ``path`` aside when it is not a sound sqlite database; return where it went."""
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            sound = connection.execute("PRAGMA quick_check").fetchone() == ("ok",)
    except sqlite3.DatabaseError:
        sound = False
    if sound:
        return None
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    out.write(
        f"buildlib: warning: doit's database {path} was unreadable; moved to {aside.name}; every task is checked again\n"
    )
    return aside
