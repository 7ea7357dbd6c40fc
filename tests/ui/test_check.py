"""The Check a claim screen in Chromium: a claim filled in the form gets its findings beside the right lines,
a fixed field re-checked in place drops its finding, pasted or uploaded NDJSON / X12 837 / FHIR give one result
block per claim, an API error names its field, the code look-up finds codes, and no PHI reaches the page
title, the URL or browser storage."""
from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.contract_example import CONTRACT_CLAIM

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PHI = ("Ann", "Lee", "1950-03-14")


def new_member() -> str:
    """A Medicare Beneficiary Identifier (the shape Medicare requires) that no other test used: the live
    server's store is shared by the session, and a service billed again for the same patient under another
    claim id is a duplicate finding."""
    letter, digit = "ACDEFGHJKMNPQRTUVWXY", "0123456789"
    shape = ["123456789", letter, letter + digit, digit, letter, letter + digit, digit, letter, letter, digit, digit]
    return "".join(random.choice(chars) for chars in shape)


def contract_claim(**changes) -> dict:
    """The contract's example claim for a new patient, with `changes`."""
    return {**CONTRACT_CLAIM, "patient": {**CONTRACT_CLAIM["patient"], "member_id": new_member()}, **changes}


def findings(page) -> list[tuple[str, str]]:
    """(rule id, line) of every finding row shown, in order; line '' for a claim-level finding."""
    rows = page.get_by_test_id("finding")
    return [(row.get_attribute("data-rule-id"), row.get_attribute("data-line")) for row in rows.all()]


def fill_two_line_claim(page, member_id: str) -> None:
    """The contract's claim with a mistyped billing NPI, and a second line pointing at a third diagnosis
    that the claim does not have: two findings, one on the claim, one on line 2."""
    label = page.get_by_label
    label("Claim id").fill("PCN-UI-1")
    label("Submission date").fill("2026-11-27")
    label("Payer id").fill("medicare")
    label("Place of service").fill("11")
    label("Member id").fill(member_id)
    label("First name").fill("Ann")
    label("Last name").fill("Lee")
    label("Birth date").fill("1950-03-14")
    label("Sex").select_option("F")
    label("Billing provider NPI").fill("1912301954")  # check digit wrong: 1912301953 is right
    label("Rendering provider NPI").fill("1234567893")
    label("Diagnosis 1", exact=True).fill("E11.9")
    page.get_by_test_id("add-diagnosis").click()
    label("Diagnosis 2", exact=True).fill("I10")
    for n, (date, code, charge, pointers) in enumerate(
            [("2026-11-01", "99213", "125.00", "1 2"), ("2026-11-02", "93000", "10.00", "1 3")], start=1):
        if n > 1:
            page.get_by_test_id("add-line").click()
        label(f"Line {n} service date").fill(date)
        label(f"Line {n} procedure code").fill(code)
        label(f"Line {n} units").fill("1")
        label(f"Line {n} charge").fill(charge)
        label(f"Line {n} dx pointers").fill(pointers)


def check(page) -> None:
    page.get_by_test_id("check").click()
    page.locator('[data-testid="result"], [data-testid="check-error"]').first.wait_for()


