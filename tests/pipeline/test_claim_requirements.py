"""What a payer requires beyond the codes (issue 13): scrubber/pipeline/enrich/claim_requirements.py with
rules/claim_requirements.yaml and the payer profiles' `requirements:` switches. Every family through the
engine with real codes (exact rule id, category, severity, lines, message), from an X12 837P, from a FHIR
Claim and through the JSON API; the example 837 with RH modifiers passes the modifier check; an
excerpt's silence is never a finding and a complete dataset's is."""
from __future__ import annotations

import copy
import datetime as dt
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scrubber.contract.claim import Claim, Finding
from scrubber.intake.fhir import read_fhir
from scrubber.intake.x12.walker import iter_claims
from scrubber.pipeline.enrich.claim_requirements import mbi_problem, ndc_problem
from scrubber.pipeline.normalise import ndc_11
from scrubber.pipeline.routing import PayerRouter
from scrubber.refdata.importers import import_files
from scrubber.refdata.store import ReferenceData, database_path
from scrubber.ruleset.examples import complete_claim
from scrubber.ruleset.loader import read_texts
from scrubber.ruleset.payers import load_deployment, load_deployment_texts
from tests.pipeline.payer_claims import claim_for as payer_claim
from scrubber.service.app import create_app

FIXTURES = Path(__file__).parents[1] / "fixtures"
TODAY = dt.date(2026, 1, 15)
MBI = "1EG4TE5MK73"


@pytest.fixture(scope="module")
def deployment():
    return load_deployment("rules", "payers")


@pytest.fixture(scope="module")
def router(deployment, reference):
    r = PayerRouter(deployment, reference)
    yield r
    r.close()


def claim_for(payer: str | None, partial: dict[str, Any]) -> Claim:
    return payer_claim(payer, partial, member_id=MBI)

def found(router: PayerRouter, payer: str | None, partial: dict[str, Any], *ids: str) -> list[tuple]:
    """(rule id, category, severity, lines, field, message) of the findings of the given rule ids."""
    result = router.scrub(claim_for(payer, partial), today=TODAY)
    return [(f.rule_id, f.category, f.severity, f.lines, f.field, f.message) for f in result.findings
            if f.rule_id in ids]


# ----------------------------------------------------------------------------- pure functions

@pytest.mark.parametrize("member_id, problem", [
    ("1EG4TE5MK73", None),
    ("123456789A", "it has 10 characters; an MBI has 11"),
    ("12345678901", "position 2 must be a capital letter other than S, L, O, I, B and Z"),
    ("0EG4TE5MK73", "position 1 must be a digit from 1 to 9"),
    ("1ES4TE5MK73", "position 3 must be a digit or a capital letter other than S, L, O, I, B and Z"),
    ("1EG4SE5MK73", "position 5 must be a capital letter other than S, L, O, I, B and Z"),
    ("1EG4TE5MK7A", "position 11 must be a digit"),
    ("1EG4-TE5-MK73", "it is an MBI written with dashes, as on the card; claims carry its 11 characters without them"),
])
def test_mbi_problem_names_the_first_wrong_position(member_id, problem):
    assert mbi_problem(member_id) == problem


@pytest.mark.parametrize("sent, normalised", [
    ("0641-0367-21", "00641036721"),   # 4-4-2: the labeler gets its zero
    ("00641-367-21", "00641036721"),   # 5-3-2: the product
    ("00641-0367-1", "00641036701"),   # 5-4-1: the package
    ("00641-0367-21", "00641036721"),  # 5-4-2: only the hyphens go
    ("0641036721", "0641036721"),      # 10 digits without hyphens: cannot be padded, kept
    ("641-0367-21", "641036721"),      # no NDC form: only the hyphens go
])
def test_ndc_11_pads_the_hyphenated_forms(sent, normalised):
    assert ndc_11(sent) == normalised


