"""An sccache server of one test's own: on a free port of 127.0.0.1, with the test's ``SCCACHE_*``
settings, started and stopped by the test, so tests never share a server (or the developer's)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from .conftest import sccache_binary

_READY_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def without_sccache_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` less the developer's own sccache settings and rustc wrapper."""
    return {k: v for k, v in environ.items() if not k.startswith("SCCACHE_") and k != "RUSTC_WRAPPER"}


class Server:
    """``with Server(settings, log) as server``: ``server.env`` is ``settings`` with the server's port."""

    def __init__(self, settings: Mapping[str, str], log: Path) -> None:
        self.settings = dict(settings)
        self.log = log
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**self.settings, "SCCACHE_SERVER_PORT": str(self.port)}

    def __enter__(self) -> Server:
        for _ in range(3):
            self.port = free_port()
            # How sccache's client starts its server, without the daemon: this test owns the process.
            env = {**self.env, "SCCACHE_START_SERVER": "1", "SCCACHE_NO_DAEMON": "1"}
            with self.log.open("wb") as log:
                self.process = subprocess.Popen([str(sccache_binary())], env=env, stdout=log, stderr=subprocess.STDOUT)
            if self._listening():
                return self
            self.stop()  # most likely the port was taken in between: another one
        pytest.fail(f"no sccache server started in 3 tries: {self.log.read_text()[-500:]}")

    def _listening(self) -> bool:
        """Whether the server listens before it exits or 30 s pass (polled on the real condition)."""
        assert self.process is not None
        deadline = time.monotonic() + _READY_SECONDS
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                pass
            try:
                self.process.wait(0.05)  # returns at once if the server exits
                return False
            except subprocess.TimeoutExpired:
                continue
        return False

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            subprocess.run([str(sccache_binary()), "--stop-server"], env=self.env, capture_output=True, check=False)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sccache_processes(marker: str) -> list[int]:
    """The live sccache processes whose environment has ``marker`` (``NAME=value``)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            exe = Path(os.readlink(entry / "exe"))
        except OSError:
            continue  # not a process, gone, or a zombie
        if exe.name == "sccache" and marker.encode() in environ:
            found.append(int(entry.name))
    return found
