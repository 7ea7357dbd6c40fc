"""The `scrubber` command line, run in-process (scrubber/cli.py)."""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from scrubber.cli import main
from scrubber.ruleset.payers import load_deployment
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.loader import SHIPPED_RULES

RULES = str(SHIPPED_RULES)
CONTRACT_RESULT_FIELDS = {"claim_id", "status", "findings", "ruleset", "scrub_id"}


def clean_claim(claim_id: str = "CLEAN-1") -> dict:
    return complete_claim({"claim_id": claim_id})


def npi_and_pointer_claim(claim_id: str = "BAD-1") -> dict:
    """A bad billing NPI check digit (1234567890; 1234567893 is valid) and a pointer to a
    third diagnosis on a claim that lists one."""
    return complete_claim({"claim_id": claim_id, "billing_provider": {"npi": "1234567890"},
                           "lines": [{"diagnosis_pointers": [1, 3]}]})


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def check(capsys, *argv: str) -> tuple[int, str]:
    code = main(["check", "--rules", RULES, *argv])
    return code, capsys.readouterr().out


# ----------------------------------------------------------------------------- check


def test_check_table_lists_npi_and_pointer_findings_and_exits_1(tmp_path, capsys):
    claim_file = write(tmp_path, "bad.json", json.dumps(npi_and_pointer_claim()))

    code, out = check(capsys, claim_file)

    assert code == 1
    assert f"{claim_file} #1  claim BAD-1: FAIL" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("error")]
    assert [row[1] for row in rows] == ["npi-check-digit", "pointer-invalid"]
    assert "0 pass, 0 warn, 1 fail, 0 unreadable" in out


def test_check_json_prints_one_contract_result_per_claim(tmp_path, capsys):
    claims = [npi_and_pointer_claim("BAD-1"), clean_claim("CLEAN-1")]
    claim_file = write(tmp_path, "claims.json", json.dumps(claims))

    code, out = check(capsys, "--json", claim_file)

    results = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert len(results) == 2
    assert all(set(r) >= CONTRACT_RESULT_FIELDS for r in results)
    bad, clean = results
    assert (bad["claim_id"], bad["status"]) == ("BAD-1", "fail")
    assert [f["rule_id"] for f in bad["findings"]] == ["npi-check-digit", "pointer-invalid"]
    assert (clean["claim_id"], clean["status"], clean["findings"]) == ("CLEAN-1", "pass", [])


def test_check_json_findings_carry_the_contract_finding_fields(tmp_path, capsys):
    claim_file = write(tmp_path, "bad.json", json.dumps(npi_and_pointer_claim()))

    _, out = check(capsys, "--json", claim_file)

    findings = {f["rule_id"]: f for f in json.loads(out)["findings"]}
    assert findings["npi-check-digit"] == {
        "rule_id": "npi-check-digit", "category": "npi", "severity": "error",
        "message": "The billing provider NPI 1234567890 fails its check digit: a digit was mistyped",
        "lines": [], "field": "billing_provider.npi", "carc": "CO-207", "rarc": "N290",
        "suggestion": findings["npi-check-digit"]["suggestion"], "source": "rules/npi.yaml"}
    pointer = findings["pointer-invalid"]
    assert (pointer["category"], pointer["lines"], pointer["field"], pointer["carc"]) == (
        "dx_pointer", [1], "lines[1].diagnosis_pointers", "CO-16")


def test_check_json_result_names_the_ruleset_revision_and_a_ulid(tmp_path, capsys):
    claim_file = write(tmp_path, "clean.json", json.dumps(clean_claim()))

    _, out = check(capsys, "--json", claim_file)

    result = json.loads(out)
    revision = load_deployment(RULES, str(Path(RULES).parent / "payers")).revision  # the rules and payer profiles
    assert result["ruleset"] == {"revision": revision, "effective_date": "2026-01-05"}
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", result["scrub_id"])


def test_check_clean_claim_passes_and_exits_0(tmp_path, capsys):
    claim_file = write(tmp_path, "clean.json", json.dumps(clean_claim()))

    code, out = check(capsys, "--json", claim_file)

    assert code == 0
    result = json.loads(out)
    assert (result["status"], result["findings"]) == ("pass", [])


def test_check_clean_claim_table_says_pass(tmp_path, capsys):
    claim_file = write(tmp_path, "clean.json", json.dumps(clean_claim()))

    code, out = check(capsys, claim_file)

    assert code == 0
    assert f"{claim_file} #1  claim CLEAN-1: PASS" in out
    assert "1 pass, 0 warn, 0 fail, 0 unreadable" in out


