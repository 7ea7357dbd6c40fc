"""The package installed as a wheel (`pip install .`, not only `-e`): the shipped rules, payer profiles,
documents, reference data and migrations travel inside it, and the commands work with no checkout around."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
                   check=True, cwd=build, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return next(out.glob("claim_scrubber-*.whl"))


def test_the_wheel_carries_rules_payers_documents_reference_data_migrations_and_the_workbench(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())

    for folder in ("rules", "payers"):
        shipped = sorted(p.name for p in (ROOT / folder).glob("*.yaml"))
        assert shipped and {f"scrubber/shipped/{folder}/{n}" for n in shipped} <= names
    assert {"scrubber/shipped/openapi/openapi.json", "scrubber/shipped/openapi/rule-file.schema.json",
            "scrubber/shipped/openapi/payer-file.schema.json", "scrubber/data/SOURCES.md",
            "scrubber/audit/migrations/env.py"} <= names
    assert any(n.startswith("scrubber/audit/migrations/versions/0002_") for n in names)
    assert any(n.startswith("scrubber/data/baseline/") for n in names)
    workbench = sorted(p.name for p in (ROOT / "scrubber" / "service" / "ui" / "static").iterdir())
    assert {"index.html", "app.js", "app.css", "check.js"} <= set(workbench)
    assert {f"scrubber/service/ui/static/{n}" for n in workbench} <= names  # the /ui pages, no build step


def test_the_wheel_carries_the_x12_reader_and_the_pipeline_compiled(wheel):
    """setup.py compiles every module of scrubber/intake/x12 and the pipeline's hot modules with mypyc (their
    sources travel too)."""
    if os.environ.get("SCRUBBER_COMPILE") == "0":
        pytest.skip("SCRUBBER_COMPILE=0: the wheel is built as plain Python")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = sorted(p.stem for p in (ROOT / "scrubber" / "intake" / "x12").glob("*.py"))
    compiled = {n.split("/")[-1].split(".")[0] for n in names if n.startswith("scrubber/intake/x12/") and n.endswith(".so")}
    assert len(modules) >= 9 and compiled == set(modules)
    for module in ("scrubber/pipeline/enrich/facts", "scrubber/pipeline/engine/fact_filter", "scrubber/ruleset/semantics",
                   "scrubber/pipeline/findings"):
        assert any(n.startswith(module + ".") and n.endswith(".so") for n in names), module
        assert module + ".py" in names
    assert any(n.startswith("scrubber_compiled__mypyc.") and n.endswith(".so") for n in names)  # mypyc's runtime


def test_the_installed_wheel_lints_and_tests_the_shipped_rules_away_from_any_checkout(wheel, tmp_path, data_dir):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True)
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "SCRUBBER_DATA_DIR": data_dir}
    env.pop("SCRUBBER_RULES_DIR", None)
    env.pop("SCRUBBER_PAYERS_DIR", None)

    def scrubber(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "scrubber.cli", *args], cwd=away, env=env,
                              capture_output=True, text=True)

    where = subprocess.run([sys.executable, "-c", "import scrubber.settings as s; print(s.settings().rules_dir)"],
                           cwd=away, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert where == str(target / "scrubber" / "shipped" / "rules")
    lint = scrubber("rules", "lint")
    assert lint.returncode == 0 and "no problems" in lint.stdout, lint.stdout + lint.stderr
    test = scrubber("rules", "test")
    assert test.returncode == 0 and test.stdout.strip().splitlines()[-1].endswith(" 0 failed"), test.stdout[-2000:]

    # an 837 read by the installed (compiled) X12 reader: one result per CLM
    reader = subprocess.run([sys.executable, "-c", "import scrubber.intake.x12.segments as s; print(s.__file__)"],
                            cwd=away, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert reader.startswith(str(target)) and reader.endswith(".so" if os.environ.get("SCRUBBER_COMPILE") != "0" else ".py")
    sample = ROOT / "tests" / "fixtures" / "x12" / "837_005010X222A2__demo.example1.837"
    check = scrubber("check", str(sample), "--out", str(tmp_path / "results.ndjson"))
    results = [json.loads(line) for line in (tmp_path / "results.ndjson").read_text().splitlines()]
    assert [r["claim_id"] for r in results] == ["26463774"] and check.returncode in (0, 1), check.stderr
