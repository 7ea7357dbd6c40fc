"""Contract 1.1 fields read from FHIR R4 Claims (scrubber/intake/fhir.py): careTeam roles, facility,
CLIA, Claim.procedure, NDC quantity and unit, anesthesia minutes, line care team, and the UB-04 fields
of institutional Claims. Built on the fixtures of tests/fixtures/fhir (see SOURCES.md there)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from scrubber.contract.claim import Claim
from scrubber.intake.fhir import read_fhir
from scrubber.intake.parse import ClaimError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "fhir"
NPI = "http://hl7.org/fhir/sid/us-npi"
UCUM = "http://unitsofmeasure.org"
CARIN_ROLE = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimCareTeamRole"
CARIN_INFO = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBSupportingInfoType"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"


def load(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / name).read_text()))


def mapped(resource: dict[str, Any]) -> dict[str, Any]:
    ((_, result),) = read_fhir(resource)
    assert isinstance(result, dict), (result, getattr(result, "errors", None))
    Claim.model_validate(result)
    return result


def practitioner(rid: str, npi: str, family: str, given: str) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "id": rid, "identifier": [{"system": NPI, "value": npi}],
            "name": [{"family": family, "given": [given]}]}


def member(sequence: int, reference: str, role: str, system: str = CARIN_ROLE) -> dict[str, Any]:
    return {"sequence": sequence, "provider": {"reference": reference},
            "role": {"coding": [{"system": system, "code": role}]}}


def professional() -> dict[str, Any]:
    """claim-professional.json with an ordering and a supervising provider, a facility with a CLIA
    identifier, two procedures, an NDC detail in mL and an anesthesia item in minutes."""
    claim = load("claim-professional.json")
    claim["contained"] += [
        practitioner("ordering-1", "1316936223", "Wilson", "Larry"),
        practitioner("supervisor-1", "1245319599", "House", "Gregory"),
        {"resourceType": "Location", "id": "lab-1", "name": "Example Lab",
         "identifier": [{"system": NPI, "value": "1003000126"},
                        {"system": "urn:oid:2.16.840.1.113883.4.7", "value": "05D0642827"}]},
    ]
    claim["careTeam"] += [member(3, "#ordering-1", "ordering"),
                          member(4, "#supervisor-1", "supervisor",
                                 "http://terminology.hl7.org/CodeSystem/claimcareteamrole")]
    claim["facility"] = {"reference": "#lab-1"}
    claim["procedure"] = [
        {"sequence": 1, "type": [{"coding": [{"code": "other"}]}], "date": "2026-11-02",
         "procedureCodeableConcept": {"coding": [{"system": PCS, "code": "0QS604Z"}]}},
        {"sequence": 2, "type": [{"coding": [{"code": "principal"}]}], "date": "2026-11-02T09:30:00-05:00",
         "procedureCodeableConcept": {"coding": [{"system": PCS, "code": "0SRC0J9"}]}},
    ]
    items = claim["item"]
    items[1]["careTeamSequence"] = [3]  # the lab test: ordered by Wilson
    items[2]["detail"][0]["quantity"] = {"value": 2.5, "system": UCUM, "code": "mL"}
    anesthesia = copy.deepcopy(items[0])
    anesthesia.update(sequence=4, productOrService={"coding": [{"system": "http://www.ama-assn.org/go/cpt",
                                                               "code": "00142"}]},
                      modifier=[{"coding": [{"code": "AA"}]}], quantity={"value": 45, "system": UCUM, "code": "min"},
                      unitPrice={"value": 550, "currency": "USD"}, careTeamSequence=[1])
    items.append(anesthesia)
    claim["total"] = {"value": 744.5, "currency": "USD"}
    return claim


def test_care_team_facility_clia_procedures_ndc_and_minutes_are_read_exactly():
    claim = mapped(professional())
    assert claim["ordering_provider"] == {"npi": "1316936223", "taxonomy": None, "tax_id": None,
                                          "last_name": "Wilson", "first_name": "Larry"}
    assert claim["supervising_provider"] == {"npi": "1245319599", "taxonomy": None, "tax_id": None,
                                             "last_name": "House", "first_name": "Gregory"}
    assert claim["service_facility"] == {"npi": "1003000126", "taxonomy": None, "tax_id": None,
                                         "last_name": "Example Lab"}
    assert claim["clia_number"] == "05D0642827"  # the facility's identifier in the CLIA system
    # typed principal first, whatever its sequence; a dateTime gives its own day
    assert claim["procedures"] == [{"code": "0SRC0J9", "date": "2026-11-02"}, {"code": "0QS604Z", "date": "2026-11-02"}]
    lines = claim["lines"]
    assert lines[1]["ordering_provider"] == claim["ordering_provider"]
    assert (lines[2]["ndc"], lines[2]["ndc_quantity"], lines[2]["ndc_unit"], lines[2]["units"]) == (
        "63323004401", 2.5, "ML", 1)
    assert (lines[3]["procedure_code"], lines[3]["anesthesia_minutes"], lines[3]["units"]) == ("00142", 45, 45)
    assert "rendering_provider" not in lines[3]  # careTeam 1 is 'primary': the claim's, not a line's
    assert [key for key in ("attending_provider", "operating_provider") if key in claim] == []


def test_clia_from_supporting_info_wins_over_the_facility_identifier():
    resource = professional()
    resource["supportingInfo"] = [{"sequence": 1, "category": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/claiminformationcategory", "code": "info"}]},
        "code": {"coding": [{"code": "CLIA"}]}, "valueString": "22D1234567"}]
    assert mapped(resource)["clia_number"] == "22D1234567"


@pytest.mark.parametrize("role,field", [("DK", "ordering_provider"), ("DQ", "supervising_provider"),
                                        ("supervising", "supervising_provider"), ("71", "attending_provider"),
                                        ("operating", "operating_provider"), ("72", "operating_provider"),
                                        ("DN", "referring_provider")])
def test_x12_style_and_named_care_team_roles(role, field):
    resource = load("claim-professional.json")
    resource["contained"].append(practitioner("p-9", "1679576722", "Grey", "Meredith"))
    resource["careTeam"] = [member(1, "#p-9", role)]
    assert mapped(resource)[field] == {"npi": "1679576722", "taxonomy": None, "tax_id": None,
                                       "last_name": "Grey", "first_name": "Meredith"}


def test_ndc_as_the_items_own_product_takes_the_items_quantity():
    resource = load("claim-professional.json")
    item = resource["item"][2]
    del item["detail"]
    item["productOrService"] = {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "00641036721"}]}
    item["quantity"] = {"value": 3, "system": "http://terminology.hl7.org/CodeSystem/v3-ndcUnits", "code": "F2"}
    line = mapped(resource)["lines"][2]
    assert (line["procedure_code"], line["ndc"], line["ndc_quantity"], line["ndc_unit"]) == (
        None, "00641036721", 3, "F2")


def test_institutional_ub04_codes_from_carin_supporting_info():
    resource = load("claim-institutional.json")
    resource["supportingInfo"] += [
        {"sequence": 4, "category": {"coding": [{"system": CARIN_INFO, "code": "admtype"}]},
         "code": {"coding": [{"system": "https://www.nubc.org/CodeSystem/PriorityTypeOfAdmitOrVisit", "code": "1"}]}},
        {"sequence": 5, "category": {"coding": [{"system": CARIN_INFO, "code": "pointoforigin"}]},
         "code": {"coding": [{"system": "https://www.nubc.org/CodeSystem/PointOfOrigin", "code": "7"}]}}]
    resource["procedure"] = [{"sequence": 1, "date": "2026-11-04",
                              "procedureCodeableConcept": {"coding": [{"system": PCS, "code": "0BH17EZ"}]}}]
    claim = mapped(resource)
    assert {key: claim.get(key) for key in ("statement_from", "statement_to", "admission_type", "admission_source",
                                            "admission_hour", "patient_status", "procedures")} == {
        "statement_from": "2026-11-03", "statement_to": "2026-11-06", "admission_type": "1",
        "admission_source": "7", "admission_hour": "22", "patient_status": "01",
        "procedures": [{"code": "0BH17EZ", "date": "2026-11-04"}]}


def test_fractional_anesthesia_minutes_are_a_claim_error_at_the_fhir_element():
    resource = professional()
    resource["item"][3]["quantity"]["value"] = 45.5
    ((_, result),) = read_fhir(resource)
    assert isinstance(result, ClaimError)
    assert [e.field for e in result.errors] == ["item[3].quantity.value"]
    assert "lines[3].anesthesia_minutes" in result.errors[0].message
