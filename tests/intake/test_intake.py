"""Intake (scrubber.intake.items) and the endpoints built on it: NDJSON read as it arrives, X12 837
interchanges, one output record per input record, in order, whatever is wrong with some of them."""
from __future__ import annotations

import io
import json
import random
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scrubber.service.app import create_app
from scrubber.ruleset.examples import complete_claim
from scrubber.intake.items import count_ndjson_records, file_items, ndjson_file_items, sniff, x12_items
from tests.contract_example import CONTRACT_CLAIM, assert_problem

X12 = Path(__file__).parents[1] / "fixtures" / "x12"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def ndjson(response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def _unique_mbi() -> str:
    """A made-up Medicare Beneficiary Identifier (CMS's 11-character format: the example claim is a
    Medicare claim, whose member id must be an MBI), drawn at random for this run."""
    letters, digits = "ACDEFGHJKMNPQRTUVWXY", "0123456789"  # no S, L, O, I, B or Z
    pools = {"C": "123456789", "A": letters, "AN": letters + digits, "N": digits}
    rng = random.Random(uuid.uuid4().int)
    return "".join(rng.choice(pools[kind]) for kind in ("C", "A", "AN", "N", "A", "AN", "N", "A", "A", "N", "N"))


# a member of this module's own: claims other tests stored never count as this member's history
MEMBER = _unique_mbi()


def claim_line(claim_id: str, **changes) -> bytes:
    patient = {**CONTRACT_CLAIM["patient"], "member_id": MEMBER}
    return json.dumps({**CONTRACT_CLAIM, "claim_id": claim_id, "patient": patient, **changes}).encode() + b"\n"


# ------------------------------------------------------------------------------ NDJSON reader

def test_ndjson_file_lines_come_out_numbered_with_blank_lines_skipped():
    body = claim_line("A") + b"\n" + b'{"claim_id": 5}\r\n' + b"not json\n" + claim_line("B").rstrip(b"\n")

    items = list(ndjson_file_items(io.BytesIO(body)))

    assert [i.index for i in items] == [1, 2, 3, 4]
    assert [i.claim.claim_id if i.claim else None for i in items] == ["A", None, None, "B"]
    assert items[2].error.detail.startswith("line 4 is not valid JSON")
    assert items[1].error.errors[0].field == "claim_id"
    assert count_ndjson_records(io.BytesIO(body)) == 4


def test_a_line_longer_than_the_limit_is_answered_and_skipped_without_being_held():
    limit = 1024 * 1024
    body = io.BytesIO(claim_line("A") + b'{"claim_id": "' + b"x" * (limit + 10) + b'"}\n' + claim_line("C"))
    reads = []
    read = body.readline
    body.readline = lambda size=-1: reads.append(size) or read(size)

    items = list(ndjson_file_items(body, max_line=limit))

    assert [i.index for i in items] == [1, 2, 3]
    assert items[1].error.detail == "line 2 is longer than 1 MB"
    assert items[2].claim.claim_id == "C"
    assert reads and all(0 < size <= limit + 1 for size in reads)  # never a whole line of any length


# ------------------------------------------------------------------------------ files

def test_file_formats_are_told_by_their_first_bytes(tmp_path):
    pretty = tmp_path / "one.json"
    pretty.write_text(json.dumps(CONTRACT_CLAIM, indent=2))
    lines = tmp_path / "claims.ndjson"
    lines.write_bytes(claim_line("A") + claim_line("B"))
    array = tmp_path / "claims.json"
    array.write_text(json.dumps([CONTRACT_CLAIM, {"claim_id": 3}]))

    assert sniff(b"\xef\xbb\xbf  ISA*00*") == "x12"
    assert sniff(b'{"resourceType": "Bundle"}') == "fhir"
    assert [i.claim.claim_id for i in file_items(pretty)] == [CONTRACT_CLAIM["claim_id"]]
    assert [i.claim.claim_id for i in file_items(lines)] == ["A", "B"]
    assert [(i.index, i.claim is not None) for i in file_items(array)] == [(1, True), (2, False)]
    assert len(list(file_items(X12 / "837_005010X222A2__demo.example1.837"))) == 1


def test_an_837_claim_the_contract_refuses_keeps_its_findings_and_is_reported(tmp_path):
    text = (X12 / "837_005010X222A2__demo.example1.837").read_text()
    start, end = text.index("LX*1"), text.index("SE*")
    without_lines = text[:start] + text[end:]

    # SE01 no longer counts the segments: the envelope's finding comes as a result of its own
    [item, trailer] = list(x12_items(io.StringIO(without_lines)))

    assert [f.rule_id for f in trailer.found] == ["x12-control-count"] and trailer.claim is None
    assert item.claim is None and item.claim_id == "26463774"
    assert "x12-claim-incomplete" in [f.rule_id for f in item.found]
    incomplete = [f for f in item.found if f.rule_id == "x12-claim-incomplete"]
    assert incomplete[0].field == "lines" and incomplete[0].category == "required_field"


# ------------------------------------------------------------------------------ the batch endpoint

def test_ndjson_batch_sent_in_small_chunks_gives_one_record_per_line_in_order(client):
    body = b"".join([claim_line("A"), b"\n", b"{oops\n", claim_line("B", claim_type="dental"),
                     claim_line("C")])

    def chunks():
        for start in range(0, len(body), 50):
            yield body[start:start + 50]

    records = ndjson(client.post("/v1/claims/scrub/batch", content=chunks(),
                                 headers={"content-type": "application/x-ndjson"}))

    assert [r.get("claim_id", r.get("index")) for r in records] == ["A", 2, 3, "C"]
    assert records[1]["error"]["detail"].startswith("line 3 is not valid JSON")
    assert records[2]["error"]["errors"][0]["field"] == "claim_type"
    assert records[0]["status"] == "pass"
    # C bills A's service again: A was recorded before C was scrubbed
    assert [f["rule_id"] for f in records[3]["findings"]] == ["duplicate-of-earlier-claim"]


def test_a_batch_of_many_claims_is_answered_in_order(client):
    body = b"".join(claim_line(f"C{i:04d}") for i in range(300))

    records = ndjson(client.post("/v1/claims/scrub/batch", content=body,
                                 headers={"content-type": "application/x-ndjson"}))

    assert [r["claim_id"] for r in records] == [f"C{i:04d}" for i in range(300)]


def test_an_empty_batch_is_a_422(client):
    assert_problem(client.post("/v1/claims/scrub/batch", content=b"  \n\n",
                               headers={"content-type": "application/x-ndjson"}), 422, "invalid-request")


# ------------------------------------------------------------------------------ the X12 endpoint

@pytest.mark.parametrize("sample", sorted(p.name for p in X12.glob("*.837*")))
def test_every_sample_interchange_gives_one_result_per_claim(client, sample):
    text = (X12 / sample).read_bytes()

    records = ndjson(client.post("/v1/claims/scrub/x12", content=text, headers={"content-type": "text/plain"}))

    assert len(records) == text.count(b"CLM*") == 1
    assert records[0]["status"] in ("pass", "warn", "fail") and records[0]["scrub_id"]


def test_x12_findings_come_first_and_name_the_segment(client):
    text = (X12 / "837_005010X222A2__demo.example6.837").read_bytes()

    [record] = ndjson(client.post("/v1/claims/scrub/x12", content=text, headers={"content-type": "text/plain"}))

    x12 = [f for f in record["findings"] if f["rule_id"].startswith("x12-")]
    assert record["status"] == "fail"
    # format errors, and a notice (info) that the sample's interchange is dated after its BHT04
    assert [(f["category"], f["source"]) for f in x12] == [("date", "x12")] + [("format", "x12")] * (len(x12) - 1)
    assert any("CLM05" in f["message"] for f in x12)
    assert record["findings"][:len(x12)] == x12


def test_two_interchanges_in_one_body_give_all_their_claims_in_order(client):
    a = (X12 / "837_005010X222A2__demo.example1.837").read_bytes()
    b = (X12 / "837_005010X223A3__institutional-claim.837i").read_bytes()

    records = ndjson(client.post("/v1/claims/scrub/x12", content=a + b"\n" + b + b"\n" + a,
                                 headers={"content-type": "text/plain"}))

    assert [r["claim_id"] for r in records] == ["26463774", records[1]["claim_id"], "26463774"]
    assert records[1]["claim_id"] != "26463774"


def test_a_body_that_is_not_an_interchange_is_a_422(client):
    body = assert_problem(client.post("/v1/claims/scrub/x12", content=b"HELLO*WORLD~",
                                      headers={"content-type": "text/plain"}), 422, "invalid-x12")
    assert "ISA" in body["detail"]


def test_x12_results_are_kept_in_the_audit_trail(client):
    text = (X12 / "837_005010X222A2__demo.example1.837").read_bytes()
    [record] = ndjson(client.post("/v1/claims/scrub/x12", content=text, headers={"content-type": "text/plain"}))

    stored = client.get(f"/v1/scrubs/{record['scrub_id']}")

    assert stored.status_code == 200
    assert stored.json()["claim"]["claim_id"] == "26463774"


def test_complete_claim_helper_is_a_valid_batch_line(client):
    body = json.dumps(complete_claim({"claim_id": "X-1"})).encode()
    [record] = ndjson(client.post("/v1/claims/scrub/batch", content=body,
                                  headers={"content-type": "application/x-ndjson"}))
    assert record["claim_id"] == "X-1"
