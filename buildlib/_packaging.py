"""setuptools' ``build_py`` plus one file: ``buildlib-doit.pth`` at the root of site-packages.

Named in ``pyproject.toml`` (``[tool.setuptools] cmdclass``); used only while pip builds buildlib.
The .pth line lets ``_doit_hook`` report a TOML syntax error that doit meets in ``pyproject.toml``
before any dodo file loads. A wheel gets the file in its root; an editable install (PEP 660)
gets it in the unpacked wheel, which setuptools names as the install command's ``install_lib``.
"""

from __future__ import annotations

from pathlib import Path

from setuptools.command.build_py import build_py as _build_py

from ._doit_hook import PTH_LINE, PTH_NAME


class build_py(_build_py):  # type: ignore[misc]  # setuptools has no type hints here; the command keeps its name
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            root = self.get_finalized_command("install").install_lib
        else:
            root = self.build_lib
        Path(root, PTH_NAME).write_text(PTH_LINE, encoding="utf-8")
