"""Packaging beyond what pyproject.toml can say: the shipped rule files, payer profiles and documents live
at the top of the repository (rules/, payers/, openapi/), and a wheel carries copies of them inside the
package (scrubber/shipped/...), where scrubber.settings finds them when no checkout is around."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("rules", "payers", "openapi")


class BuildWithShippedFiles(build_py):
    def run(self):
        super().run()
        for name in SHIPPED:
            target = Path(self.build_lib) / "scrubber" / "shipped" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(Path(__file__).parent / name, target)


setup(cmdclass={"build_py": BuildWithShippedFiles})
