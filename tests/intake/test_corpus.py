"""The corpus test (issue 15, item 4): every sample file in tests/fixtures (the X12 implementation guide
samples in x12/, the contract 1.1 interchanges in x12-contract11/, the constructed corpus in x12-corpus/
and the FHIR resources in fhir/), posted through the service, gives a 200 (never a 5xx), one result per
claim (the CLM segments of its 837P/837I transaction sets, the Claims of a FHIR resource) plus one result
without claim for each envelope problem or non-claim transaction set, and exactly the outcome written in
tests/fixtures/x12-corpus/expected.yaml: for each result its claim id, status and the set of rule ids
that fire, and the category of each X12 reader finding. An expectation marked `xfail` there is written
as it should be for a behaviour being built (see x12-corpus/SOURCES.md); its case is a strict xfail."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from scrubber.service.app import create_app

FIXTURES = Path(__file__).parents[1] / "fixtures"
CORPUS = FIXTURES / "x12-corpus"
X12_SUFFIXES = (".837", ".837i", ".x12")
CLAIM_GUIDES = ("005010X222", "005010X223")  # 837P and 837I: the transaction sets whose CLMs are claims
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((CORPUS / "expected.yaml").read_text())


def sample_names() -> list[str]:
    """Every sample file, as its path under tests/fixtures."""
    x12 = [p for folder in ("x12", "x12-contract11", "x12-corpus") for p in (FIXTURES / folder).iterdir()
           if p.suffix in X12_SUFFIXES]
    return sorted(str(p.relative_to(FIXTURES)) for p in [*x12, *(FIXTURES / "fhir").glob("*.json")])


def case(name: str) -> Any:
    reason = EXPECTED.get(name, {}).get("xfail")
    return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=reason)) if reason else name


def x12_claims(data: bytes) -> int:
    """The CLM segments of the 837P/837I transaction sets of an interchange, counted from its bytes with
    the separators its ISA declares."""
    text = data.removeprefix(b"\xef\xbb\xbf").decode("ascii")
    element, terminator = text[3], text[105]
    count, claims = 0, False
    for segment in text.split(terminator):
        fields = segment.strip().split(element)
        if fields[0] == "ST":
            claims = len(fields) > 3 and fields[3].startswith(CLAIM_GUIDES)
        elif fields[0] == "CLM" and claims:
            count += 1
    return count


def fhir_claims(data: bytes) -> int:
    resource = json.loads(data)
    if resource["resourceType"] == "Bundle":
        return sum(1 for entry in resource["entry"] if entry["resource"]["resourceType"] == "Claim")
    return int(resource["resourceType"] == "Claim")


def outcome(record: dict[str, Any]) -> dict[str, Any]:
    """What expected.yaml says of a result: an error record's status and fields, or a claim result's id,
    status, sorted rule ids and the categories of its X12 findings."""
    if "error" in record:
        return {"error": record["error"]["status"], "fields": [e["field"] for e in record["error"].get("errors", [])]}
    found = {"claim_id": record["claim_id"], "status": record["status"],
             "rules": sorted({f["rule_id"] for f in record["findings"]})}
    categories = {f["rule_id"]: f["category"] for f in record["findings"] if f["rule_id"].startswith("x12-")}
    if categories:
        found["categories"] = categories
    return found


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def test_every_sample_has_an_expectation_and_every_expectation_a_sample():
    assert sorted(EXPECTED) == sample_names()


def test_the_corpus_has_20_constructed_interchanges_each_described_in_sources():
    corpus = sorted(p.name for p in CORPUS.iterdir() if p.suffix in X12_SUFFIXES)
    sources = (CORPUS / "SOURCES.md").read_text()
    assert len(corpus) >= 20
    assert [name for name in corpus if f"`{name}`" not in sources] == []


@pytest.mark.parametrize("name", [case(name) for name in sample_names()])
def test_a_sample_gives_one_result_per_claim_and_exactly_its_expected_findings(client, store, name):
    """`store` empties the claim history first, so no sample is a duplicate of another test's claims."""
    data = (FIXTURES / name).read_bytes()
    fhir = name.endswith(".json")
    response = client.post("/v1/claims/scrub/fhir" if fhir else "/v1/claims/scrub/x12", content=data,
                           headers={"content-type": "application/fhir+json" if fhir else "text/plain"})
    assert response.status_code == 200, response.text
    records = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    if fhir:
        assert len(records) == fhir_claims(data)
    else:
        assert sum(1 for r in records if r.get("claim_id") is not None) == x12_claims(data)
    assert [outcome(r) for r in records] == EXPECTED[name]["results"]
