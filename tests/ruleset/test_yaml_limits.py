"""Bounded cost for YAML rule and payer files (scrubber/ruleset/yaml_source.py, POST /v1/rules/validate,
`scrubber rules lint`): anchors, aliases and merge keys are refused where they are written (so an
alias or merge-key bomb costs nothing), nesting depth and node count are capped while the file is
composed, numbers have a bounded length, and validation runs off the event loop.

Every refusal is a lint problem at file:line:column, never a 500.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from scrubber import limits

from scrubber.service.routes import rules as rule_routes
from scrubber.service.app import create_app
from scrubber.cli import main
from scrubber.ruleset.yaml_source import YamlError, load_document
from tests.contract_example import assert_problem

VALIDATE = "/v1/rules/validate"
YAML = {"content-type": "application/yaml"}
NAMES = "abcdefghi"


def laughs() -> str:
    """The "billion laughs": 9 levels of 9 aliases each, 9**9 = 387 million strings once expanded."""
    lines = ["schema_version: 1", 'a: &a [' + ",".join(['"lol"'] * 9) + "]"]
    lines += [f"{NAMES[i]}: &{NAMES[i]} [" + ",".join([f"*{NAMES[i - 1]}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def merge_bomb() -> str:
    """Merge keys that each merge the previous mapping 9 times: 3 * 9**8 key/value pairs flattened."""
    lines = ["schema_version: 1", "a: &a {x: 1, y: 2, z: 3}"]
    lines += [f"{NAMES[i]}: &{NAMES[i]} {{<<: [" + ",".join([f"*{NAMES[i - 1]}"] * 9) + "]}" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


ALIAS_A = "aliases (*a) are not allowed in rule files; write the values out or use a value set"


def too_deep(depth: int) -> str:
    return f"lists and blocks are nested more than {depth} levels deep here; a rule file needs about 10"


def too_many(nodes: int) -> str:
    return f"the file holds more than {nodes} values (texts, numbers, lists and blocks); split it into smaller files"


VALID_FILE = """\
schema_version: 1
rules:
  - id: modifier-zz-unknown
    title: Modifier ZZ is not a modifier
    category: modifier
    severity: error
    carc: CO-4
    when:
      line:
        modifiers: {contains: "ZZ"}
    message: "Line {line_number} carries modifier ZZ"
    field: "lines[{line_number}].modifiers"
    suggestion: Remove modifier ZZ
    examples:
      - name: ZZ
        claim: {lines: [{procedure_code: "99213", modifiers: ["ZZ"]}]}
        expect: [modifier-zz-unknown]
