"""The workbench's Rules and Dashboard screens and the scrub drill-down, in Chromium: a rule's page shows its
YAML and examples; a broken payer file is linted with its problem at its line in the editor's gutter; the
dashboard's numbers are those of /v1/stats for the same key and window; a bar lists exactly the scrubs
behind it; a compliance key sees the patient masked there, a coder sees it."""
from __future__ import annotations

import copy
import datetime as dt
import re

import httpx
import pytest

from tests.contract_example import CONTRACT_CLAIM

PAYER = "uib-dashboard-payer"  # no profile, used by no other test: the dashboard filtered on it shows only these
BROKEN_PAYER = """schema_version: 1
payer: {id: broken-payer, name: Broken Health}
description: a payer file with one mistake
timely_filing:
  dayz: 90
"""


def call(live_server, role: str, method: str, path: str, **kwargs) -> httpx.Response:
    response = httpx.request(method, live_server.url + path, headers={"X-API-Key": live_server.keys[role]},
                             timeout=60, **kwargs)
    assert response.status_code == 200, response.text
    return response


@pytest.fixture(scope="module")
def seeded(live_server) -> dict[str, dict]:
    """Three claims of PAYER scrubbed through the API as a coder: clean but for the unknown payer's
    warning, a wrong NPI check digit, and an invalid diagnosis pointer. Their results, by claim id."""
    claims = {}
    for claim_id, change in (("UIB-CLEAN", None), ("UIB-NPI", ("npi", "1912301954")),
                             ("UIB-POINTER", ("pointer", [1, 3]))):
        claim = copy.deepcopy(CONTRACT_CLAIM)
        claim.update(claim_id=claim_id, payer={"id": PAYER, "name": "UI-B test payer"})
        if change and change[0] == "npi":
            claim["billing_provider"]["npi"] = change[1]
        elif change:
            claim["lines"][0]["diagnosis_pointers"] = change[1]
        claims[claim_id] = call(live_server, "coder", "POST", "/v1/claims/scrub", json=claim).json()
    return claims


def test_open_a_rule_and_see_its_yaml_and_examples(signed_in, live_server, seeded, screenshot, console_errors):
    rule = call(live_server, "compliance", "GET", "/v1/rules/npi-check-digit").json()
    assert rule["fired_30d"] >= 1  # UIB-NPI
    page = signed_in("compliance", "#/rules")

    page.get_by_label("Search").fill("npi-check")
    rows = page.get_by_test_id("rule-row")
    rows.first.wait_for()
    assert [r.get_attribute("data-rule-id") for r in rows.all()] == ["npi-check-digit"]
    assert rows.first.get_by_test_id("rule-fired").inner_text() == str(rule["fired_30d"])
    screenshot(page, "rules")
    rows.first.get_by_role("link", name="npi-check-digit").click()

    yaml_text = page.get_by_test_id("rule-yaml")
    yaml_text.wait_for()
    assert page.url.endswith("/ui#/rules/npi-check-digit")
    assert yaml_text.inner_text().strip() == rule["yaml"].strip()
    assert yaml_text.inner_text().startswith("id: npi-check-digit\n")
    assert [e.get_attribute("data-name") for e in page.get_by_test_id("rule-example").all()] == [
        e["name"] for e in rule["examples"]]
    assert page.get_by_test_id("rule-source").inner_text() == "rules/npi.yaml"
    assert page.get_by_test_id("rule-fired-30d").inner_text() == str(rule["fired_30d"])
    screenshot(page, "rule")
    assert console_errors == []