def test_ndc_problem_accepts_11_digits_only():
    assert ndc_problem("00641036721") is None
    assert ndc_problem("0641036721") == (
        "it has 10 digits without hyphens, so which part lacks its leading zero cannot be told; send it as 11 "
        "digits (5-4-2) or hyphenated as on the package (4-4-2, 5-3-2 or 5-4-1)")
    assert ndc_problem("641036721") == "it is not an NDC: 9 characters where 11 digits (5-4-2) are expected"


# ----------------------------------------------------------------------------- every family through the engine

LAB_MISSING_CLIA = ("clia-number-missing", "clia", "error", [1, 2], "clia_number",
                    "80053 is a laboratory test (CPT 80047-89398) and the claim carries no CLIA number")


def test_clia_missing_on_a_medicare_lab_claim_names_both_lab_lines(router):
    partial = {"referring_provider": {"npi": "1234567893"},
               "lines": [{"procedure_code": "80053"}, {"procedure_code": "85025"}, {"procedure_code": "99213"}]}
    assert found(router, "medicare", partial, "clia-number-missing", "clia-number-format") == [LAB_MISSING_CLIA]


def test_clia_is_on_for_medicare_and_the_medicaid_example_off_for_a_payer_that_says_nothing(router):
    partial = {"lines": [{"procedure_code": "80053"}, {"procedure_code": "85025"}]}
    assert found(router, "state-medicaid", partial, "clia-number-missing") == [LAB_MISSING_CLIA]
    assert found(router, "acme-health", partial, "clia-number-missing") == []
    assert found(router, None, partial, "clia-number-missing") == []


def test_clia_number_shape_and_waived_test_without_qw(router):
    partial = {"clia_number": "0500642827", "referring_provider": {"npi": "1234567893"},
               "lines": [{"procedure_code": "87880"}, {"procedure_code": "82270"}]}
    assert found(router, "medicare", partial, "clia-number-format", "clia-waived-without-qw") == [
        ("clia-number-format", "clia", "error", [], "clia_number",
         "The CLIA number '0500642827' is not 10 characters shaped NNDNNNNNNN (two digits, the letter D, seven digits)"),
        ("clia-waived-without-qw", "clia", "error", [1], "lines[1].modifiers",
         "Line 1: 87880 is a CLIA-waived test (" + _waived_name(router, "87880") + ") that is billed with modifier "
         "QW, and the line has none")]


def _waived_name(router: PayerRouter, code: str) -> str:
    ref = router.base.enrichers[0].ref  # CodingEdits: the same reference data
    waived = ref.clia_waived(code, dt.date(2026, 1, 5))
    assert waived is not None and waived.needs_qw
    return waived.test_name


def test_ndc_family_is_off_for_medicare_and_on_for_the_medicaid_example(router):
    ids = ("ndc-missing", "ndc-format", "ndc-quantity-missing", "ndc-unit-invalid")
    missing = {"lines": [{"procedure_code": "J1100", "units": 10}]}
    assert found(router, "medicare", missing, *ids) == []
    assert found(router, "state-medicaid", missing, *ids) == [
        ("ndc-missing", "ndc", "error", [1], "lines[1].ndc", "Line 1: J1100 is a drug (a J code) and the line has no NDC")]
    bad = {"lines": [{"procedure_code": "J1100", "ndc": "0641036721", "ndc_quantity": 1, "ndc_unit": "MG"},
                     {"procedure_code": "J1100", "ndc": "0641-0367-21", "units": 2, "charge": "20.00"}]}
    assert found(router, "state-medicaid", bad, *ids) == [
        ("ndc-format", "ndc", "error", [1], "lines[1].ndc", "Line 1: the NDC '0641036721' cannot be used: it has 10 "
         "digits without hyphens, so which part lacks its leading zero cannot be told; send it as 11 digits (5-4-2) "
         "or hyphenated as on the package (4-4-2, 5-3-2 or 5-4-1)"),
        ("ndc-unit-invalid", "ndc", "error", [1], "lines[1].ndc_unit",
         "Line 1: the NDC unit 'MG' is not one of F2, GR, ME, ML, UN"),
        ("ndc-quantity-missing", "ndc", "error", [2], "lines[2].ndc_quantity",
         "Line 2: the NDC 00641036721 of J1100 has no drug quantity or no unit")]