def test_form_claim_shows_each_finding_on_its_line_and_a_fix_rechecked_in_place_drops_it(
        signed_in, console_errors, screenshot):
    page = signed_in("coder")
    fill_two_line_claim(page, new_member())

    check(page)
    assert page.get_by_test_id("status").inner_text() == "fail"
    assert findings(page) == [("npi-check-digit", ""), ("pointer-invalid", "2")]
    line_two = page.locator('[data-testid="finding"][data-line="2"]')
    assert line_two.locator('[data-testid="denial"]').inner_text() == "CO-16 / M76"
    assert line_two.locator('[data-testid="rule-link"]').get_attribute("href") == "#/rules/pointer-invalid"
    assert "rules/pointers.yaml" in line_two.locator('[data-testid="why"]').inner_text()
    assert page.get_by_label("Line 2 dx pointers").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Billing provider NPI").get_attribute("aria-invalid") == "true"
    beside_line_two = page.locator('[data-testid="line"][data-line="2"] [data-testid="line-findings"] li')
    assert [li.get_attribute("data-rule-id") for li in beside_line_two.all()] == ["pointer-invalid"]
    assert page.locator('[data-testid="line"][data-line="1"] [data-testid="line-findings"]').count() == 0
    screenshot(page, "check")

    page.get_by_label("Line 2 dx pointers").fill("1 2")
    assert page.get_by_test_id("check").inner_text() == "Re-check"
    check(page)

    assert findings(page) == [("npi-check-digit", "")]
    assert page.get_by_label("Line 2 dx pointers").get_attribute("aria-invalid") is None
    assert page.get_by_test_id("line-findings").count() == 0
    assert page.get_by_label("Claim id").input_value() == "PCN-UI-1"  # the form kept the claim
    assert console_errors == []


def test_removing_a_line_renumbers_the_rest(signed_in):
    page = signed_in("coder")
    fill_two_line_claim(page, new_member())
    page.get_by_label("Remove line 1").click()

    assert page.get_by_test_id("line").count() == 1
    assert page.get_by_label("Line 1 procedure code").input_value() == "93000"
    check(page)
    assert findings(page) == [("npi-check-digit", ""), ("pointer-invalid", "1")]


def test_pasted_json_is_rechecked_from_the_edited_textarea(signed_in, live_server):
    page = signed_in("coder")
    page.get_by_test_id("mode-paste").click()
    claim = contract_claim(billing_provider={**CONTRACT_CLAIM["billing_provider"], "npi": "1912301954"})
    page.get_by_test_id("claim-text").fill(json.dumps(claim))
    assert page.get_by_test_id("detected-kind").inner_text() == "Detected: JSON claim"
    check(page)
    assert findings(page) == [("npi-check-digit", "")]

    page.get_by_test_id("claim-text").fill(json.dumps({**claim, "billing_provider": CONTRACT_CLAIM["billing_provider"]}))
    check(page)
    page.get_by_test_id("no-findings").wait_for()
    assert page.get_by_test_id("status").inner_text() == "pass"
    assert findings(page) == []


def test_uploaded_ndjson_gives_one_result_block_per_claim(signed_in):
    page = signed_in("coder")
    page.get_by_test_id("mode-paste").click()
    bad_npi = contract_claim(claim_id="PCN-B", billing_provider={"npi": "1912301954"})
    text = "\n".join([json.dumps(contract_claim(claim_id="PCN-A")), json.dumps(bad_npi), "{not json"]) + "\n"
    page.get_by_test_id("claim-file").set_input_files(
        files=[{"name": "claims.ndjson", "mimeType": "application/x-ndjson", "buffer": text.encode()}])
    expect(page.get_by_test_id("detected-kind")).to_have_text("Detected: NDJSON")  # the file is read async
    check(page)

    blocks = page.get_by_test_id("result")
    blocks.nth(2).wait_for()
    assert blocks.count() == 3
    assert [blocks.nth(i).get_by_test_id("status").all_inner_texts() for i in range(2)] == [["pass"], ["fail"]]
    assert [row.get_attribute("data-rule-id") for row in blocks.nth(1).get_by_test_id("finding").all()] == ["npi-check-digit"]
    third = blocks.nth(2).get_by_test_id("result-error")
    assert third.get_attribute("role") == "alert"
    assert "line 3 is not valid JSON" in third.inner_text()


