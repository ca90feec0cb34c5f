"""setuptools' ``build_py`` plus one file: ``buildlib-doit.pth`` at the root of site-packages.

Named in ``pyproject.toml`` (``[tool.setuptools] cmdclass``); used only while pip builds buildlib.
The .pth line lets ``_doit_hook`` report a TOML syntax error that doit meets in ``pyproject.toml``
before any dodo file loads. A wheel gets the file in its root; an editable install (PEP 660)
gets it in the unpacked wheel, which setuptools names as the install command's ``install_lib``.
"""

from __future__ import annotations

from pathlib import Path

from setuptools.command.build_py import build_py as _build_py

# setuptools loads this file on its own, before buildlib is importable: it imports nothing of buildlib.
# The line the .pth file holds: one line, as site.py runs it, only for doit; a broken install stays silent.
PTH_NAME = "buildlib-doit.pth"
PTH_LINE = (
    "import sys; exec(\"if 'doit' in sys.argv[0].replace(chr(92), '/').rsplit('/', 1)[-1] or sys.argv[:1] == ['-m']:"
    '\\n try:\\n  import buildlib._doit_hook as h; h.install()\\n except Exception:\\n  pass")\n'
)


class build_py(_build_py):  # type: ignore[misc]  # setuptools has no type hints here; the command keeps its name
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            root = self.get_finalized_command("install").install_lib
        else:
            root = self.build_lib
        Path(root, PTH_NAME).write_text(PTH_LINE, encoding="utf-8")
