"""The committed documents match the code, and CI runs exactly the README's test command."""
import re
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from scrubber import schemas

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(schemas.documents()))
def test_committed_document_matches_the_code(name):
    committed = (ROOT / name).read_text(encoding="utf-8")
    assert committed == schemas.documents()[name], f"{name} is stale: run `python -m scrubber.schemas`"


def test_ci_runs_exactly_the_test_command_of_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    test_command = next(c for c in commands if "scripts/test" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@pytest.mark.parametrize("path", sorted((ROOT / "rules").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_rule_file_validates_against_the_published_schema_and_points_editors_at_it(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../openapi/rule-file.schema.json\n")
    validator = jsonschema_rs.validator_for(schemas.rule_file_schema())
    errors = [str(e) for e in validator.iter_errors(_jsonable(yaml.safe_load(text)))]
    assert errors == []


def test_published_schema_refuses_an_unknown_rule_setting():
    validator = jsonschema_rs.validator_for(schemas.rule_file_schema())
    document = {"schema_version": 1, "rules": [{
        "id": "x-rule", "title": "x rule", "category": "format", "severity": "error",
        "when": {"line": {"units": {"gt": 4}}}, "message": "too many", "suggestion": "fewer",
        "examples": [{"name": "n", "claim": {}, "expect": []}], "sevrity": "error"}]}
    errors = [str(e) for e in validator.iter_errors(document)]
    assert len(errors) == 1 and "sevrity" in errors[0]
