"""The build step that puts the repository's top-level `prompts/` and `programs/` inside the wheel.

Everything else about the package is in pyproject.toml. The folders stay at the top level for
contributors (and an editable install reads them there, see codeclm/prompting/bundled.py); a built wheel
carries a copy as `codeclm/_bundled/prompts` and `codeclm/_bundled/programs`.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("prompts", "programs")


class build_py_with_bundled(build_py):  # noqa: N801 (setuptools command naming)
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders
        for kind in BUNDLED:
            target = Path(self.build_lib) / "codeclm" / "_bundled" / kind
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for source in sorted((ROOT / kind).iterdir()):
                if source.is_file() and not source.name.startswith("."):
                    shutil.copyfile(source, target / source.name)


setup(cmdclass={"build_py": build_py_with_bundled})