def test_an_837_and_a_fhir_bundle_are_sent_to_their_endpoints_and_match_the_api(signed_in, live_server):
    page = signed_in("coder")
    page.get_by_test_id("mode-paste").click()
    key = {"X-API-Key": live_server.keys["coder"]}
    for path, endpoint, kind, content_type in (
            (FIXTURES / "x12" / "837_005010X222A2__demo.example1.837", "x12", "X12 837", "text/plain"),
            (FIXTURES / "fhir" / "bundle-transaction.json", "fhir", "FHIR Bundle", "application/fhir+json")):
        text = path.read_text(encoding="utf-8")
        api = [json.loads(line) for line in httpx.post(f"{live_server.url}/v1/claims/scrub/{endpoint}", content=text,
                                                       headers={**key, "content-type": content_type}).text.splitlines()]
        page.get_by_test_id("claim-text").fill(text)
        assert page.get_by_test_id("detected-kind").inner_text() == f"Detected: {kind}"
        check(page)

        blocks = page.get_by_test_id("result")
        assert blocks.count() == len(api), path.name
        for i, result in enumerate(api):
            shown = [row.get_attribute("data-rule-id") for row in blocks.nth(i).get_by_test_id("finding").all()]
            assert sorted(set(shown)) == sorted({f["rule_id"] for f in result["findings"]}), path.name
            assert blocks.nth(i).get_by_test_id("status").inner_text() == result["status"], path.name


def test_bad_json_shows_the_api_problem_naming_the_field(signed_in, console_errors):
    page = signed_in("coder")
    page.get_by_test_id("mode-paste").click()
    page.get_by_test_id("claim-text").fill('{"claim_type": "professional", "lines": [')
    check(page)

    alert = page.get_by_test_id("check-error")
    assert alert.get_attribute("role") == "alert"
    assert [f.get_attribute("data-field") for f in alert.get_by_test_id("error-field").all()] == ["(body)"]
    assert "not valid JSON" in alert.inner_text()
    # the only console error is the browser's note of the 422 itself
    assert [e for e in console_errors if "status of 422" not in e] == []


def test_a_form_claim_with_a_bad_field_names_it_and_marks_its_input(signed_in):
    page = signed_in("coder")
    page.get_by_label("Line 1 units").fill("many")
    check(page)

    alert = page.get_by_test_id("check-error")
    # the API's 422 counts list items from 0; the form's line 1 is marked
    assert [f.get_attribute("data-field") for f in alert.get_by_test_id("error-field").all()] == ["lines[0].units"]
    assert page.get_by_label("Line 1 units").get_attribute("aria-invalid") == "true"


def test_code_lookup_finds_icd10cm_codes_by_prefix_on_a_date(signed_in):
    page = signed_in("coder")
    page.get_by_label("Code set").select_option("icd10cm")
    page.get_by_label("Code or words").fill("E11.1")
    page.get_by_label("Valid on (default: the claim's date, else today)").fill("2026-11-01")
    page.get_by_role("button", name="Search").click()

    page.get_by_test_id("code-result").first.wait_for()
    assert [r.get_attribute("data-code") for r in page.get_by_test_id("code-result").all()] == ["E11.1", "E11.10", "E11.11"]
    assert "FY2027 code set" in page.get_by_test_id("code-results").inner_text()


def test_code_lookup_by_words_defaults_to_the_claims_date(signed_in):
    page = signed_in("coder")
    page.get_by_label("Line 1 service date").fill("2023-01-01")
    page.get_by_label("Code set").select_option("hcpcs")
    page.get_by_label("Code or words").fill("C183")
    page.get_by_role("button", name="Search").click()
    page.get_by_test_id("code-result").first.wait_for()
    assert "C1834" in [r.get_attribute("data-code") for r in page.get_by_test_id("code-result").all()]

    page.get_by_label("Line 1 service date").fill("2024-01-01")  # C1834 ended 2023-03-31
    page.get_by_role("button", name="Search").click()
    page.get_by_text("valid on 2024-01-01").wait_for()
    assert "C1834" not in [r.get_attribute("data-code") for r in page.get_by_test_id("code-result").all()]


def test_a_bad_code_query_names_its_field(signed_in):
    page = signed_in("coder")
    page.get_by_label("Code or words").fill("<b>")
    page.get_by_role("button", name="Search").click()

    alert = page.get_by_test_id("code-error")
    alert.wait_for()
    assert [f.get_attribute("data-field") for f in alert.get_by_test_id("error-field").all()] == ["q"]