def test_ordering_provider_missing_on_medicare_lab_imaging_and_dme_lines(router):
    partial = {"clia_number": "05D0642827",
               "lines": [{"procedure_code": "85025"}, {"procedure_code": "71046"}, {"procedure_code": "E0143"},
                         {"procedure_code": "E0143", "ordering_provider": {"npi": "1234567893"}, "charge": "90.00"},
                         {"procedure_code": "99213"}]}
    assert found(router, "medicare", partial, "ordering-provider-missing") == [
        ("ordering-provider-missing", "ordering_provider", "error", [n], f"lines[{n}].ordering_provider.npi",
         f"Line {n}: {code} is a {benefit} service and neither the line nor the claim names an ordering or "
         "referring provider")
        for n, code, benefit in ((1, "85025", "lab"), (2, "71046", "imaging"), (3, "E0143", "DMEPOS"))]
    assert found(router, "acme-health", partial, "ordering-provider-missing") == []  # Medicare-specific: off


def test_member_id_that_is_not_an_mbi_names_the_position_never_the_id(router):
    hicn = {"patient": {"member_id": "123456789A"}}
    result = found(router, "medicare", hicn, "member-id-not-mbi")
    assert result == [("member-id-not-mbi", "member_id", "error", [], "patient.member_id",
                       "The member id is not a Medicare Beneficiary Identifier: it has 10 characters; an MBI has 11")]
    assert "123456789A" not in result[0][5]
    assert found(router, "state-medicaid", hicn, "member-id-not-mbi") == []


def test_ambulance_origin_destination_and_mileage_without_transport(router):
    partial = {"lines": [{"procedure_code": "A0429"}, {"procedure_code": "A0425", "modifiers": ["RH"], "units": 12,
                                                       "service_date": "2026-01-06"}]}
    assert found(router, "medicare", partial, "ambulance-origin-destination-missing",
                 "ambulance-mileage-without-transport", "modifier-invalid") == [
        ("ambulance-origin-destination-missing", "ambulance", "error", [1], "lines[1].modifiers",
         "Line 1: A0429 has no origin/destination modifier (two letters of D, E, G, H, I, J, N, P, R, S, X, such as "
         "RH: residence to hospital)"),
        ("ambulance-mileage-without-transport", "ambulance", "error", [2], "lines[2].procedure_code",
         "Line 2: A0425 bills ambulance mileage on 2026-01-06 and no ambulance transport (A0426-A0434) is billed "
         "that day")]


def test_origin_destination_modifier_is_invalid_off_an_ambulance_code(router):
    rows = found(router, None, {"lines": [{"procedure_code": "99213", "modifiers": ["RH"]}]}, "modifier-invalid")
    assert [(r[0], r[3]) for r in rows] == [("modifier-invalid", [1])]


def test_anesthesia_without_minutes_or_pricing_modifier(router):
    partial = {"lines": [{"procedure_code": "00142"}, {"procedure_code": "01402", "modifiers": ["QZ"],
                                                       "anesthesia_minutes": 90, "charge": "300.00"}]}
    assert found(router, "medicare", partial, "anesthesia-minutes-missing", "anesthesia-modifier-missing") == [
        ("anesthesia-minutes-missing", "anesthesia", "error", [1], "lines[1].anesthesia_minutes",
         "Line 1: 00142 is an anesthesia service and the line has no anesthesia minutes"),
        ("anesthesia-modifier-missing", "anesthesia", "error", [1], "lines[1].modifiers",
         "Line 1: 00142 is an anesthesia service without AA, AD, QK, QX, QY or QZ (who performed or directed it)")]