def test_a_payer_profile_shows_what_it_changes(signed_in, live_server):
    rules = call(live_server, "compliance", "GET", "/v1/rules").json()["rules"]
    acme = call(live_server, "compliance", "GET", "/v1/rules", params={"payer": "acme-health"}).json()["rules"]
    base = {r["id"] for r in rules if r["payer"] is None and r["source"] != "payers"}
    page = signed_in("compliance", "#/rules")

    page.locator('[data-testid="payer-profile"][data-payer="acme-health"] summary').click()

    changes = page.locator('[data-testid="payer-changes"][data-payer="acme-health"]')
    changes.wait_for()
    items = {name: [li.locator("a").inner_text() for li in changes.get_by_test_id(name).locator("li").all()]
             for name in ("payer-own", "payer-changed", "payer-disabled")}
    assert items["payer-disabled"] == sorted(base - {r["id"] for r in acme})
    assert items["payer-changed"] == [r["id"] for r in acme if r["payer"] == "acme-health" and r["id"] in base]
    assert items["payer-own"] == [r["id"] for r in acme if r["payer"] == "acme-health" and r["id"] not in base]
    # acme-commercial.yaml: `disable: [modifier-50-with-side]`, `overrides: [pointer-repeated]`, two PA lists
    assert "modifier-50-with-side" in items["payer-disabled"] and "pointer-repeated" in items["payer-changed"]
    assert {"acme-imaging-2025", "acme-imaging-2026"} <= set(items["payer-own"])


def test_lint_a_broken_payer_file_and_see_the_error_at_its_line(signed_in, screenshot):
    page = signed_in("compliance", "#/rules")
    page.get_by_label("Search").fill("acme-imaging")  # a short catalogue in the screenshot

    page.get_by_label("File name").fill("payers/broken.yaml")
    page.get_by_label("File text (YAML)").fill(BROKEN_PAYER)
    page.get_by_test_id("validate").click()

    problem = page.get_by_test_id("lint-problem")
    problem.wait_for()
    assert problem.count() == 1
    assert (problem.get_attribute("data-line"), problem.get_attribute("data-column")) == ("5", "3")
    assert problem.inner_text() == "payers/broken.yaml:5:3: 'dayz' is not a setting here; did you mean 'days'?"
    marked = page.locator('[data-testid="gutter-line"].has-problem')
    assert [m.get_attribute("data-line") for m in marked.all()] == ["5"]
    assert page.get_by_test_id("gutter-line").count() == 6  # five lines and the empty one after the last newline
    assert page.get_by_test_id("lint-invalid").get_attribute("role") == "alert"
    screenshot(page, "rules-validate")

    problem.get_by_role("button").click()  # puts the caret at line 5, column 3
    caret = page.get_by_test_id("candidate-text").evaluate("t => t.selectionStart")
    assert caret == BROKEN_PAYER.index("dayz")


def test_a_fixed_payer_file_is_valid_and_its_impact_is_the_apis(signed_in, live_server, seeded):
    fixed = BROKEN_PAYER.replace("dayz", "days")
    report = call(live_server, "compliance", "POST", "/v1/rules/impact",
                  json={"files": [{"name": "payers/broken.yaml", "text": fixed}]}).json()
    page = signed_in("compliance", "#/rules")
    page.get_by_label("File name").fill("payers/broken.yaml")
    page.get_by_label("File text (YAML)").fill(fixed)

    page.get_by_test_id("validate").click()
    page.get_by_test_id("lint-valid").wait_for()
    page.get_by_test_id("impact").click()
    page.get_by_test_id("impact-report").wait_for()

    assert page.get_by_test_id("impact-claims").inner_text() == str(report["claims"])
    assert page.get_by_test_id("impact-changed").inner_text() == str(report["changed_claims"])
    assert page.get_by_test_id("impact-added").inner_text() == (", ".join(report["added_rules"]) or "none")


def dashboard_window() -> tuple[str, str]:
    today = dt.datetime.now(dt.timezone.utc).date()
    return (today - dt.timedelta(days=29)).isoformat(), today.isoformat()