def test_no_phi_in_title_url_or_storage_for_a_submitter_or_compliance(signed_in, page, live_server):
    member_id = new_member()
    for role in ("submitter", "compliance"):
        signed_in(role)
        if role == "submitter":
            fill_two_line_claim(page, member_id)
            check(page)
            assert findings(page) == [("npi-check-digit", ""), ("pointer-invalid", "2")]
            # a submitter may not read rules: the rule id is shown, not linked
            assert page.get_by_test_id("rule-link").count() == 0
            page.get_by_test_id("code-query").fill("E11.9")
            page.get_by_role("button", name="Search").click()
            page.get_by_test_id("code-result").first.wait_for()
        else:  # compliance may not scrub: the screen is not offered, and going there is refused
            assert page.get_by_test_id("nav-check").count() == 0
            page.goto(f"{live_server.url}/ui#/check")
            page.get_by_role("alert").wait_for()

        stored = page.evaluate("JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])")
        for value in (*PHI, member_id):
            assert value not in page.title(), (role, value)
            assert value not in page.url, (role, value)
            assert value not in stored, (role, value)
        assert json.loads(stored) == [[["scrubber.apiKey", live_server.keys[role]]], []]
        page.get_by_test_id("sign-out").click()


# ------------------------------------------------------------------ reference data, "Use", the kept claim

def load_example(page, *, code: str, date: str, pointers: str = "1 2") -> None:
    """The form's example claim for a new patient, its line 1 billing `code` on `date`."""
    page.get_by_test_id("load-example").click()
    page.get_by_label("Member id").fill(new_member())
    page.get_by_label("Billing provider NPI").fill("1912301953")  # the example's is mistyped
    page.get_by_label("Line 1 service date").fill(date)
    page.get_by_label("Line 1 dx pointers").fill(pointers)
    page.get_by_label("Line 1 procedure code").fill(code)


