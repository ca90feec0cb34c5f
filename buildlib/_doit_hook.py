"""The error edge for what happens in doit itself, outside any task of ours.

doit parses ``[tool.doit]`` of ``pyproject.toml`` when it starts, before it imports the dodo
file, so a TOML syntax error in buildlib's configuration file would reach the user as doit's
traceback; and a Ctrl-C that lands in doit's own loop (``doit -n`` waiting for its worker
processes, where each task runs) is doit's traceback too. The ``buildlib-doit.pth`` file that
installing buildlib puts into site-packages calls ``install()`` at interpreter start; the hook it
sets turns exactly those (a TOML decode error raised inside doit's config loader: buildlib's one
``error:`` line and exit 2; a KeyboardInterrupt raised inside doit's runner, in a run of
buildlib's tasks: the one line a task interrupted by Ctrl-C shows) and hands every other exception to the hook that was there before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


def install() -> None:
    """Put the hook in front of ``sys.excepthook`` (once)."""
    if not getattr(sys.excepthook, "_buildlib", False):
        sys.excepthook = _hook_before(sys.excepthook)


def _hook_before(previous: ExceptHook) -> ExceptHook:
    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if (
            isinstance(error, KeyboardInterrupt)
            and "buildlib.tasks" in sys.modules
            and _passes_through(tb, "runner.py")
        ):
            from .errors import user_message

            sys.stderr.write(f"error: {user_message(error)}\n")
            sys.stderr.flush()
            return  # the interpreter still exits as interrupted, after doit's workers have stopped
        config_file = doit_config_file(error, tb)
        if config_file is None:
            previous(kind, error, tb)
            return
        from .config import read_toml
        from .errors import BuildlibError, user_message

        message = f"{config_file}: file: not valid TOML: {error}"
        try:
            read_toml(config_file)
        except BuildlibError as e:
            message = user_message(e) or message
        sys.stdout.flush()
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
        os._exit(2)  # the interpreter would exit 1 ("a task failed" to doit) after a hook

    hook._buildlib = True  # type: ignore[attr-defined]
    return hook


def _passes_through(tb: TracebackType | None, doit_module: str) -> bool:
    """Whether the traceback ``tb`` passes through ``doit/<doit_module>``."""
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).parts[-2:] == ("doit", doit_module):
            return True
        tb = tb.tb_next
    return False


def doit_config_file(error: BaseException, tb: TracebackType | None) -> Path | None:
    """The file doit's config loader was reading when ``error``, a TOML decode error, left it."""
    if type(error).__name__ != "TOMLDecodeError":
        return None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "load_config_toml" and Path(code.co_filename).parts[-2:] == ("doit", "doit_cmd.py"):
            filename = tb.tb_frame.f_locals.get("filename")
            return Path(filename).resolve() if isinstance(filename, str) else None
        tb = tb.tb_next
    return None