def test_check_ndjson_with_a_malformed_claim_reports_every_claim_in_order(tmp_path, capsys):
    ndjson = "\n".join([json.dumps(clean_claim("FIRST")),
                        json.dumps({"claim_type": "dental", "lines": []}),
                        json.dumps(npi_and_pointer_claim("THIRD"))]) + "\n"
    claim_file = write(tmp_path, "batch.ndjson", ndjson)

    code, out = check(capsys, "--json", claim_file)

    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert len(records) == 3
    first, error, third = records
    assert (first["claim_id"], first["status"]) == ("FIRST", "pass")
    assert (error["file"], error["index"]) == (claim_file, 2)
    assert "error" in error and "claim_id" not in error
    assert {e["field"] for e in error["errors"]} == {"claim_type", "lines"}
    assert (third["claim_id"], third["status"]) == ("THIRD", "fail")


def test_check_ndjson_line_that_is_not_json_is_an_error_record(tmp_path, capsys):
    ndjson = "\n".join([json.dumps(clean_claim("FIRST")), '{"claim_type": "professional", ',
                        json.dumps(clean_claim("THIRD"))]) + "\n"
    claim_file = write(tmp_path, "batch.ndjson", ndjson)

    code, out = check(capsys, "--json", claim_file)

    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [r.get("claim_id") for r in records] == ["FIRST", None, "THIRD"]
    assert records[1]["index"] == 2
    assert records[1]["error"].startswith("line 2 is not valid JSON")


# ----------------------------------------------------------------------------- rules lint / test


def test_rules_lint_accepts_the_shipped_rules(capsys):
    code = main(["rules", "lint", RULES])

    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^\d+ file\(s\), \d+ rule\(s\) and 4 payer profile\(s\) \(acme-health, medicare, "
                     r"northwind, state-medicaid\): no problems \(revision [0-9a-f]{12}\)$", out, re.M)


BROKEN_RULE = textwrap.dedent("""\
    schema_version: 1
    rules:
      - id: pos-home
        title: Home place of service
        category: place_of_service
        severity: warning
        when:
          claim: {place_of_service: 12}
        message: "Place of service {place_of_service} is home"
        suggestion: Check the place of service
        examples:
          - name: home
            claim: {place_of_service: "12"}
            expect: [pos-home]
    """)


def test_rules_lint_reports_file_line_column_and_exits_1(tmp_path, capsys):
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "home.yaml").write_text(BROKEN_RULE, encoding="utf-8")

    code = main(["rules", "lint", str(rules)])

    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out == [
        "myrules/home.yaml:8:15: write 12 in quotes: codes are text, and YAML reads 02 as the number 2",
        "1 problem(s) found",
    ]


def test_rules_lint_reports_problems_of_every_file_before_loading_anything(tmp_path, capsys):
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "home.yaml").write_text(BROKEN_RULE, encoding="utf-8")
    (rules / "other.yaml").write_text(BROKEN_RULE.replace("pos-home", "pos-other")
                                      .replace("category: place_of_service", "category: pos"),
                                      encoding="utf-8")

    code = main(["rules", "lint", str(rules)])

    problems = capsys.readouterr().out.splitlines()[:-1]
    assert code == 1
    assert len(problems) == 2
    assert all(re.fullmatch(r"myrules/(home|other)\.yaml:\d+:\d+: .+", p) for p in problems)
    assert [p.split(": ")[0] for p in problems] == ["myrules/home.yaml:8:15", "myrules/other.yaml:5:5"]
    assert problems[1].startswith("myrules/other.yaml:5:5: 'pos' is not a category")


def test_rules_test_runs_every_shipped_example_and_all_pass(capsys):
    code = main(["rules", "test", RULES])

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert re.fullmatch(r"\d+ passed, 0 failed", out[-1])
    assert not [line for line in out if line.startswith("FAIL")]


def test_rules_test_reports_an_example_that_does_not_fire(tmp_path, capsys):
    rules = tmp_path / "myrules"
    rules.mkdir()
    text = BROKEN_RULE.replace("{place_of_service: 12}", '{place_of_service: "12"}').replace(
        'claim: {place_of_service: "12"}\n        expect', 'claim: {place_of_service: "11"}\n        expect')
    (rules / "home.yaml").write_text(text, encoding="utf-8")

    code = main(["rules", "test", str(rules)])

    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out == ["FAIL myrules/home.yaml:12: pos-home: example 'home': expected pos-home to fire but it did not",
                   "0 passed, 1 failed"]


def test_check_with_broken_rules_exits_2_and_loads_nothing(tmp_path, capsys):
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "home.yaml").write_text(BROKEN_RULE, encoding="utf-8")
    claim_file = write(tmp_path, "clean.json", json.dumps(clean_claim()))

    with pytest.raises(SystemExit) as exited:
        main(["check", "--rules", str(rules), claim_file])

    captured = capsys.readouterr()
    assert exited.value.code == 2
    assert captured.out == ""
    assert "myrules/home.yaml:8:15: write 12 in quotes" in captured.err