def test_telehealth_rules_by_date_of_service_on_medicare_professional_claims(router):
    gt = {"place_of_service": "02", "lines": [{"procedure_code": "99213", "modifiers": ["GT"]}]}
    assert found(router, "medicare", gt, "telehealth-gt-on-professional-claim") == [
        ("telehealth-gt-on-professional-claim", "telehealth", "error", [1], "lines[1].modifiers",
         "Line 1: 99213 carries GT with place of service 02; Medicare takes GT only on institutional claims of "
         "critical access hospitals (method II)")]
    in_person = {"place_of_service": "11", "lines": [{"procedure_code": "99213", "modifiers": ["95"]}]}
    assert found(router, "medicare", in_person, "telehealth-modifier-contradicts-pos") == [
        ("telehealth-modifier-contradicts-pos", "telehealth", "warning", [1], "lines[1].place_of_service",
         "Line 1: 99213 carries a telehealth modifier (95) with place of service 11, which says the patient was "
         "seen in person")]
    during_phe = {**in_person, "submission_date": "2023-06-15",
                  "lines": [{"procedure_code": "99213", "modifiers": ["95"], "service_date": "2023-06-01"}]}
    assert found(router, "medicare", during_phe, "telehealth-modifier-contradicts-pos") == []
    assert found(router, "acme-health", gt, "telehealth-gt-on-professional-claim") == []


def test_npi_check_digit_of_every_claim_and_line_provider(router):
    partial = {"service_facility": {"npi": "1003000127"}, "attending_provider": {"npi": "1003000126"},
               "supervising_provider": {"npi": "1234567890"},
               "lines": [{"procedure_code": "99213", "ordering_provider": {"npi": "1112223339"},
                          "rendering_provider": {"npi": "1112223338"}}]}
    assert sorted(found(router, None, partial, "npi-check-digit")) == sorted([
        ("npi-check-digit", "npi", "error", [], "supervising_provider.npi",
         "The supervising provider NPI 1234567890 fails its check digit: a digit was mistyped"),
        ("npi-check-digit", "npi", "error", [], "service_facility.npi",
         "The service facility NPI 1003000127 fails its check digit: a digit was mistyped"),
        ("npi-check-digit", "npi", "error", [], "lines[1].ordering_provider.npi",
         "The line 1 ordering provider NPI 1112223339 fails its check digit: a digit was mistyped")])


def test_duplicate_line_compares_ndc_and_charge(router):
    drug = {"procedure_code": "J3490", "ndc_quantity": 1, "ndc_unit": "ML"}
    different = {"lines": [{**drug, "ndc": "00641036721"}, {**drug, "ndc": "63323004401"}]}
    assert found(router, None, different, "duplicate-line") == []
    other_charge = {"lines": [{**drug, "ndc": "00641036721"}, {**drug, "ndc": "00641036721", "charge": "80.00"}]}
    assert found(router, None, other_charge, "duplicate-line") == []
    same = {"lines": [{**drug, "ndc": "00641036721"}, {**drug, "ndc": "0641-0367-21"}]}
    assert [(r[0], r[3]) for r in found(router, None, same, "duplicate-line")] == [("duplicate-line", [1, 2])]


# ----------------------------------------------------------------------------- payer switches

def test_one_key_switches_a_family_off_or_sets_its_severity(deployment):
    rule_texts = read_texts("rules")
    profile = ("schema_version: 1\npayer: {id: test-payer, name: Test}\n"
               "requirements: {ambulance: off, anesthesia: warning, member_id: on}\n")
    loaded = load_deployment_texts(rule_texts, [("payers/test-payer.yaml", profile)])
    rules = {c.rule.id: c.rule for c in loaded.payers["test-payer"].ruleset.program.rules}
    assert "ambulance-origin-destination-missing" not in rules and "ambulance-mileage-without-transport" not in rules
    assert (rules["anesthesia-minutes-missing"].severity, rules["anesthesia-modifier-missing"].severity) == (
        "warning", "warning")
    assert rules["member-id-not-mbi"].severity == "error"  # on: the rule's own severity
    base = {c.rule.id for c in deployment.base.program.rules}
    assert {"ambulance-origin-destination-missing", "anesthesia-minutes-missing", "npi-check-digit"} <= base
    assert not {"member-id-not-mbi", "ndc-missing", "ordering-provider-missing", "clia-number-missing",
                "telehealth-gt-on-professional-claim"} & base  # off unless a profile switches them on


# ----------------------------------------------------------------------------- complete data vs excerpts

