"""The one build step pyproject.toml can't express: copy recipes/ and conf/ into the wheel as asr/_resources/
(asr/resources.py finds them there), so an installed package has the YAML its commands read."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCES = ("recipes", "conf")


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads them from the checkout
            return
        here = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "asr" / "_resources"
        for name in RESOURCES:
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(here / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithResources})
