"""FHIR R4 Claims and Bundles into contract claims (scrubber/intake/fhir.py), on the fixtures in
tests/fixtures/fhir (see SOURCES.md there) and on constructed variations of them."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from scrubber.intake import fhir
from scrubber.contract.claim import Claim
from scrubber.intake.fhir import FhirError, read_fhir
from scrubber.intake.parse import ClaimError
from tests.intake.fhir_results import errors, mapped, only

FIXTURES = Path(__file__).parents[1] / "fixtures" / "fhir"
NAMES = ("claim-professional.json", "claim-institutional.json", "bundle-transaction.json")


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def line(**fields: Any) -> dict[str, Any]:
    out = {"line_number": None, "procedure_code": None, "modifiers": [], "units": None, "charge": None,
           "service_date": None, "service_date_end": None, "diagnosis_pointers": [], "place_of_service": None,
           "ndc": None, "revenue_code": None}
    out.update(fields)
    return out


def claim_a() -> dict[str, Any]:
    return copy.deepcopy(load("bundle-transaction.json")["entry"][1]["resource"])


PROFESSIONAL = {
    "claim_id": "8612345", "claim_type": "professional", "frequency_code": None, "submission_date": "2026-11-20",
    "payer": {"id": "medicare", "name": "Medicare Part B"},
    "patient": {"member_id": "1EG4TE5MK72", "first_name": "Ann", "last_name": "Lee", "birth_date": "1950-03-14",
                "death_date": None, "sex": "F"},
    "billing_provider": {"npi": "1912301953", "taxonomy": None, "tax_id": "587654321",
                         "last_name": "Happy Physicians Group"},
    "rendering_provider": {"npi": "1234567893", "taxonomy": "207Q00000X", "tax_id": None, "last_name": "Careful",
                           "first_name": "Adam"},
    "referring_provider": {"npi": "1456789019", "taxonomy": None, "tax_id": None},
    "place_of_service": "11", "prior_authorization": "PA-2026-118834",
    "type_of_bill": None, "admission_date": None, "discharge_date": None,
    "diagnoses": [{"code": "E11.9", "code_system": "icd10cm"},
                  {"code": "I10", "code_system": "icd10cm"},
                  {"code": "E785", "code_system": "icd10cm"},
                  {"code": "D51.9", "code_system": "icd10cm"}],
    "lines": [
        line(line_number=1, procedure_code="99214", modifiers=["25"], units=1, charge="150.00",
             service_date="2026-11-02", diagnosis_pointers=[1, 2]),
        line(line_number=2, procedure_code="83036", modifiers=["QW"], units=1, charge="32.00",
             service_date="2026-11-02", service_date_end="2026-11-02", diagnosis_pointers=[1]),
        line(line_number=3, procedure_code="J3420", units=1, charge="12.50", service_date="2026-11-02",
             diagnosis_pointers=[4], ndc="63323004401", ndc_quantity=1, ndc_unit="ML"),
    ],
    "total_charge": "194.50",
}

INSTITUTIONAL = {
    "claim_id": "9612345", "claim_type": "institutional", "frequency_code": "1", "submission_date": "2026-11-18",
    "payer": {"id": "00430", "name": "Blue Cross Blue Shield of Example"},
    "patient": {"member_id": "XEH812345601", "first_name": "James", "last_name": "Doe", "birth_date": "1948-07-04",
                "death_date": None, "sex": "M"},
    "billing_provider": {"npi": "1887766552", "taxonomy": None, "tax_id": None},
    "rendering_provider": None, "referring_provider": None,
    "place_of_service": None, "prior_authorization": None,
    "type_of_bill": "0111", "admission_date": "2026-11-03", "discharge_date": "2026-11-06",
    "diagnoses": [{"code": "J18.9", "code_system": "icd10cm"},
                  {"code": "E11.9", "code_system": "icd10cm"},
                  {"code": "I10", "code_system": "icd10cm"}],
    "lines": [
        line(line_number=1, units=3, charge="3600.00", service_date="2026-11-03", service_date_end="2026-11-05",
             revenue_code="0120"),
        line(line_number=2, units=1, charge="412.37", service_date="2026-11-04", revenue_code="0250"),
        line(line_number=3, procedure_code="85025", units=2, charge="84.00", service_date="2026-11-04",
             revenue_code="0300"),
        line(line_number=4, procedure_code="99285", modifiers=["25"], units=1, charge="1850.00",
             service_date="2026-11-03", revenue_code="0450"),
    ],
    "total_charge": "5946.37",
    # contract 1.1: billablePeriod, the admission's hour, discharge-status, the attending careTeam member
    "statement_from": "2026-11-03", "statement_to": "2026-11-06", "admission_hour": "22", "patient_status": "01",
    "attending_provider": {"npi": "1234567893", "taxonomy": None, "tax_id": None},
}

CLAIM_A = {
    "claim_id": "PCN-1001", "claim_type": "professional", "frequency_code": None, "submission_date": "2026-11-21",
    "payer": {"id": "acme-health", "name": "Acme Health"},
    "patient": {"member_id": "ACM448812-01", "first_name": "Maria", "last_name": "Garcia",
                "birth_date": "1985-06-30", "death_date": None, "sex": "F"},
    "billing_provider": {"npi": "1000000012", "taxonomy": None, "tax_id": "741234567",
                         "last_name": "Riverside Family Clinic"},
    "rendering_provider": {"npi": "1234567893", "taxonomy": "207R00000X", "tax_id": None, "last_name": "Chen",
                           "first_name": "Lydia"},
    "referring_provider": None,
    "place_of_service": "11", "prior_authorization": None,
    "type_of_bill": None, "admission_date": None, "discharge_date": None,
    "diagnoses": [{"code": "J06.9", "code_system": "icd10cm"}, {"code": "R05.9", "code_system": "icd10cm"}],
    "lines": [
        line(line_number=1, procedure_code="99213", units=1, charge="110.00", service_date="2026-11-16",
             diagnosis_pointers=[1, 2]),
        line(line_number=2, procedure_code="87880", modifiers=["QW"], units=1, charge="28.50",
             service_date="2026-11-16", diagnosis_pointers=[1]),
        line(line_number=3, procedure_code="99212", modifiers=["95"], units=1, charge="45.00",
             service_date="2026-11-18", diagnosis_pointers=[2], place_of_service="10"),
    ],
    "total_charge": "183.50",
}

CLAIM_B = {
    "claim_id": "PCN-1002", "claim_type": "professional", "frequency_code": None, "submission_date": "2026-11-21",
    "payer": {"id": "acme-health", "name": "Acme Health"},
    "patient": {"member_id": "ACM551207", "first_name": "John", "last_name": "Smith", "birth_date": "1962-01-15",
                "death_date": None, "sex": "M"},
    "billing_provider": {"npi": "1612345672", "taxonomy": "208D00000X", "tax_id": "741234567", "last_name": "Okafor",
                         "first_name": "Chidi"},
    "rendering_provider": None, "referring_provider": None,
    "place_of_service": "11", "prior_authorization": None,
    "type_of_bill": None, "admission_date": None, "discharge_date": None,
    "diagnoses": [{"code": "Z00.00", "code_system": "icd10cm"}, {"code": "I10", "code_system": "icd10cm"}],
    "lines": [
        line(line_number=1, procedure_code="99396", units=1, charge="210.00", service_date="2026-11-17",
             diagnosis_pointers=[1]),
        line(line_number=2, procedure_code="93000", units=1, charge="55.00", service_date="2026-11-17",
             diagnosis_pointers=[2]),
    ],
    "total_charge": "265.00",
}


# the fixtures, exactly -----------------------------------------------------------------------

def test_professional_claim_with_contained_resources_exactly():
    """Contained Patient/Coverage/Organizations/Practitioner; principal diagnosis first, so the
    FHIR sequences 2, 1 become pointers 1, 2; the claim's place of service is the lines' one."""
    assert read_fhir((FIXTURES / "claim-professional.json").read_bytes()) == [("860150", PROFESSIONAL)]


def test_institutional_claim_exactly():
    """Logical insurer/provider references (identifier + display); the member id from the Patient's
    MB identifier (the Coverage cannot be resolved); the admitting diagnosis left out; a diagnosis
    by Condition reference; type of bill and stay from supportingInfo; unitPrice x quantity;
    a data-absent productOrService is no procedure code."""
    assert read_fhir((FIXTURES / "claim-institutional.json").read_text()) == [("960150", INSTITUTIONAL)]


def test_bundle_claims_in_order_exactly():
    """Claim A refers by urn:uuid fullUrl and by Organization/acme; Claim B by relative references
    to entries with absolute fullUrls, a PractitionerRole billing provider, no insurer (the payer is
    the Coverage's payor), no subscriberId (the Patient's MB identifier, not its MR) and diagnosis
    sequences 1 and 3 (pointer 3 becomes 2). The other resources are not results."""
    assert read_fhir(load("bundle-transaction.json")) == [("claim-a", CLAIM_A), ("claim-b", CLAIM_B)]


@pytest.mark.parametrize("name", NAMES)
def test_every_mapped_claim_validates_with_the_contract_model(name):
    results = read_fhir((FIXTURES / name).read_bytes())
    assert results
    for _, result in results:
        assert isinstance(result, dict)
        assert Claim.model_validate(result).lines


@pytest.mark.parametrize("name", NAMES)
def test_bytes_text_and_dict_give_the_same_claims(name):
    raw = (FIXTURES / name).read_bytes()
    assert read_fhir(raw) == read_fhir(raw.decode()) == read_fhir(json.loads(raw)) \
        == read_fhir(b"\xef\xbb\xbf" + raw)


@pytest.mark.parametrize("kind", ["batch", "collection", "searchset", "message"])
def test_every_bundle_type_works(kind):
    bundle = load("bundle-transaction.json")
    bundle["type"] = kind
    for entry in bundle["entry"]:
        del entry["request"]
    assert read_fhir(bundle) == [("claim-a", CLAIM_A), ("claim-b", CLAIM_B)]


# references ----------------------------------------------------------------------------------

def test_contained_resources_win_inside_a_bundle_and_absolute_references_resolve():
    bundle = load("bundle-transaction.json")
    claim = bundle["entry"][1]["resource"]
    claim["contained"] = [{"resourceType": "Patient", "id": "p", "gender": "other", "birthDate": "1990-01-02",
                           "name": [{"family": "Inside", "given": ["Contained"]}]}]
    claim["patient"] = {"reference": "#p"}
    bundle["entry"][6]["resource"]["patient"] = {"reference": "http://example.org/fhir/Patient/pat-2"}
    (_, a), (_, b) = read_fhir(bundle)
    assert a["patient"] == {"member_id": "ACM448812-01", "first_name": "Contained", "last_name": "Inside",
                            "birth_date": "1990-01-02", "death_date": None, "sex": "U"}
    assert b == CLAIM_B


def test_unresolvable_references_are_left_out_for_the_rules():
    """Claim A sent alone: its Patient, Coverage, payer and providers are Bundle entries it no
    longer has. It is still a claim; the rules report what is missing."""
    result = mapped(claim_a())
    assert (result["patient"], result["payer"], result["billing_provider"]) == (None, None, None)
    assert result["rendering_provider"] == {"npi": None, "taxonomy": "207R00000X", "tax_id": None}  # careTeam
    assert result["lines"] == CLAIM_A["lines"]
    Claim.model_validate(result)


def test_a_reference_to_a_resource_of_the_wrong_type_is_not_followed():
    bundle = load("bundle-transaction.json")
    bundle["entry"][1]["resource"]["patient"] = {"reference": "Organization/acme"}
    assert read_fhir(bundle)[0][1]["patient"] == {**CLAIM_A["patient"], "first_name": None, "last_name": None,
                                                  "birth_date": None, "sex": None}


# errors: one Claim, never its siblings -------------------------------------------------------

def test_a_broken_claim_in_a_bundle_is_an_error_and_the_others_still_come():
    bundle = load("bundle-transaction.json")
    bundle["entry"][1]["resource"]["item"][0]["quantity"]["value"] = "two"
    (label_a, a), (label_b, b) = read_fhir(bundle)
    assert (label_a, label_b) == ("claim-a", "claim-b")
    assert errors(a) == [("item[0].quantity.value", "must be a number")]
    assert a.detail == "1 element of the FHIR Claim is invalid"
    assert b == CLAIM_B


def test_an_invalid_bundle_entry_a_claim_refers_to_fails_that_claim_only():
    bundle = load("bundle-transaction.json")
    bundle["entry"][7]["resource"]["birthDate"] = "1962-13-45"
    (_, a), (_, b) = read_fhir(bundle)
    assert a == CLAIM_A
    assert errors(b) == [("entry[7].resource.birthDate", "must be a FHIR date: YYYY, YYYY-MM or YYYY-MM-DD")]


def test_an_unexpected_failure_is_an_error_for_that_claim_only(monkeypatch):
    original = fhir._Mapper.claim

    def failing(self):
        if self.c.id == "claim-a":
            raise RuntimeError("boom")
        return original(self)

    monkeypatch.setattr(fhir._Mapper, "claim", failing)
    (_, a), (_, b) = read_fhir(load("bundle-transaction.json"))
    assert isinstance(a, ClaimError) and a.detail == "the Claim could not be read: RuntimeError: boom"
    assert b == CLAIM_B


def test_entries_that_are_not_resources_are_errors_other_resources_are_skipped():
    bundle = load("bundle-transaction.json")
    bundle["entry"][2:2] = [42, {"resource": ["not", "a", "resource"]},
                            {"request": {"method": "DELETE", "url": "Claim/old"}},
                            {"resource": {"resourceType": "Basic", "code": {"text": "not a claim"}}}]
    del bundle["entry"][1]["resource"]["id"]
    results = read_fhir(bundle)
    assert [label for label, _ in results] == ["entry[1]", "entry[2]", "entry[3]", "claim-b"]
    assert results[0][1] == CLAIM_A
    assert errors(results[1][1]) == [("entry[2]", "must be a JSON object")]
    assert errors(results[2][1]) == [("entry[3].resource", ("must be a FHIR resource: a JSON object with a "
                                                          "resourceType"))]
    assert results[3][1] == CLAIM_B


@pytest.mark.parametrize("kind", ["oral", "pharmacy", "vision"])
def test_unsupported_claim_types_are_a_per_claim_error(kind):
    resource = load("claim-professional.json")
    resource["type"]["coding"][0]["code"] = kind
    result = only(read_fhir(resource))
    assert errors(result) == [("type", (f"{kind} claims are not supported: the scrubber checks professional "
                                      "(837P) and institutional (837I) claims"))]


def test_an_unknown_claim_type_code_is_a_per_claim_error():
    resource = claim_a()
    resource["type"] = {"coding": [{"system": "http://example.org/types", "code": "dental-ortho"}]}
    assert errors(only(read_fhir(resource))) == [
        ("type.coding", ("must hold the http://terminology.hl7.org/CodeSystem/claim-type code professional or "
                        "institutional, not 'dental-ortho'"))]


def test_fhir_validation_errors_are_listed_at_their_fhir_paths():
    resource = claim_a()
    item = resource["item"][1]
    item["unitCost"] = {"value": 3}
    item["diagnosisSequence"] = ["first"]
    resource["type"] = [resource["type"]]
    assert sorted(errors(only(read_fhir(resource)))) == [
        ("item[1].diagnosisSequence[0]", "must be a valid integer, unable to parse string as an integer"),
        ("item[1].unitCost", "is not a FHIR R4 element here"),
        ("type", "must be a JSON object (a FHIR CodeableConcept), not an array"),
    ]


def test_fhir_choice_elements_take_one_type():
    resource = claim_a()
    resource["item"][1]["servicedPeriod"] = {"start": "2026-11-16"}
    assert errors(only(read_fhir(resource))) == [
        ("item[1]", "has more than one of servicedDate and servicedPeriod: FHIR allows one")]


def test_missing_fhir_required_elements_are_reported_complex_ones_first():
    """fhir.resources checks required primitives (status) only once everything else is valid."""
    resource = claim_a()
    del resource["status"], resource["priority"]
    assert errors(only(read_fhir(resource))) == [("priority", "is required by FHIR")]
    resource["priority"] = claim_a()["priority"]
    assert errors(only(read_fhir(resource))) == [("status", "is required by FHIR")]


def test_a_contained_resource_of_an_unknown_type_is_reported_not_raised():
    resource = claim_a()
    resource["contained"] = [{"resourceType": "Pateint", "id": "p"}]
    assert errors(only(read_fhir(resource))) == [("contained[0].resourceType",
                                                 "'Pateint' is not a FHIR R4 resource type")]


def test_a_claim_without_items_is_an_error():
    resource = claim_a()
    del resource["item"]
    assert errors(only(read_fhir(resource))) == [
        ("item", "is required: the scrubber checks a claim's service lines, and this Claim has none")]


# money ---------------------------------------------------------------------------------------

def test_charge_from_unit_price_quantity_and_factor():
    resource = claim_a()
    del resource["item"][0]["net"]
    resource["item"][0].update(quantity={"value": 4}, unitPrice={"value": 2.5, "currency": "USD"}, factor=0.5)
    assert mapped(resource)["lines"][0]["charge"] == "5.00"


def test_money_that_is_not_dollars_and_cents_is_an_error_at_its_element():
    resource = claim_a()
    resource["item"][0]["net"]["value"] = 75.005
    resource["item"][1]["net"]["currency"] = "EUR"
    del resource["item"][2]["net"]
    resource["item"][2].update(quantity={"value": 3}, unitPrice={"value": 33.333})
    assert errors(only(read_fhir(resource))) == [
        ("item[0].net.value", "must be an amount in dollars and cents: it has more than 2 decimal places"),
        ("item[1].net.currency", "must be USD, not 'EUR': the scrubber checks US claims"),
        ("item[2].unitPrice", ("must be an amount in dollars and cents: unitPrice x quantity x factor is 99.999, "
                              "which has more than 2 decimal places")),
    ]


def test_a_value_the_contract_refuses_is_reported_at_the_fhir_element_it_came_from():
    resource = claim_a()
    resource["item"][1]["productOrService"]["coding"][0]["code"] = "9" * 41
    resource["total"]["value"] = 1234567890
    assert sorted(errors(only(read_fhir(resource)))) == [
        ("item[1].productOrService", ("String should have at most 40 characters "
                                     "(contract field lines[1].procedure_code)")),
        ("total", ("must be an amount with at most 2 decimal places and at most 9 digits before the point, such "
                  "as \"125.00\" (contract field total_charge)")),
    ]


# left for the rules --------------------------------------------------------------------------

def test_missing_or_odd_data_is_left_for_the_rules():
    resource = load("claim-professional.json")
    patient = resource["contained"][0]
    patient.update(birthDate="1950-03", gender="woman", deceasedDateTime="2026-11-25T03:00:00Z")
    del resource["diagnosis"]
    del resource["item"][0]["quantity"]
    resource["item"][1]["diagnosisSequence"] = [2, 9]
    result = mapped(resource)
    assert result["patient"] == {**PROFESSIONAL["patient"], "birth_date": None, "sex": "woman",
                                 "death_date": "2026-11-25"}
    assert result["diagnoses"] == []
    assert result["lines"][0]["units"] == 1  # FHIR quantity absent: 1, as the charge assumed (issue 15)
    assert result["lines"][1]["diagnosis_pointers"] == ["#2", "#9"]
    Claim.model_validate(result)


def test_labels_of_claims_without_an_id():
    resource = claim_a()
    del resource["id"]
    assert read_fhir(resource)[0][0] == "Claim"


def test_institutional_stay_from_the_hospitalized_category_and_a_timing_date():
    resource = load("claim-institutional.json")
    resource["supportingInfo"][1] = {
        "sequence": 2, "timingDate": "2026-11-03",
        "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claiminformationcategory",
                                 "code": "hospitalized"}]}}
    result = mapped(resource)
    assert (result["admission_date"], result["discharge_date"]) == ("2026-11-03", None)


def test_professional_claims_take_no_type_of_bill_or_stay():
    resource = load("claim-professional.json")
    resource["supportingInfo"] = load("claim-institutional.json")["supportingInfo"]
    assert mapped(resource) == PROFESSIONAL


# the whole body ------------------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    (b'{"resourceType": "Patient", "id": "1"}', "a FHIR Patient was sent: send a Claim, or a Bundle of Claims"),
    ({"id": "x"}, "the body has no resourceType: send a FHIR Claim, or a Bundle of Claims"),
    ('{"resourceType": "Claim",', "the body is not valid JSON: "),
    (b"\xff\xfe{}", "the body is not UTF-8 text: "),
    ("[1, 2]", "the body must be a JSON object: a FHIR Claim or Bundle resource"),
    ({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Patient"}}]},
     "the Bundle holds no Claim resource: nothing to scrub"),
    ({"resourceType": "Bundle", "type": "collection", "entry": {}}, "Bundle.entry must be a JSON array"),
    ({"resourceType": "Bundle", "entry": []}, "the Bundle is not valid FHIR R4: type is required by FHIR"),
])
def test_a_body_that_is_not_a_claim_or_bundle_raises_one_value_error(body, message):
    with pytest.raises(FhirError) as caught:
        read_fhir(body)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(message)


def test_the_value_error_lists_the_fields():
    with pytest.raises(FhirError) as caught:
        read_fhir({"resourceType": "Bundle", "entry": []})
    assert [(e.field, e.message) for e in caught.value.errors] == [("type", "is required by FHIR")]
