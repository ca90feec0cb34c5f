"""The output directory (``out-dir``, default ``build/``): where everything lives in it.

Every other module finds a path there through ``Layout``; the documents at those paths are
``records``'s. Apart from them, so that a run the plan cache serves (plancache) finds its
files without loading the document formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Layout:
    """Paths under the output directory ``root`` (``out-dir``, default ``build/``)."""

    root: Path

    # A class's archives, build records and inputs documents go under archives/<class>/, a
    # staticlib's store entry under verified/<staticlib>/. One join per path: the plan makes
    # these for every crate on every doit invocation.
    def archive(self, routing_class: str, file_name: str) -> Path:
        return self.root.joinpath("archives", routing_class, file_name)

    def record(self, routing_class: str, staticlib: str) -> Path:
        return self.root.joinpath("archives", routing_class, f"{staticlib}.build.json")

    def inputs(self, routing_class: str, unit: str) -> Path:
        return self.root.joinpath("archives", routing_class, f"{unit}.inputs.json")

    def verified_file(self, staticlib: str, file_name: str) -> Path:
        return self.root.joinpath("verified", staticlib, file_name)

    def report(self, staticlib: str) -> Path:
        return self.root.joinpath("verified", staticlib, "report.json")

    def program(self, name: str) -> Path:
        return self.root / "bin" / name

    def bundle(self, routing_class: str) -> Path:
        """The generated crate of a ``bundle`` class."""
        return self.root / "bundles" / routing_class

    def cache(self, name: str) -> Path:
        """buildlib's own state: cached answers of cargo, the project lock."""
        return self.root / ".buildlib" / name

    @property
    def audit(self) -> Path:
        return self.root / "link-audit.json"

    @property
    def link_log(self) -> Path:
        return self.root / "link.log"

    @property
    def database(self) -> Path:
        """doit's state."""
        return self.root / ".doit.db"