@pytest.fixture(scope="module")
def complete_router(tmp_path_factory, data_dir, deployment):
    """The baseline with a complete Order and Referring file and NDC-HCPCS crosswalk imported (constructed
    rows, in the published layouts)."""
    folder = tmp_path_factory.mktemp("complete")
    shutil.copy(database_path(data_dir), database_path(folder))
    oandr = folder / "order_referring.csv"
    oandr.write_text("NPI,LAST_NAME,FIRST_NAME,PARTB,DME,HHA,PMD,HOSPICE\n"
                     "1234567893,CONSTRUCTED,ALL,Y,Y,Y,Y,Y\n1000000012,CONSTRUCTED,DME ONLY,N,Y,N,N,N\n")
    crosswalk = folder / "ndc_hcpcs.csv"
    crosswalk.write_text("_2026_CODE,Short Description,LABELER NAME,NDC2,Drug Name,HCPCS Dosage,PKG SIZE,PKG QTY,"
                         "BILLUNITS,BILLUNITSPKG\n"
                         "J1100,\"Injection, dexamethasone\",CONSTRUCTED,00641-0367-21,dexamethasone,1 MG,1,25,4,100\n")
    import_files("order-referring", [oandr], folder)
    import_files("ndc-hcpcs", [crosswalk], folder)
    r = PayerRouter(deployment, ReferenceData(database_path(folder)))
    yield r
    r.base.close()
    for s in r.by_payer.values():
        s.close()


def test_ordering_npi_not_eligible_only_with_the_complete_order_and_referring_file(router, complete_router):
    partial = {"clia_number": "05D0642827",
               "lines": [{"procedure_code": "85025", "ordering_provider": {"npi": "1000000012"}},
                         {"procedure_code": "71046", "ordering_provider": {"npi": "1245319599"}}]}
    assert found(complete_router, "medicare", partial, "ordering-provider-not-eligible") == [
        ("ordering-provider-not-eligible", "ordering_provider", "error", [1], "lines[1].ordering_provider.npi",
         "Line 1: the ordering/referring NPI 1000000012 may not order or refer this lab service: the CMS Order and "
         "Referring file has Part B = N for it"),
        ("ordering-provider-not-eligible", "ordering_provider", "error", [2], "lines[2].ordering_provider.npi",
         "Line 2: the ordering/referring NPI 1245319599 may not order or refer this imaging service: it is not on "
         "the CMS Order and Referring file (not enrolled in PECOS as a practitioner who may order or refer)")]
    # the shipped excerpt lists 1000000012 as DME only and not 1245319599: an excerpt decides neither
    assert found(router, "medicare", partial, "ordering-provider-not-eligible") == []


def test_ndc_not_in_the_complete_crosswalk_is_a_warning(router, complete_router):
    partial = {"lines": [{"procedure_code": "J1100", "ndc": "63323004401", "ndc_quantity": 1, "ndc_unit": "ML"},
                         {"procedure_code": "J1100", "ndc": "00641036721", "ndc_quantity": 1, "ndc_unit": "ML",
                          "charge": "40.00"}]}
    assert found(complete_router, "state-medicaid", partial, "ndc-not-in-crosswalk") == [
        ("ndc-not-in-crosswalk", "ndc", "warning", [1], "lines[1].ndc",
         "Line 1: the CMS ASP NDC-HCPCS crosswalk does not list NDC 63323004401 for J1100; it lists 00641036721")]
    assert found(router, "state-medicaid", partial, "ndc-not-in-crosswalk") == []  # the shipped excerpt


# ----------------------------------------------------------------------------- X12, FHIR, JSON API

def x12_results(router: PayerRouter, path: Path) -> dict[str, list[tuple]]:
    out = {}
    for read in iter_claims(io.StringIO(path.read_text(encoding="ascii"))):
        claim = Claim.model_validate(read.claim)
        result = router.scrub(claim, today=dt.date(2026, 11, 27),
                              found=[Finding.model_validate(f) for f in read.findings])
        out[claim.claim_id] = [(f.rule_id, f.lines, f.field) for f in result.findings
                               if f.severity != "info"]
    return out


