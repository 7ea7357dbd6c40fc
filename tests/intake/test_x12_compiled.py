"""The compiled X12 reader (setup.py compiles scrubber/intake/x12 with mypyc) reads every sample 837
exactly as its Python source does: the same claims, findings and control numbers, in the same order,
whole and in small chunks. The source runs in a child process from a copy of the package without the
compiled modules."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import scrubber
from scrubber import stale_compiled_modules
from scrubber.intake.x12 import segments

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAMPLES = sorted(str(p) for folder in ("x12", "x12-contract11", "x12-corpus") for p in (FIXTURES / folder).iterdir()
                 if p.suffix in (".837", ".837i", ".x12"))

# every result of every sample as JSON lines, read whole and again with 7-character reads
READ_ALL = """
import io, json, sys
from scrubber.intake.x12 import iter_claims, segments
print(segments.__file__)
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8", newline="").read()
    for chunk_size in (8192, 7):
        for result in iter_claims(io.StringIO(text), chunk_size):
            print(json.dumps([path, chunk_size, result.claim, result.findings, result.control], sort_keys=True,
                             default=str))
"""


def read_all(pythonpath: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", READ_ALL, *SAMPLES], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(pythonpath)}, cwd=pythonpath)
    return done.stdout.splitlines()


def test_the_compiled_reader_reads_every_sample_as_its_python_source_does(tmp_path):
    if segments.__file__.endswith(".py"):
        pytest.skip("the X12 reader is installed as plain Python here (SCRUBBER_COMPILE=0)")
    package = Path(scrubber.__file__).parent
    shutil.copytree(package, tmp_path / "scrubber", ignore=shutil.ignore_patterns("*.so", "__pycache__", "data"))
    compiled, source = read_all(package.parent), read_all(tmp_path)

    assert compiled[0].endswith(".so") and source[0].endswith("segments.py")
    assert len(SAMPLES) >= 30 and len(compiled) > 2 * len(SAMPLES)
    assert compiled[1:] == source[1:]


def test_a_source_edited_after_it_was_compiled_refuses_to_import(tmp_path):
    """In a checkout (an editable install), a compiled module older than its source would run the old code."""
    (tmp_path / "pyproject.toml").write_text("")
    package = tmp_path / "scrubber"
    for folder, name in (("intake/x12", "walker"), ("pipeline/enrich", "facts")):
        (package / folder).mkdir(parents=True)
        (package / folder / f"{name}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
        (package / folder / f"{name}.py").write_text("")
        os.utime(package / folder / f"{name}.cpython-311-x86_64-linux-gnu.so", (1_000_000, 1_000_000))
        os.utime(package / folder / f"{name}.py", (2_000_000, 2_000_000))
    assert stale_compiled_modules(package) == ["scrubber/intake/x12/walker.py", "scrubber/pipeline/enrich/facts.py"]

    os.utime(package / "intake/x12/walker.cpython-311-x86_64-linux-gnu.so", (3_000_000, 3_000_000))  # compiled again
    assert stale_compiled_modules(package) == ["scrubber/pipeline/enrich/facts.py"]
    (tmp_path / "pyproject.toml").unlink()  # an installed wheel: no checkout around it
    assert stale_compiled_modules(package) == []