"""


@pytest.fixture()
def client(store):
    """The service on the test database, shipped rules, no API key (loopback = admin); a server
    error comes back as a 500 response instead of being raised in the test."""
    with TestClient(create_app(store=store), raise_server_exceptions=False) as c:
        yield c


def validate(client: TestClient, text: str, name: str = "rules/bomb.yaml"):
    return client.post(VALIDATE, params={"name": name}, content=text, headers=YAML)


def problems_of(response) -> list[tuple]:
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert (body["valid"], body["rules"]) == (False, 0)
    return [(p["file"], p["line"], p["column"], p["message"], p["rule_id"]) for p in body["problems"]]


def refusal(text: str) -> str:
    """The one problem load_document refuses `text` with, as file:line:column: message."""
    with pytest.raises(YamlError) as refused:
        load_document(text, "rules/x.yaml")
    return str(refused.value.problem)


# ----------------------------------------------------------------------------- alias and merge-key bombs


@pytest.mark.parametrize("name", ["rules/bomb.yaml", "payers/bomb.yaml"])
def test_billion_laughs_posted_to_validate_is_refused_at_its_first_alias_within_a_second(client, name):
    text = laughs()
    assert len(text) <= 450

    started = time.perf_counter()
    response = validate(client, text, name)
    elapsed = time.perf_counter() - started

    assert problems_of(response) == [(name, 3, 8, ALIAS_A, None)]
    assert elapsed < 1.0


def test_merge_key_bomb_posted_to_validate_is_refused_at_its_first_alias_within_a_second(client):
    text = merge_bomb()
    assert len(text) <= 450

    started = time.perf_counter()
    response = validate(client, text)
    elapsed = time.perf_counter() - started

    assert problems_of(response) == [("rules/bomb.yaml", 3, 13, ALIAS_A, None)]
    assert elapsed < 1.0


def test_rules_lint_refuses_a_bomb_file_with_file_line_column_and_exits_1(tmp_path, capsys):
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "bomb.yaml").write_text(laughs(), encoding="utf-8")

    code = main(["rules", "lint", str(rules)])

    assert code == 1
    assert capsys.readouterr().out.splitlines() == [f"myrules/bomb.yaml:3:8: {ALIAS_A}", "1 problem(s) found"]


def test_an_anchor_without_an_alias_is_refused_at_the_anchor():
    assert refusal("schema_version: 1\nrules: &all []\n") == (
        "rules/x.yaml:2:8: anchors (&all) are not allowed in rule files; write the values out or use a value set")


def test_an_inline_merge_key_is_refused_at_the_key():
    assert refusal("schema_version: 1\npayer: {<<: {id: acme}, name: Acme}\n") == (
        "rules/x.yaml:2:9: merge keys (<<) are not allowed in rule files; write the values out")


def test_a_quoted_merge_key_is_an_ordinary_key():
    assert load_document('schema_version: 1\npayer: {"<<": 1}\n', "rules/x.yaml").data == {
        "schema_version": 1, "payer": {"<<": 1}}


# ----------------------------------------------------------------------------- nesting depth


def test_yaml_nested_10000_deep_is_a_lint_problem_at_the_first_level_too_deep_not_a_500(client):
    text = "schema_version: 1\nrules: " + "[" * 10_000 + "]" * 10_000 + "\n"

    response = validate(client, text)

    # the root block is level 1, so the first '[' past the limit is number MAX_YAML_DEPTH
    assert problems_of(response) == [("rules/bomb.yaml", 2, len("rules: ") + limits.MAX_YAML_DEPTH,
                                        too_deep(limits.MAX_YAML_DEPTH), None)]


def test_block_style_nesting_is_counted_too(monkeypatch):
    monkeypatch.setattr(limits, "MAX_YAML_DEPTH", 3)
    text = "a:\n  b:\n    c:\n      d: 1\n"

    assert refusal(text) == f"rules/x.yaml:4:7: {too_deep(3)}"


def test_nesting_exactly_at_the_depth_limit_loads(monkeypatch):
    monkeypatch.setattr(limits, "MAX_YAML_DEPTH", 3)

    assert load_document("a: [[x]]\n", "rules/x.yaml").data == {"a": [["x"]]}
    assert refusal("a: [[[x]]]\n") == f"rules/x.yaml:1:6: {too_deep(3)}"


# ----------------------------------------------------------------------------- node count


def test_more_than_max_yaml_nodes_is_a_lint_problem_at_the_first_node_past_the_limit(client):
    # nodes: the root block, 'schema_version', 1, 'rules', the list, then one per item
    text = "schema_version: 1\nrules:\n" + "  - 1\n" * limits.MAX_YAML_NODES
    assert len(text.encode()) <= limits.MAX_RULE_FILE_BYTES
    first_item_past = limits.MAX_YAML_NODES + 1 - 6  # 0-based index of the item that is node MAX + 1

    response = validate(client, text)

    assert problems_of(response) == [("rules/bomb.yaml", 3 + first_item_past, 5,
                                         too_many(limits.MAX_YAML_NODES), None)]


def test_exactly_max_yaml_nodes_load(monkeypatch):
    monkeypatch.setattr(limits, "MAX_YAML_NODES", 7)  # the root block, a, the list, 1, 2, b, 3

    assert load_document("a: [1, 2]\nb: 3\n", "rules/x.yaml").data == {"a": [1, 2], "b": 3}
    assert refusal("a: [1, 2]\nb: [3]\n") == f"rules/x.yaml:2:5: {too_many(7)}"


# ----------------------------------------------------------------------------- numbers and body size


@pytest.mark.parametrize("number", ["9" * 5000, "1" + ":00" * 100_000, "1" + ":00" * 100_000 + ".5"],
                         ids=["5000 digits", "sexagesimal int", "sexagesimal float"])
def test_an_overlong_number_is_a_lint_problem_not_a_500(client, number):
    response = validate(client, f"schema_version: 1\nrules: {number}\n")

    assert problems_of(response) == [
        ("rules/bomb.yaml", 2, 8, f"a number of more than {limits.MAX_YAML_NUMBER_CHARS} characters; "
                                  f"write it in quotes if it is text", None)]


@pytest.mark.parametrize(("value", "message"), [
    ("2026-02-30", "2026-02-30 is not a valid date: day is out of range for month"),
    ("2026-02-03 25:00:00", "2026-02-03 25:00:00 is not a valid date: hour must be in 0..23"),
    ("!!int x", "x is not a valid whole number: invalid literal for int() with base 10: 'x'"),
])
def test_a_value_yaml_cannot_convert_is_a_lint_problem_not_a_500(client, value, message):
    response = validate(client, f"schema_version: 1\nrules:\n  - effective: {{from: {value}}}\n")

    assert problems_of(response) == [("rules/bomb.yaml", 3, 23, message, None)]


def test_validate_refuses_a_file_over_max_rule_file_bytes_with_413(client):
    text = "schema_version: 1\n#" + "x" * limits.MAX_RULE_FILE_BYTES + "\n"

    assert_problem(validate(client, text), 413, "too-large")


# ----------------------------------------------------------------------------- off the event loop


def test_healthz_answers_while_a_validate_request_is_being_linted(store, monkeypatch):
    linting, release, lint_returned = threading.Event(), threading.Event(), threading.Event()
    original = rule_routes.load_deployment_texts

    def slow_lint(*args, **kwargs):
        linting.set()
        release.wait(5)
        lint_returned.set()
        return original(*args, **kwargs)

    monkeypatch.setattr(rule_routes, "load_deployment_texts", slow_lint)
    with TestClient(create_app(store=store)) as client, ThreadPoolExecutor(1) as pool:
        validating = pool.submit(validate, client, VALID_FILE, "rules/extra.yaml")
        assert linting.wait(5)

        health = client.get("/healthz")
        answered_while_linting = not lint_returned.is_set()
        release.set()

        assert health.status_code == 200
        assert answered_while_linting
        assert validating.result(timeout=30).json() == {"valid": True, "rules": 1, "problems": []}
