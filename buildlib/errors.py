"""The library's exceptions: one root, subclasses that carry where and how to fix, and the one
place where an error meets the user (``user_message``), used by the command line, the dodo
loader and every task action alike."""

from __future__ import annotations


class BuildlibError(Exception):
    """Root of every error buildlib raises on purpose.

    ``str(error)`` is one line naming the file, key or symbol; ``hint`` says
    what to do about it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def describe(self) -> str:
        """The message and, on a line of its own, the hint: what a user is shown."""
        return f"{self}\nhint: {self.hint}" if self.hint else str(self)


def user_message(error: BaseException) -> str | None:
    """What a user is shown for ``error``: a line naming the file, key or symbol, and a hint line.

    Our own errors, the operating system's (a full disk, a permission, a missing file) and
    Ctrl-C are expected and get one line each; anything else is a bug (None), whose traceback
    is the right report.
    """
    if isinstance(error, BuildlibError):
        return error.describe()
    if isinstance(error, KeyboardInterrupt):
        return "interrupted; every step that finished is kept\nhint: run the same command again to go on"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text: {error.reason} at byte {error.start}\nhint: save the file as UTF-8"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}"
    return None


class ConfigError(BuildlibError):
    """The ``[tool.buildlib]`` table (or a file it names) is wrong."""

    def __init__(self, file: str, key: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{file}: {key}: {message}", hint=hint)
        self.file = file
        self.key = key


class WorkspaceError(BuildlibError):
    """cargo could not describe the workspace."""


class BuildError(BuildlibError):
    """A cargo build failed or did not produce what the plan expects."""


class ArchiveError(BuildlibError):
    """An archive or object file could not be read (missing, not one, corrupt)."""


class UsageError(BuildlibError):
    """The command line asks for nothing, or for what cannot be done (exit 2, as argparse exits
    for any wrong option)."""


class LinkError(BuildlibError):
    """The final link could not be set up or failed."""


class ToolchainError(BuildlibError):
    """cargo or rustc is missing, broken, or too old for what the configuration asks."""


class StoreError(BuildlibError):
    """A verified-store entry is missing or does not match its report."""


class VerifyFailed(BuildlibError):
    """An archive lacks linkable exports; the store keeps the previous entry."""
