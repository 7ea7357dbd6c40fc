"""The compiled pipeline (setup.py compiles its hot modules with mypyc: normalising, facts and enrichment,
the engine's fact filter, findings) scrubs claims exactly as its Python source does: the same results,
finding for finding, on realistic professional and hospital claims with the shipped rules, payer profiles
and reference data. The source runs in a child process from a copy of the package without the compiled
modules."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import scrubber
from scrubber.pipeline.enrich import facts

ROOT = Path(__file__).resolve().parents[2]

# every result, without its scrub id (new each time), as JSON lines; first the module that ran
SCRUB_ALL = """
import datetime as dt, json, sys
from scrubber.cli import _deployment_or_exit
from scrubber.pipeline.enrich import facts
from scrubber.settings import settings
from scrubber.workflows.batch import make_scrubber
from tests.generators import realistic_claims, realistic_institutional_claims
print(facts.__file__)
router = make_scrubber(_deployment_or_exit(settings().rules_dir), settings().data_dir)
claims = [*realistic_claims(11, 600), *realistic_institutional_claims(11, 300)]
for claim in claims:
    judged = router.judge(claim, today=dt.date(2026, 3, 1))
    print(json.dumps([judged.claim.model_dump(mode="json"), judged.result.model_dump(mode="json", exclude={"scrub_id"})],
                     sort_keys=True))
"""


def scrub_all(package_root: Path, data_dir: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": f"{package_root}{os.pathsep}{ROOT}", "SCRUBBER_DATA_DIR": data_dir,
           "SCRUBBER_RULES_DIR": str(ROOT / "rules"), "SCRUBBER_PAYERS_DIR": str(ROOT / "payers")}
    done = subprocess.run([sys.executable, "-c", SCRUB_ALL], capture_output=True, text=True, env=env, cwd=package_root)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def test_the_compiled_pipeline_scrubs_every_claim_as_its_python_source_does(tmp_path, data_dir):
    if facts.__file__.endswith(".py"):
        pytest.skip("the pipeline is installed as plain Python here (SCRUBBER_COMPILE=0)")
    package = Path(scrubber.__file__).parent
    shutil.copytree(package, tmp_path / "scrubber", ignore=shutil.ignore_patterns("*.so", "__pycache__", "data"))
    shutil.copytree(package / "data", tmp_path / "scrubber" / "data", ignore=shutil.ignore_patterns("__pycache__"))
    compiled, source = scrub_all(package.parent, data_dir), scrub_all(tmp_path, data_dir)

    assert compiled[0].endswith(".so") and source[0].endswith("facts.py")
    assert len(compiled) == 901
    assert sum('"status": "fail"' in line for line in compiled) > 100  # the claims make findings to compare
    assert compiled[1:] == source[1:]
