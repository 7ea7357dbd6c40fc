"""Payment-policy edits of the Medicare Physician Fee Schedule (issue 12): scrubber/pipeline/enrich/payment_policy.py
with rules/payment_policy.yaml and the payer profiles' `payment_policy:` switch. Through the engine, with the
shipped CY2024 PFS baseline (and the October 2025 excerpt through the importer): the issue's acceptance claims
(exact rule ids, categories, lines), the release every message names, the claim history for global surgery, the
payer switch, and what must give no finding (status X, E and J codes, codes not in the file, institutional
claims)."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from scrubber.contract.claim import ScrubResult
from scrubber.pipeline.enrich.history import MemoryHistory
from scrubber.pipeline.enrich.payment_policy import release_end
from scrubber.refdata.code_families import is_evaluation_management
from scrubber.pipeline.routing import PayerRouter
from scrubber.refdata.importers import import_files
from scrubber.refdata.store import ReferenceData, database_path
from scrubber.ruleset.loader import RuleSetError, read_texts
from scrubber.ruleset.payers import load_deployment, load_deployment_texts
from tests.pipeline.payer_claims import claim_for

FIXTURES = Path(__file__).parents[1] / "fixtures"
TODAY = dt.date(2026, 1, 15)
POLICY = ("fee_schedule", "modifier_procedure", "global_surgery")
NEWEST = "PFS RVU24C, the newest release loaded (the date of service is after it)"  # the shipped baseline's newest
OTHER_NPI = "1245319599"


@pytest.fixture(scope="module")
def deployment():
    return load_deployment("rules", "payers")


@pytest.fixture(scope="module")
def history():
    return MemoryHistory()


@pytest.fixture(scope="module")
def router(deployment, reference, history):
    r = PayerRouter(deployment, reference, history)
    yield r
    r.close()


def scrub(router: PayerRouter, payer: str | None, partial: dict[str, Any], today: dt.date = TODAY) -> ScrubResult:
    return router.scrub(claim_for(payer, partial), today=today)


def policy(result: ScrubResult) -> list[tuple]:
    """(rule id, category, severity, lines) of the payment-policy findings."""
    return [(f.rule_id, f.category, f.severity, f.lines) for f in result.findings if f.category in POLICY]


def policy_findings(result: ScrubResult) -> list:
    return [f for f in result.findings if f.category in POLICY]


def line(code: str, *modifiers: str, **more: Any) -> dict[str, Any]:
    return {"procedure_code": code, "modifiers": list(modifiers), **more}


# ----------------------------------------------------------------------------- the acceptance claims

@pytest.mark.parametrize("lines, expected", [
    ([line("99213", "26")], [("modifier-26-not-allowed", "modifier_procedure", "error", [1])]),   # PC/TC 0
    ([line("93010", "26")], [("modifier-26-not-allowed", "modifier_procedure", "error", [1])]),   # PC/TC 2
    ([line("71046", "26")], []),                                                                   # PC/TC 1
    ([line("77067", "50")], [("modifier-50-already-bilateral", "modifier_procedure", "error", [1])]),  # bilateral 2
    ([line("27447", "50")], []),                                                                   # bilateral 1
    ([line("73560", "50")], []),                                                                   # bilateral 3
    ([line("10060", "80")], [("modifier-assistant-not-allowed", "modifier_procedure", "error", [1])]),  # assistant 1
    ([line("27447", "80")], []),                                                                   # assistant 2
    ([line("10060", "62")], [("modifier-62-not-allowed", "modifier_procedure", "error", [1])]),   # co-surgeon 0
    ([line("22633", "62")], []),                                                                   # co-surgeon 2
    ([line("27447", "66")], [("modifier-66-not-allowed", "modifier_procedure", "error", [1])]),   # team 0
    ([line("33945", "66")], [("fee-status-restricted", "fee_schedule", "warning", [1])]),         # team 2; status R
    ([line("71046", "25")], [("em-modifier-on-non-em", "modifier_procedure", "error", [1])]),
    ([line("99215"), line("99417")], [("fee-status-not-valid-for-medicare", "fee_schedule", "error", [2])]),
    ([line("87880", "QW")], []),                                                                   # status X (CLFS)
    ([line("99213"), line("10060")], [("global-em-same-day-as-minor-procedure", "global_surgery", "error", [1])]),
    ([line("99213", "25"), line("10060")], []),
])
def test_the_acceptance_claims_for_medicare(router, lines, expected):
    assert policy(scrub(router, "medicare", {"lines": lines})) == expected


def test_99417_fails_for_medicare_naming_g2212_and_passes_for_acme_health(router):
    partial = {"lines": [line("99215"), line("99417")]}
    finding, = [f for f in scrub(router, "medicare", partial).findings if f.category in POLICY]
    assert (finding.carc, finding.rarc, finding.field) == ("CO-181", "M51", "lines[2].procedure_code")
    assert finding.message.startswith(f"Line 2: 99417 has status I in the {NEWEST}: it is not valid for Medicare, "
                                      "which uses another code for this service: G2212 for a prolonged office")
    assert policy(scrub(router, "acme-health", partial)) == []


def test_a_status_i_code_with_no_named_replacement_says_the_file_does_not_name_it(router):
    finding, = [f for f in scrub(router, "medicare", {"lines": [line("99358")]}).findings if f.category in POLICY]
    assert finding.rule_id == "fee-status-not-valid-for-medicare"
    assert finding.message.endswith("the PFS file does not name the code Medicare uses; see the MAC's instructions "
                                    "for this service")


@pytest.mark.parametrize("code", ["87880", "36415", "J9271", "00400", "J1100"])  # X, X, E, J, E
def test_codes_paid_on_other_schedules_get_no_fee_schedule_finding(router, code):
    assert policy(scrub(router, "medicare", {"lines": [line(code)]})) == []


def test_a_code_not_in_the_pfs_file_gets_no_payment_policy_finding(router):
    result = scrub(router, "medicare", {"lines": [line("A9990", "26", "80")]})
    assert policy(result) == []
    assert "hcpcs-code-unknown" in {f.rule_id for f in result.findings}  # the code-validity rule judges it


@pytest.mark.parametrize("code, modifiers, rule_id, severity", [
    ("99288", (), "fee-status-bundled", "error"),
    ("99397", (), "fee-status-non-covered", "error"),
    ("A4556", (), "fee-status-bundled-excluded", "warning"),
    ("33945", (), "fee-status-restricted", "warning"),
    ("17999", (), "fee-status-contractor-priced", "info"),
    ("93005", ("TC",), "modifier-tc-not-allowed", "error"),
    ("10060", ("50",), "modifier-50-not-bilateral", "error"),
    ("11451", ("80",), "modifier-assistant-needs-documentation", "warning"),
    ("27447", ("62",), "modifier-62-needs-documentation", "warning"),
    ("22836", ("66",), "modifier-66-needs-documentation", "warning"),
    ("99213", ("51",), "modifier-51-not-applicable", "warning"),
])
def test_each_status_and_indicator_rule_on_its_code(router, code, modifiers, rule_id, severity):
    result = scrub(router, "medicare", {"lines": [line(code, *modifiers)]})
    assert [(r, s) for r, _, s, _ in policy(result)] == [(rule_id, severity)]


def test_a_bundled_code_reported_at_no_charge_and_a_non_covered_one_with_gy_pass(router):
    assert policy(scrub(router, "medicare", {"lines": [line("99024", charge="0.00")]})) == []
    assert policy(scrub(router, "medicare", {"lines": [line("99397", "GY")]})) == []


def test_an_injection_with_another_payable_service_that_day_is_bundled(router):
    result = scrub(router, "medicare", {"lines": [line("99213"), line("G0117"), line("96372")]})
    assert policy(result) == [("fee-status-injection-bundled", "fee_schedule", "warning", [2])]
    finding, = [f for f in result.findings if f.rule_id == "fee-status-injection-bundled"]
    assert finding.message.endswith("billed the same day by the same provider, and line(s) 1, 3 are")
    assert policy(scrub(router, "medicare", {"lines": [line("G0117")]})) == []


def test_rt_and_lt_on_two_lines_of_a_bilateral_indicator_1_code_should_be_one_line_with_50(router):
    two_lines = {"lines": [line("27447", "RT"), line("27447", "LT")]}
    result = scrub(router, "medicare", two_lines)
    assert policy(result) == [("bilateral-sides-on-two-lines", "modifier_procedure", "error", [2])]
    assert policy_findings(result)[0].message.startswith("Lines 1 and 2 bill 27447 on one date with RT and LT; it has "
                                                 "bilateral indicator 1 in the PFS RVU24C")
    other_days = {"lines": [line("27447", "RT"), line("27447", "LT", service_date="2026-01-06")]}
    assert policy(scrub(router, "medicare", other_days)) == []
    indicator_3 = {"lines": [line("73560", "RT"), line("73560", "LT")]}
    assert policy(scrub(router, "medicare", indicator_3)) == []


def test_26_is_valid_where_the_file_prices_only_the_professional_component(router):
    # 83020: status X (CLFS) with a 26 row of PC/TC indicator 6: 26 is valid, TC is not
    assert policy(scrub(router, "medicare", {"lines": [line("83020", "26")]})) == []
    result = scrub(router, "medicare", {"lines": [line("83020", "TC")]})
    assert policy(result) == [("modifier-tc-not-allowed", "modifier_procedure", "error", [1])]
    assert policy_findings(result)[0].message == (
        "Line 1: 83020 is a service to which the professional/technical component concept does not apply, and "
        f"the fee schedule prices no technical component (TC) of it: PC/TC indicator 9 in the {NEWEST}")


# ----------------------------------------------------------------------------- releases

def test_a_message_names_the_release_in_force_on_the_date_of_service(router):
    partial = {"submission_date": "2024-05-20", "lines": [line("99213", "26", service_date="2024-05-01")]}
    finding, = policy_findings(scrub(router, "medicare", partial, today=dt.date(2024, 5, 20)))
    assert finding.message == ("Line 1: 99213 is a physician service, which has no professional and technical "
                               "components, and the fee schedule prices no professional component (26) of it: "
                               "PC/TC indicator 0 in the PFS RVU24B")


def test_a_date_after_the_newest_release_is_judged_by_it_and_the_message_says_so(router):
    finding, = policy_findings(scrub(router, "medicare", {"lines": [line("99213", "26")]}))
    assert finding.message.endswith(f"PC/TC indicator 0 in the {NEWEST}")


@pytest.fixture(scope="module")
def october_2025_router(tmp_path_factory, data_dir, deployment):
    """The baseline with the October 2025 excerpt (37 rows of RVU25D) imported through the importer."""
    folder = tmp_path_factory.mktemp("rvu25d")
    shutil.copy(database_path(data_dir), database_path(folder))
    import_files("pprrvu", [FIXTURES / "cms" / "PPRRVU2025_Oct.excerpt.nodesc.csv"], folder)
    r = PayerRouter(deployment, ReferenceData(database_path(folder)))
    yield r
    r.base.close()
    for s in r.by_payer.values():
        s.close()


def test_the_october_2025_release_judges_its_quarter_and_the_2024_releases_stay(october_2025_router):
    autumn = {"submission_date": "2025-11-20", "lines": [line("93010", "26", service_date="2025-11-03")]}
    finding, = policy_findings(scrub(october_2025_router, "medicare", autumn, today=dt.date(2025, 11, 20)))
    assert (finding.rule_id, finding.message.endswith("PC/TC indicator 2 in the PFS RVU25D")) == (
        "modifier-26-not-allowed", True)
    later = {"lines": [line("77067", "50")]}
    finding, = policy_findings(scrub(october_2025_router, "medicare", later))
    assert (finding.rule_id, finding.message) == (
        "modifier-50-already-bilateral",
        "Line 1: 77067 has bilateral indicator 2 in the PFS RVU25D, the newest release loaded (the date of service is "
        "after it): its value already covers both sides, so modifier 50 does not apply")
    summer = {"submission_date": "2024-08-20", "lines": [line("93010", "26", service_date="2024-08-01")]}
    finding, = policy_findings(scrub(october_2025_router, "medicare", summer, today=dt.date(2024, 8, 20)))
    assert finding.message.endswith("PC/TC indicator 2 in the PFS RVU24C")


@pytest.mark.parametrize("release, end", [("RVU24A", dt.date(2024, 3, 31)), ("RVU24AR", dt.date(2024, 3, 31)),
                                          ("RVU24C", dt.date(2024, 9, 30)), ("RVU25D", dt.date(2025, 12, 31)),
                                          ("PPRRVU", None)])
def test_release_end_is_the_last_day_of_the_releases_quarter(release, end):
    assert release_end(release) == end


@pytest.mark.parametrize("code, em", [("99202", True), ("99213", True), ("99499", True), ("92012", True),
                                      ("99024", False), ("99500", False), ("92015", False), ("G0438", False),
                                      ("9921", False)])
def test_evaluation_and_management_codes(code, em):
    assert is_evaluation_management(code) is em


# ----------------------------------------------------------------------------- global surgery

def test_an_em_the_day_before_or_of_major_surgery_needs_57_and_57_is_for_major_surgery_only(router):
    before = {"lines": [line("99213", service_date="2026-01-04"), line("27447")]}
    assert policy(scrub(router, "medicare", before)) == [
        ("global-em-decision-for-surgery", "global_surgery", "error", [1])]
    with_57 = {"lines": [line("99213", "57", service_date="2026-01-04"), line("27447")]}
    assert policy(scrub(router, "medicare", with_57)) == []
    same_day_25 = {"lines": [line("99213", "25"), line("27447")]}
    assert policy(scrub(router, "medicare", same_day_25)) == []
    minor_57 = {"lines": [line("99213", "57"), line("10060")]}
    assert policy(scrub(router, "medicare", minor_57)) == [
        ("modifier-57-with-minor-procedure", "global_surgery", "error", [1])]


def test_an_em_in_the_10_day_period_of_a_procedure_on_the_same_claim_needs_24(router):
    inside = {"lines": [line("10060", service_date="2026-01-01"), line("99213", service_date="2026-01-11")]}
    result = scrub(router, "medicare", inside)
    assert policy(result) == [("global-em-in-postoperative-period", "global_surgery", "error", [2])]
    assert policy_findings(result)[0].message == (
        "Line 2: 99213 is an E/M service without modifier 24 in the postoperative period of a procedure by the same "
        "provider, whose payment includes the follow-up visits: 10060 on line 1, which has a 10-day global period "
        f"in the {NEWEST}")
    after = {"lines": [line("10060", service_date="2026-01-01"), line("99213", service_date="2026-01-12")]}
    assert policy(scrub(router, "medicare", after)) == []


SURGERY_DAY = "2026-01-10"
LATER = dt.date(2026, 5, 1)


def remember(router: PayerRouter, history: MemoryHistory, partial: dict[str, Any]) -> None:
    """Scrub a claim and keep it in the history as the service does (the claim as judged, with its status)."""
    judged = router.judge(claim_for("medicare", {"submission_date": LATER.isoformat(), **partial}), today=LATER)
    assert judged.result.status != "fail"  # a failed claim was never sent: it would not count
    history.remember(judged.claim, judged.result.status)


@pytest.mark.parametrize("visit_day, modifiers, npi, expected", [
    ("2026-02-15", [], None, [("global-em-in-postoperative-period", "global_surgery", "error", [1])]),
    ("2026-02-15", ["24"], None, []),
    ("2026-04-10", [], None, [("global-em-in-postoperative-period", "global_surgery", "error", [1])]),  # day 90
    ("2026-04-11", [], None, []),                                                                       # day 91
    ("2026-01-09", [], None, [("global-em-decision-for-surgery", "global_surgery", "error", [1])]),     # day before
    ("2026-01-09", ["57"], None, []),
    ("2026-02-15", [], OTHER_NPI, []),                                                    # another billing provider
])
def test_an_em_in_the_global_period_of_a_procedure_on_an_earlier_claim(router, history, visit_day, modifiers, npi,
                                                                        expected):
    history.clear()
    remember(router, history, {"claim_id": "PCN-SURGERY", "lines": [line("27447", service_date=SURGERY_DAY)]})
    visit = {"claim_id": "PCN-VISIT", "submission_date": LATER.isoformat(),
             "lines": [line("99213", *modifiers, service_date=visit_day)]}
    if npi:
        visit["billing_provider"] = {"npi": npi}
    assert policy(scrub(router, "medicare", visit, today=LATER)) == expected


def test_the_cross_claim_message_names_the_earlier_claim_line_date_and_release(router, history):
    history.clear()
    remember(router, history, {"claim_id": "PCN-SURGERY", "lines": [line("27447", service_date=SURGERY_DAY)]})
    visit = {"claim_id": "PCN-VISIT", "lines": [line("99213", service_date="2026-02-15")]}
    finding, = policy_findings(scrub(router, "medicare", {"submission_date": LATER.isoformat(), **visit}, LATER))
    assert finding.message.endswith("27447 of 2026-01-10 on claim PCN-SURGERY line 1, which has a 90-day global "
                                    f"period in the {NEWEST}")
    assert (finding.carc, finding.rarc, finding.field) == ("CO-97", "M144", "lines[1].modifiers")


def test_without_a_history_only_the_same_claim_counts(deployment, reference, history):
    history.clear()
    plain = PayerRouter(deployment, reference)  # no history: the same-claim cases only
    try:
        visit = {"submission_date": LATER.isoformat(), "lines": [line("99213", service_date="2026-02-15")]}
        assert policy(scrub(plain, "medicare", visit, LATER)) == []
    finally:
        plain.base.close()
        for s in plain.by_payer.values():
            s.close()


# ----------------------------------------------------------------------------- payers and claim types

@pytest.mark.parametrize("payer, fires", [("medicare", True), ("northwind", True), ("acme-health", False),
                                          ("state-medicaid", False), (None, False)])
def test_one_key_in_the_payer_profile_switches_all_three_categories(router, payer, fires):
    partial = {"lines": [line("99213"), line("10060"), line("93010", "26"), line("99288")]}
    expected = [("global-em-same-day-as-minor-procedure", "global_surgery", "error", [1]),
                ("modifier-26-not-allowed", "modifier_procedure", "error", [3]),
                ("fee-status-bundled", "fee_schedule", "error", [4])]
    assert sorted(policy(scrub(router, payer, partial))) == (sorted(expected) if fires else [])


def test_an_institutional_claim_gets_no_payment_policy_finding(router):
    partial = {"claim_type": "institutional", "type_of_bill": "0131",
               "lines": [line("93010", "26", revenue_code="0730")]}
    assert policy(scrub(router, "medicare", partial)) == []


def test_a_profile_with_another_fee_schedule_value_is_refused_at_its_line():
    profile = "schema_version: 1\npayer: {id: test-payer, name: Test}\npayment_policy: {fee_schedule: sometimes}\n"
    with pytest.raises(RuleSetError) as raised:
        load_deployment_texts(read_texts("rules"), [("payers/test-payer.yaml", profile)])
    assert [(p.file, p.line) for p in raised.value.problems] == [("payers/test-payer.yaml", 3)]
    assert raised.value.problems[0].message == "'fee_schedule': use 'medicare' or 'off'"


def test_the_base_rules_are_off_and_off_in_a_profile_means_off(deployment):
    payment = {c.rule.id for c in deployment.payers["medicare"].ruleset.program.rules if c.rule.category in POLICY}
    assert len(payment) == 25
    assert not payment & {c.rule.id for c in deployment.base.program.rules}
    assert not payment & {c.rule.id for c in deployment.payers["acme-health"].ruleset.program.rules}
    assert payment <= {c.rule.id for c in deployment.payers["northwind"].ruleset.program.rules}
