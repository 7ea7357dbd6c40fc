"""Payer facts as rules: a payer profile's timely filing limit, prior authorization lists, coverage
policies, not-covered lists and frequency limits, each turned into a rule of the rule language
with examples made from its own data (a claim that must fire, one that must not).

- timely_filing        -> `<payer>-timely-filing` (category timely_filing, CO-29)
- prior_authorization  -> one rule per list (prior_auth, CO-197)
- coverage             -> one rule per LCD/NCD-style policy (medical_necessity, CO-50 + N386/N115)
- not_covered          -> one rule per list (coverage, CO-96)
- frequency            -> one rule per limit (frequency, CO-119), counted over the claim history
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

from scrubber.ruleset.model import PayerFile, Rule


def _effective(effective) -> dict[str, str]:
    out = {}
    if effective.from_:
        out["from"] = effective.from_.isoformat()
    if effective.to:
        out["to"] = effective.to.isoformat()
    return out


def _example_day(effective) -> dt.date:
    """A date of service inside the range (the examples' usual 2026-01-05 when it is)."""
    day = dt.date(2026, 1, 5)
    if effective.from_ and day < effective.from_:
        day = effective.from_
    if effective.to and day > effective.to:
        day = effective.to
    return day


def _rule(data: dict[str, Any]) -> Rule:
    return Rule.model_validate({k: v for k, v in data.items() if v not in (None, [], {})})


def payer_rules(payer: PayerFile) -> Iterator[tuple[Rule, tuple]]:
    """(Rule, path in the payer file) for each payer fact."""
    pid, pname = payer.payer.id, payer.payer.name
    tf = payer.timely_filing
    if tf is not None and (tf.days or tf.months):
        day = _example_day(tf.effective)
        if tf.months:
            test, allowed = {"months_to_submission": {"gt": tf.months}}, f"{tf.months} months"
            late = _add_months(day, tf.months) + dt.timedelta(days=1)
            in_time = _add_months(day, tf.months)
            measured = "{months_to_submission} months"
        else:
            days = tf.days or 0  # (given: there are no months)
            test, allowed = {"days_to_submission": {"gt": days}}, f"{days} days"
            late, in_time = day + dt.timedelta(days=days + 1), day + dt.timedelta(days=days)
            measured = "{days_to_submission} days"
        rule_id = f"{pid}-timely-filing"
        yield _rule({
            "id": rule_id, "title": f"{pname}: filed after the timely filing limit ({allowed})",
            "category": "timely_filing", "severity": "error", "carc": "CO-29",
            "effective": _effective(tf.effective), "when": {"line": test},
            "message": f"Line {{line_number}} ({{procedure_code}}) of {{service_date}} is submitted {measured} "
                       f"after the date of service; {pname} accepts claims up to {allowed} after it",
            "field": "submission_date",
            "suggestion": "If the delay was the payer's, or eligibility was granted retroactively, submit with "
                          "the proof the payer asks for; otherwise the service can no longer be billed",
            "references": [tf.reference] if tf.reference else [],
            "examples": [
                {"name": "submitted the day after the limit", "claim": {
                    "submission_date": late.isoformat(), "lines": [{"service_date": day.isoformat()}]},
                 "expect": [rule_id]},
                {"name": "submitted on the last day", "claim": {
                    "submission_date": in_time.isoformat(), "lines": [{"service_date": day.isoformat()}]},
                 "expect": []}]}), ("timely_filing",)
    for i, pa in enumerate(payer.prior_authorization):
        day = _example_day(pa.effective)
        codes = list(pa.codes)
        yield _rule({
            "id": pa.id, "title": f"{pname}: {pa.title}", "category": "prior_auth", "severity": "error",
            "carc": "CO-197", "effective": _effective(pa.effective),
            "when": {"line": {"all": [{"procedure_code": {"in": codes}},
                                      {"claim.prior_authorization": {"present": False}}]}},
            "message": f"Line {{line_number}}: {{procedure_code}} needs a prior authorization from {pname} "
                       f"({pa.title}) and the claim has no authorization number",
            "field": "prior_authorization",
            "suggestion": "Put the authorization number on the claim (837 REF*G1, CMS-1500 box 23); if there "
                          "is none, request a retro-authorization before billing",
            "references": [pa.reference] if pa.reference else [],
            "examples": [
                {"name": f"{codes[0]} without an authorization", "claim": {
                    "lines": [{"procedure_code": codes[0], "service_date": day.isoformat()}]}, "expect": [pa.id]},
                {"name": f"{codes[0]} with an authorization", "claim": {
                    "prior_authorization": "AUTH-0001",
                    "lines": [{"procedure_code": codes[0], "service_date": day.isoformat()}]}, "expect": []}]}), \
            ("prior_authorization", i)
    for i, policy in enumerate(payer.coverage):
        day = _example_day(policy.effective)
        codes = list(policy.codes)
        covered = policy.covered_diagnoses[0].replace("*", "").replace("?", "0")
        rarc = "N386" if policy.policy.upper().startswith("NCD") else "N115"
        yield _rule({
            "id": policy.id, "title": f"{pname}: {policy.title} ({policy.policy})", "category": "medical_necessity",
            "severity": "error", "carc": "CO-50", "rarc": rarc, "effective": _effective(policy.effective),
            "when": {"claim": {"all": [{"any_line": {"procedure_code": {"in": codes}}},
                                       {"no_diagnosis": {"code": {"matches": list(policy.covered_diagnoses)}}}]}},
            "message": f"{{line.procedure_code}} is covered by {pname} only for the diagnoses listed in "
                       f"{policy.policy} ({policy.title}); none of the claim's diagnoses is one of them",
            "field": "diagnoses",
            "suggestion": "If the record documents a covered indication, code it and point the line at it; "
                          "otherwise get an Advance Beneficiary Notice (modifier GA) or expect a denial",
            "references": [policy.reference] if policy.reference else [],
            "examples": [
                {"name": f"{codes[0]} for a routine examination", "claim": {
                    "diagnoses": [{"code": "Z00.00"}],
                    "lines": [{"procedure_code": codes[0], "service_date": day.isoformat()}]},
                 "expect": [policy.id]},
                {"name": f"{codes[0]} with a covered diagnosis", "claim": {
                    "diagnoses": [{"code": covered}],
                    "lines": [{"procedure_code": codes[0], "service_date": day.isoformat()}]}, "expect": []}]}), \
            ("coverage", i)
    for i, item in enumerate(payer.not_covered):
        day = _example_day(item.effective)
        codes = list(item.codes)
        yield _rule({
            "id": item.id, "title": f"{pname}: {item.title}", "category": "coverage", "severity": "error",
            "carc": "CO-96", "effective": _effective(item.effective),
            "when": {"line": {"procedure_code": {"in": codes}}},
            "message": f"Line {{line_number}}: {pname} does not cover {{procedure_code}} ({item.reason})",
            "field": "lines[{line_number}].procedure_code",
            "suggestion": "Bill the patient if they agreed in writing beforehand, or a covered alternative",
            "examples": [
                {"name": codes[0], "claim": {"lines": [{"procedure_code": codes[0],
                                                              "service_date": day.isoformat()}]},
                 "expect": [item.id]},
                {"name": "an office visit", "claim": {"lines": [{"service_date": day.isoformat()}]}, "expect": []}]}), \
            ("not_covered", i)
    for i, limit in enumerate(payer.frequency):
        day = _example_day(limit.effective)
        code = limit.codes[0]
        earlier = day - dt.timedelta(days=min(30, (limit.per.days or 31) - 1))
        if limit.per.calendar_year:
            earlier = max(earlier, dt.date(day.year, 1, 1))
        if limit.per.days:
            outside = day - dt.timedelta(days=limit.per.days)
        elif limit.per.calendar_year:
            outside = dt.date(day.year - 1, 12, 31)
        else:
            outside = None
        history = [{"claim_id": f"EARLIER-{n + 1}", "lines": [{"procedure_code": code,
                                                               "service_date": earlier.isoformat()}]}
                   for n in range(limit.limit)]
        examples = [{"name": f"{limit.limit + 1} services of {code} within the period", "history": history,
                     "claim": {"claim_id": "NEW", "lines": [{"procedure_code": code, "service_date": day.isoformat()}]},
                     "expect": [limit.id]},
                    {"name": "the first service", "claim": {
                        "lines": [{"procedure_code": code, "service_date": day.isoformat()}]}, "expect": []}]
        if outside is not None:
            examples.append({"name": "the earlier services fall outside the period", "history": [
                {**h, "lines": [{"procedure_code": code, "service_date": outside.isoformat()}]} for h in history],
                "claim": {"claim_id": "NEW", "lines": [{"procedure_code": code, "service_date": day.isoformat()}]},
                "expect": []})
        yield _rule({
            "id": limit.id, "title": f"{pname}: {limit.title}", "category": "frequency", "severity": "error",
            "carc": "CO-119", "effective": _effective(limit.effective),
            "when": {"line": {"frequency_limit": limit.id}},
            "message": "Line {line_number}: {procedure_code} {frequency_detail}",
            "field": "lines[{line_number}].procedure_code",
            "suggestion": "Check the patient's earlier services; bill only when the frequency allows it, or "
                          "document why this one is medically necessary",
            "references": [limit.reference] if limit.reference else [],
            "examples": examples}), ("frequency", i)


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)