def code_requests(page, live_server) -> list[str]:
    """The paths of the page's GET /v1/codes/... and /v1/rules/... requests, as they are made."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url.removeprefix(live_server.url))
            if "/v1/codes/" in request.url or "/v1/rules/" in request.url else None)
    return seen


def open_reference(page, rule_id: str):
    row = page.locator(f'[data-testid="finding"][data-rule-id="{rule_id}"]')
    row.get_by_text("Reference data").click()
    expect(row.get_by_test_id("reference")).to_have_attribute("data-loaded", "true")
    return row.get_by_test_id("reference-body")


def test_reference_data_of_a_hcpcs_line_is_fetched_when_opened_and_shows_its_status_on_that_date(
        signed_in, live_server, console_errors, screenshot):
    page = signed_in("coder")
    asked = code_requests(page, live_server)
    load_example(page, code="C1834", date="2024-01-01")  # C1834 ended 2023-03-31
    check(page)
    assert findings(page) == [("hcpcs-code-terminated", "1"), ("medicare-timely-filing", "1")]
    assert asked == []  # nothing is looked up before a disclosure is opened

    body = open_reference(page, "hcpcs-code-terminated")
    api = httpx.get(f"{live_server.url}/v1/codes/hcpcs/C1834", params={"date": "2024-01-01"},
                    headers={"X-API-Key": live_server.keys["coder"]}).json()
    shown = body.get_by_test_id("ref-code")
    assert [shown.get_attribute(a) for a in ("data-system", "data-code", "data-date")] == ["hcpcs", "C1834", "2024-01-01"]
    assert shown.get_by_test_id("ref-status").inner_text() == api["status"] == "terminated"
    assert shown.get_by_test_id("ref-detail").inner_text() == api["detail"]
    assert shown.get_by_test_id("ref-fee-note").inner_text() == api["fee_schedule_note"]
    assert body.get_by_test_id("rule-condition").inner_text().startswith("when:")
    screenshot(page, "check-reference")

    open_reference(page, "medicare-timely-filing")  # the same code on the same date: asked once per result
    assert asked == ["/v1/codes/hcpcs/C1834?date=2024-01-01", "/v1/rules/hcpcs-code-terminated?payer=medicare",
                     "/v1/rules/medicare-timely-filing?payer=medicare"]
    assert console_errors == []


def test_a_submitter_sees_the_codes_reference_data_but_no_rule_condition(signed_in, live_server):
    page = signed_in("submitter")
    asked = code_requests(page, live_server)
    load_example(page, code="A0021", date="2026-11-01")
    check(page)
    assert findings(page) == [("fee-status-not-valid-for-medicare", "1")]

    body = open_reference(page, "fee-status-not-valid-for-medicare")
    assert body.get_by_test_id("ref-status").inner_text() == "valid"
    assert body.get_by_test_id("ref-fee-status").inner_text().startswith("I: not valid for Medicare purposes")
    assert body.get_by_test_id("rule-condition").count() == 0
    assert asked == ["/v1/codes/hcpcs/A0021?date=2026-11-01"]


def test_use_puts_a_searched_code_in_the_last_focused_input_or_a_new_diagnosis_and_a_recheck_uses_it(signed_in):
    page = signed_in("coder")
    load_example(page, code="A0021", date="2026-11-01", pointers="1 3")  # line 1's code input focused last
    check(page)
    assert findings(page) == [("fee-status-not-valid-for-medicare", "1"), ("pointer-invalid", "1")]

    page.get_by_label("Code set").select_option("hcpcs")
    page.get_by_label("Code or words").fill("J1100")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("button", name="Use J1100 in the claim form").click()
    assert page.get_by_label("Line 1 procedure code").input_value() == "J1100"
    assert page.get_by_test_id("use-status").inner_text() == "J1100 put in Line 1 procedure code."

    page.get_by_label("Code set").select_option("icd10cm")
    page.get_by_label("Code or words").fill("E78.5")
    page.get_by_role("button", name="Search").click()
    use = page.get_by_role("button", name="Use E78.5 in the claim form")
    use.focus()
    page.keyboard.press("Enter")  # keyboard reachable; no diagnosis input focused: a third diagnosis
    assert page.get_by_label("Diagnosis 3", exact=True).input_value() == "E78.5"

    check(page)
    page.get_by_test_id("no-findings").wait_for()
    assert findings(page) == []


def test_the_form_keeps_its_claim_across_screens_until_sign_out(signed_in, live_server):
    page = signed_in("coder")
    load_example(page, code="99213", date="2026-11-01")
    page.get_by_label("Claim id").fill("PCN-KEPT")
    page.get_by_test_id("nav-rules").click()
    expect(page.get_by_test_id("screen")).to_have_attribute("data-screen", "rules")
    page.get_by_test_id("nav-check").click()

    assert page.get_by_label("Claim id").input_value() == "PCN-KEPT"
    assert page.get_by_label("Line 1 procedure code").input_value() == "99213"
    assert page.get_by_label("Diagnosis 2", exact=True).input_value() == "I10"
    assert page.evaluate("JSON.stringify([Object.keys(sessionStorage), Object.keys(localStorage)])") == \
        '[["scrubber.apiKey"],[]]'

    page.get_by_test_id("sign-out").click()
    page.get_by_label("API key").fill(live_server.keys["coder"])
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_label("Claim id").input_value() == ""


def test_a_failed_look_up_is_shown_in_the_disclosure_as_an_alert(signed_in):
    page = signed_in("submitter")
    page.route("**/v1/codes/hcpcs/**", lambda route: route.fulfill(
        status=503, content_type="application/problem+json",
        body=json.dumps({"type": "about:blank", "title": "Service Unavailable", "status": 503,
                         "detail": "the reference data is being reloaded"})))
    load_example(page, code="A0021", date="2026-11-01")
    check(page)

    alert = open_reference(page, "fee-status-not-valid-for-medicare").get_by_test_id("reference-error")
    assert alert.get_attribute("role") == "alert"
    assert alert.inner_text() == "Service Unavailable: the reference data is being reloaded"