def test_837p_with_the_new_fields_to_medicare(router):
    results = x12_results(router, FIXTURES / "x12-contract11" / "837P_contract11.837")
    assert results == {
        # line 1's ordering provider (2420E) has a mistyped NPI; CLIA, NDC and minutes are all there
        "PCN-P1": [("npi-check-digit", [], "lines[1].ordering_provider.npi")],
        # the lab line has the line's CLIA number (moved to the claim) but no ordering provider
        "PCN-P2": [("ordering-provider-missing", [2], "lines[2].ordering_provider.npi")]}


def test_ambulance_837_with_rh_modifiers_passes_the_modifier_check(router):
    results = x12_results(router, FIXTURES / "x12" / "837_005010X222A2__demo.ambulance.example5.837")
    rules = {rule for rule, _, _ in results["051068"]}
    assert not rules & {"modifier-invalid", "ambulance-origin-destination-missing",
                        "ambulance-mileage-without-transport"}


def fhir_professional() -> dict[str, Any]:
    claim = json.loads((FIXTURES / "fhir" / "claim-professional.json").read_text())
    return copy.deepcopy(claim)


def test_fhir_claim_with_lab_drug_and_anesthesia_items(router):
    """claim-professional.json (Medicare: 99214, 83036-QW, J3420 with an NDC in mL, a referring provider,
    no CLIA number) plus an anesthesia item in minutes without a pricing modifier."""
    resource = fhir_professional()
    anesthesia = copy.deepcopy(resource["item"][0])
    anesthesia.update(sequence=4, productOrService={"coding": [{"system": "http://www.ama-assn.org/go/cpt",
                                                               "code": "00142"}]},
                      quantity={"value": 45, "system": "http://unitsofmeasure.org", "code": "min"})
    anesthesia.pop("modifier", None)
    resource["item"].append(anesthesia)
    resource.pop("total", None)
    ((_, mapped),) = read_fhir(resource)
    assert isinstance(mapped, dict)
    claim = Claim.model_validate(mapped)
    assert (claim.lines[3].procedure_code, claim.lines[3].anesthesia_minutes) == ("00142", 45)
    result = router.scrub(claim, today=dt.date(2026, 11, 27))
    assert sorted((f.rule_id, f.category, f.lines) for f in result.findings if f.category in FAMILIES) == [
        ("anesthesia-modifier-missing", "anesthesia", [4]), ("clia-number-missing", "clia", [2])]
    # the same claim to the Medicaid example: NDC on; its drug line has quantity and unit, so NDC passes
    medicaid = claim.model_copy(update={"payer": claim.payer.model_copy(update={"id": "state-medicaid"})})
    result = router.scrub(medicaid, today=dt.date(2026, 11, 27))
    assert sorted((f.rule_id, f.category, f.lines) for f in result.findings if f.category in FAMILIES) == [
        ("anesthesia-modifier-missing", "anesthesia", [4]), ("clia-number-missing", "clia", [2])]


FAMILIES = ("clia", "ndc", "ordering_provider", "member_id", "ambulance", "anesthesia", "telehealth")


def test_json_api_scrub_reports_the_families(data_dir):
    claim = complete_claim({"patient": {"member_id": "123456789A"},
                            "lines": [{"procedure_code": "80053"}, {"procedure_code": "A0429", "charge": "700.00"}]})
    with TestClient(create_app()) as client:
        body = client.post("/v1/claims/scrub", json=claim).json()
    assert body["status"] == "fail"
    assert sorted((f["rule_id"], f["category"], f["severity"], f["lines"], f["carc"], f["rarc"] or "")
                  for f in body["findings"] if f["category"] in ("clia", "member_id", "ordering_provider", "ambulance")) == [
        ("ambulance-origin-destination-missing", "ambulance", "error", [2], "CO-4", ""),
        ("clia-number-missing", "clia", "error", [1], "CO-16", "MA120"),
        ("member-id-not-mbi", "member_id", "error", [], "CO-16", "MA61"),
        ("ordering-provider-missing", "ordering_provider", "error", [1], "CO-16", "N265")]
