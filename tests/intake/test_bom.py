"""A UTF-8 byte-order mark (which Windows tools put before the text) is accepted before an X12 ISA, a
JSON claim or array, NDJSON and a FHIR resource: by the endpoints and by the file reader, with the
same results as without it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scrubber.intake.items import file_items
from scrubber.service.app import create_app
from tests.contract_example import CONTRACT_CLAIM

BOM = b"\xef\xbb\xbf"
FIXTURES = Path(__file__).parents[1] / "fixtures"
X12 = (FIXTURES / "x12" / "837_005010X222A2__demo.example1.837").read_bytes()
FHIR = (FIXTURES / "fhir" / "claim-professional.json").read_bytes()


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def records(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def outcome(record: dict) -> tuple:
    """What a result says, without what changes from one scrub to the next."""
    return record.get("claim_id"), record.get("status"), [f["rule_id"] for f in record.get("findings", [])]


@pytest.mark.parametrize("path,body,content_type", [
    ("/v1/claims/scrub/x12", X12, "text/plain"),
    ("/v1/claims/scrub/fhir", FHIR, "application/fhir+json"),
    ("/v1/claims/scrub/batch", json.dumps([CONTRACT_CLAIM]).encode(), "application/json"),
    ("/v1/claims/scrub/batch", json.dumps(CONTRACT_CLAIM).encode() + b"\n", "application/x-ndjson"),
])
def test_the_endpoints_accept_a_byte_order_mark(client, path, body, content_type):
    plain = records(client.post(path, content=body, headers={"content-type": content_type}))
    marked = records(client.post(path, content=BOM + body, headers={"content-type": content_type}))
    assert len(plain) == 1 and "error" not in plain[0]
    assert [outcome(r) for r in marked] == [outcome(r) for r in plain]


@pytest.mark.parametrize("name,body", [
    ("claims.837", X12), ("claim.json", json.dumps(json.loads(FHIR)).encode()),  # (told FHIR on its first line)
    ("claims.json", json.dumps([CONTRACT_CLAIM]).encode()),
    ("claims.ndjson", json.dumps(CONTRACT_CLAIM).encode() + b"\n" + json.dumps(CONTRACT_CLAIM).encode() + b"\n"),
])
def test_files_with_a_byte_order_mark_read_as_without(tmp_path, name, body):
    plain, marked = tmp_path / name, tmp_path / f"bom-{name}"
    plain.write_bytes(body)
    marked.write_bytes(BOM + body)
    expected = [(i.claim, i.error, [f.rule_id for f in i.found]) for i in file_items(plain)]
    assert expected and all(claim is not None for claim, _, _ in expected)
    assert [(i.claim, i.error, [f.rule_id for f in i.found]) for i in file_items(marked)] == expected
