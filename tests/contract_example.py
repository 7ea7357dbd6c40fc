"""The example claim of shared/contract.md, verbatim, shared by the tests."""
from typing import Any

CONTRACT_CLAIM: dict[str, Any] = {
    "claim_id": "PCN-000123",
    "claim_type": "professional",
    "frequency_code": "1",
    "submission_date": "2026-11-27",
    "payer": {"id": "medicare", "name": "Medicare Part B"},
    "patient": {"member_id": "1EG4TE5MK72", "first_name": "Ann", "last_name": "Lee",
                "birth_date": "1950-03-14", "sex": "F"},
    "billing_provider": {"npi": "1912301953", "taxonomy": "207Q00000X", "tax_id": "587654321"},
    "rendering_provider": {"npi": "1234567893"},
    "place_of_service": "11",
    "prior_authorization": None,
    "diagnoses": [{"code": "E11.9"}, {"code": "I10"}],
    "lines": [
        {"line_number": 1, "procedure_code": "99213", "modifiers": ["25"], "units": 1,
         "charge": "125.00", "service_date": "2026-11-01", "service_date_end": None,
         "diagnosis_pointers": [1, 2], "place_of_service": None, "ndc": None, "revenue_code": None}
    ],
    "total_charge": "125.00",
}

# The "Fields added in version 1.1" example of shared/contract.md, verbatim (a fragment: it is merged
# into CONTRACT_CLAIM, its one line replacing the example's line).
CONTRACT_11_FIELDS: dict[str, Any] = {
    "clia_number": "05D0642827",
    "lines": [{"procedure_code": "J1100", "ndc": "00641036721", "ndc_quantity": 1, "ndc_unit": "ML",
               "anesthesia_minutes": None}],
    "statement_from": "2026-11-01", "statement_to": "2026-11-03",
    "admission_type": "1", "admission_source": "7", "admission_hour": "13", "patient_status": "01",
    "condition_codes": ["07"],
    "occurrence_codes": [{"code": "11", "date": "2026-10-30"}],
    "occurrence_spans": [{"code": "70", "from": "2026-10-01", "to": "2026-10-05"}],
    "value_codes": [{"code": "80", "amount": "2.00"}],
    "procedures": [{"code": "0SRC0J9", "date": "2026-11-01"}],
}


PROBLEM = "application/problem+json"


def assert_problem(response, status: int, kind: str) -> dict:
    """The response is an RFC 9457 problem of this status and type; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{kind}"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body
