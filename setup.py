"""Packaging beyond what pyproject.toml can say.

- The shipped rule files, payer profiles and documents live at the top of the repository (rules/,
  payers/, openapi/), and a wheel carries copies of them inside the package (scrubber/shipped/...),
  where scrubber.settings finds them when no checkout is around.
- The X12 reader (scrubber/intake/x12) and the modules a claim spends most of its Python time in
  (PIPELINE: normalising, building and enriching its facts, choosing what the engine is sent, writing
  the findings) are compiled to C with mypyc, from the same type-checked Python: the reader reads about
  twice as many claims a second (bench/x12_read.py), and `scrubber check` scrubs about a fifth more
  (bench/check_throughput.py). A C compiler and the Python headers are needed to install, as they
  already are for durable-rules. SCRUBBER_COMPILE=0 installs them as plain Python instead (slower, same
  results). An editable install (`pip install -e .`) puts the compiled modules beside their sources:
  after editing one, install again (scrubber/__init__.py refuses to import a compiled module older than
  its source).
"""
import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
SHIPPED = ("rules", "payers", "openapi")
PACKAGE = HERE / "scrubber"
PIPELINE = ["ruleset/semantics.py", "pipeline/normalise.py", "pipeline/code_sets.py", "pipeline/enrich/facts.py",
            "pipeline/enrich/coding_edits.py", "pipeline/enrich/payment_policy.py",
            "pipeline/enrich/claim_requirements.py", "pipeline/enrich/institutional.py",
            "pipeline/engine/fact_filter.py", "pipeline/findings.py"]
# the modules compiled with mypyc (every one type-checks under the project's mypy settings)
COMPILED = sorted([*(str(p.relative_to(HERE)) for p in (PACKAGE / "intake" / "x12").glob("*.py")),
                   *(f"scrubber/{name}" for name in PIPELINE)])


class BuildWithShippedFiles(build_py):
    def run(self):
        super().run()
        for name in SHIPPED:
            target = Path(self.build_lib) / "scrubber" / "shipped" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / name, target)


def compiled_modules():
    if os.environ.get("SCRUBBER_COMPILE", "1") == "0":
        # an earlier editable install's compiled modules would still be imported before the sources
        for stale in [*PACKAGE.rglob("*.so"), *HERE.glob("scrubber_*__mypyc*.so")]:
            stale.unlink()
        return []
    from mypyc.build import mypycify

    return mypycify(COMPILED, opt_level="3", group_name="scrubber_compiled")


setup(cmdclass={"build_py": BuildWithShippedFiles}, ext_modules=compiled_modules())