def test_dashboard_numbers_equal_the_stats_of_the_same_key(signed_in, live_server, seeded, screenshot,
                                                           console_errors):
    start, end = dashboard_window()
    page = signed_in("compliance", f"#/dashboard?payer={PAYER}")
    page.get_by_test_id("stats").wait_for()
    stats = call(live_server, "compliance", "GET", "/v1/stats",
                 params={"from": start, "to": end, "payer": PAYER}).json()

    assert stats["scrubs"] == 3 and stats["failed"] == 2
    shown = {k: page.get_by_test_id(f"stat-{k}").inner_text() for k in ("scrubs", "passed", "warned", "failed")}
    assert shown == {k: str(stats[k]) for k in ("scrubs", "passed", "warned", "failed")}
    rate = page.get_by_test_id("stat-clean-rate")
    assert float(rate.get_attribute("data-value")) == stats["clean_claim_rate"]
    assert rate.inner_text() == f"{stats['clean_claim_rate'] * 100:.1f}%"
    categories = {r.get_attribute("data-category"): r.locator("td").inner_text()
                  for r in page.get_by_test_id("category-row").all()}
    assert categories == {k: str(v) for k, v in stats["findings_by_category"].items()}
    assert [r.get_attribute("data-rule-id") for r in page.get_by_test_id("failing-row").all()] == [
        r["rule_id"] for r in stats["top_failing_rules"]]
    assert [r.get_attribute("data-date") for r in page.get_by_test_id("day-row").all()] == [
        d["date"] for d in stats["by_day"]]
    assert page.get_by_test_id("category-bar").count() == len(stats["findings_by_category"])
    screenshot(page, "dashboard")
    assert console_errors == []


def test_a_category_bar_drills_down_to_exactly_the_scrubs_behind_it(signed_in, seeded, screenshot):
    with_npi = sorted(r["scrub_id"] for r in seeded.values() if any(f["category"] == "npi" for f in r["findings"]))
    assert len(with_npi) == 1
    page = signed_in("compliance", f"#/dashboard?payer={PAYER}")

    page.locator('[data-testid="category-bar"][data-category="npi"]').click()

    page.get_by_test_id("scrub-count").wait_for()
    assert re.search(r"#/scrubs\?.*category=npi", page.url) and f"payer={PAYER}" in page.url
    listed = sorted(r.get_attribute("data-scrub-id") for r in page.get_by_test_id("scrub-row").all())
    assert listed == with_npi


def test_a_failing_rule_row_drills_down_to_the_scrubs_it_failed(signed_in, seeded):
    failed_by_pointer = [r["scrub_id"] for r in seeded.values()
                         if any(f["rule_id"] == "pointer-invalid" and f["severity"] == "error" for f in r["findings"])]
    page = signed_in("coder", f"#/dashboard?payer={PAYER}")

    page.locator('[data-testid="failing-row"][data-rule-id="pointer-invalid"] a').click()

    page.get_by_test_id("scrub-count").wait_for()
    assert [r.get_attribute("data-scrub-id") for r in page.get_by_test_id("scrub-row").all()] == failed_by_pointer


def open_drilled_scrub(page, scrub_id: str):
    page.get_by_test_id("scrub-count").wait_for()
    page.locator(f'[data-testid="scrub-row"][data-scrub-id="{scrub_id}"] button').click()
    detail = page.get_by_test_id("scrub-detail")
    detail.wait_for()
    return detail


def test_a_compliance_key_sees_the_patient_masked_in_the_drill_down(signed_in, seeded, screenshot):
    scrub = seeded["UIB-NPI"]
    page = signed_in("compliance", f"#/scrubs?payer={PAYER}&category=npi")

    detail = open_drilled_scrub(page, scrub["scrub_id"])

    assert page.get_by_test_id("patient-member-id").inner_text() == "***"
    assert page.get_by_test_id("patient-name").inner_text() == "*** ***"
    assert page.get_by_test_id("patient-birth-date").inner_text() == "***"
    assert CONTRACT_CLAIM["patient"]["member_id"] not in page.content()
    assert [f.get_attribute("data-rule-id") for f in detail.get_by_test_id("scrub-finding").all()] == [
        f["rule_id"] for f in scrub["findings"]]
    assert CONTRACT_CLAIM["patient"]["member_id"] not in page.url and "Lee" not in page.title()
    screenshot(page, "scrubs")


def test_a_coder_sees_the_patient_in_the_drill_down(signed_in, seeded):
    page = signed_in("coder", f"#/scrubs?payer={PAYER}&category=npi")

    open_drilled_scrub(page, seeded["UIB-NPI"]["scrub_id"])

    assert page.get_by_test_id("patient-member-id").inner_text() == CONTRACT_CLAIM["patient"]["member_id"]
    assert page.get_by_test_id("patient-name").inner_text() == "Ann Lee"
    assert page.evaluate("localStorage.length") == 0
