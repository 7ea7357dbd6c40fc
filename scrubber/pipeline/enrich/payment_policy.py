"""Enrichment for the payment-policy edits of the Medicare Physician Fee Schedule (PFS): status codes,
modifier-to-procedure validity and global surgery.

An Enricher (scrubber.pipeline.enrich.facts) that looks each line's code up in the PFS Relative Value
file (PPRRVU, `ReferenceData.fee_schedule`) as of its date of service and writes the row's status code
and indicators onto the line, with the few facts that need more than one line (two sides of a
bilateral procedure, an injection billed with another service, an E/M service inside a procedure's
global period), so that `rules/payment_policy.yaml` stays plain comparisons an analyst can read.
Whether the edits run at all is the payer profile's choice (`payment_policy: {fee_schedule: medicare}`
in payers/*.yaml, scrubber.ruleset.payers).

Only professional claims are looked at (the PFS pays practitioners; an institutional claim is paid on
other schedules). A line whose code is not in the PFS file gets no fact at all: whether the code exists
is the code-validity rules' question. A date after the newest loaded release is judged by the newest,
and `fee_release` says so.

Global surgery (Medicare Claims Processing Manual, Pub. 100-04, ch. 12, section 40.1-40.2; the RVU
file's global days): a procedure with global days 000 or 010 includes an E/M service on its day (unless
modifier 25), 010 also the 10 days after (unless 24); a 090 procedure includes the day before and its
day (unless 57, decision for surgery; 25 is accepted on its day) and the 90 days after (unless 24). The
procedure is on the same claim, or, with a claim history, on the member's other claims from the same
billing NPI (`ClaimHistory.member_lines`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import ClassVar, Iterable

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.facts import Facts
from scrubber.pipeline.enrich.history import ClaimHistory
from scrubber.refdata.code_families import is_evaluation_management
from scrubber.refdata.fee_schedule import QUARTER_START_MONTH, RELEASE, FeeScheduleEntry
from scrubber.refdata.store import ReferenceData
from scrubber.ruleset.fields import line_ranges

# Evaluation and management services: CPT 99202-99499 (the CPT E/M section), and the ophthalmological
# general examinations 92002-92014, which CMS treats as visits for modifiers 25 and 57 and the global
# surgery rules (NCCI Policy Manual, ch. XI; Pub. 100-04 ch. 12 section 30.6).
# Status I codes for which CMS named the code Medicare uses instead (the PFS file itself does not say).
MEDICARE_CODE_FOR = {
    "99417": "G2212 for a prolonged office or outpatient visit (CY2021 PFS final rule, CMS-1734-F); from 2023 "
             "G0317 in a nursing facility and G0318 at home or in a residence (CY2023 PFS final rule, CMS-1770-F)",
    "99418": "G0316 for a prolonged hospital inpatient or observation visit (CY2023 PFS final rule, CMS-1770-F)",
}
NO_MEDICARE_CODE = "the PFS file does not name the code Medicare uses; see the MAC's instructions for this service"

# PC/TC indicator (RVU file, Attachment A): what the code is, in words, for messages.
PCTC_MEANINGS = {
    "0": "a physician service, which has no professional and technical components",
    "1": "a diagnostic test with professional (26) and technical (TC) components",
    "2": "a professional-component-only code: the code itself is the interpretation",
    "3": "a technical-component-only code: the code itself is the technical part",
    "4": "a global-test-only code: separate codes describe its professional and technical parts",
    "5": "an incident-to service, which has no components",
    "6": "a laboratory physician interpretation code: only the professional component (26) is billed",
    "7": "a physical therapy service, which has no components",
    "8": "a physician interpretation code of a clinical laboratory test, which has no technical component",
    "9": "a service to which the professional/technical component concept does not apply",
}

GLOBAL_PROCEDURE_DAYS = frozenset({"000", "010", "090"})
PAYABLE_OTHER_SERVICE = frozenset({"A", "C", "R"})  # services the PFS pays (if covered), other than an injection (T)
SIDES = frozenset({"RT", "LT"})
_CACHE_LIMIT = 50_000


class _Row:
    """A PFS row as this enricher uses it: the entry, the facts it gives a line, and what kind of line it
    makes for the edits across lines (computed once per code and date)."""
    __slots__ = ("entry", "facts", "visit", "procedure")

    def __init__(self, entry: FeeScheduleEntry, facts: dict):
        self.entry, self.facts = entry, facts
        # a visit the PFS would pay (not 99288, status B; not 99397, N), or a procedure with a global period
        self.visit = (entry.global_days == "XXX" and entry.status in PAYABLE_OTHER_SERVICE
                      and is_evaluation_management(entry.code))
        self.procedure = entry.global_days in GLOBAL_PROCEDURE_DAYS


@dataclass(frozen=True)
class _Procedure:
    """A procedure with a global period, on this claim or an earlier one."""
    day: int  # day number
    code: str
    global_days: str
    words: str  # the procedure in words, with its global period and PFS release


def release_end(release: str) -> dt.date | None:
    """The last day of a quarterly release's quarter (RVU24C: 2024-09-30; a correction RVU24AR: the
    quarter of RVU24A); None for a name that is not RVUyyX."""
    match = RELEASE.fullmatch(release)
    if match is None:
        return None
    year, month = 2000 + int(match[1]), QUARTER_START_MONTH[match[2]] + 3
    return (dt.date(year + 1, 1, 1) if month > 12 else dt.date(year, month, 1)) - dt.timedelta(days=1)


def release_words(entry: FeeScheduleEntry, on: dt.date) -> str:
    """The release a row comes from, as messages name it: 'PFS RVU24C', and when the date of service
    is after the newest loaded release, that it was judged by it (messages put it last in a clause,
    never inside parentheses)."""
    end = entry.effective_to or release_end(entry.release)
    if entry.effective_to is None and end is not None and on > end:
        return f"PFS {entry.release}, the newest release loaded (the date of service is after it)"
    return f"PFS {entry.release}"


def line_facts(entry: FeeScheduleEntry, on: dt.date) -> dict:
    """The facts one PFS row gives a line (the same for every line of that code on that date)."""
    facts: dict = {"fee_status": entry.status, "fee_release": release_words(entry, on),
                   "pctc_indicator": entry.pctc, "pctc_meaning": PCTC_MEANINGS.get(entry.pctc, entry.pctc),
                   "global_days": entry.global_days, "mult_proc_indicator": entry.mult_proc,
                   "bilateral_indicator": entry.bilateral, "assistant_indicator": entry.assistant,
                   "co_surgeon_indicator": entry.co_surgeon, "team_indicator": entry.team,
                   "is_evaluation_management": is_evaluation_management(entry.code)}
    if entry.status in ("I", "G"):
        facts["fee_replacement"] = MEDICARE_CODE_FOR.get(entry.code, NO_MEDICARE_CODE)
    return facts


class PaymentPolicy:
    """The payment-policy enricher (PFS status, modifier-to-procedure indicators, global surgery)."""

    provides: ClassVar[frozenset[str]] = frozenset({
        "fee_status", "fee_release", "fee_replacement", "component_not_priced", "pctc_indicator", "pctc_meaning",
        "global_days", "mult_proc_indicator", "bilateral_indicator", "assistant_indicator", "co_surgeon_indicator",
        "team_indicator", "is_evaluation_management", "bilateral_other_line", "injection_bundled_with",
        "global_period", "global_procedure", "modifier_57_minor"})

    def __init__(self, reference: ReferenceData, history: ClaimHistory | None = None):
        self.ref = reference
        self.history = history
        self.loaded = reference.fee_schedule_release(dt.date.max) is not None  # any PPRRVU release at all
        self._rows: dict[tuple[str, int], _Row | None] = {}

    def _row(self, code: str, day: int) -> _Row | None:
        """The code's PFS row on a day (None: not in the file), cached per code and day."""
        key = (code, day)
        if key in self._rows:
            return self._rows[key]
        on = dt.date.fromordinal(day)
        entry = self.ref.fee_schedule(code, on)
        row = _Row(entry, line_facts(entry, on)) if entry is not None else None
        if len(self._rows) >= _CACHE_LIMIT:
            self._rows.clear()
        self._rows[key] = row
        return row

    def enrich(self, claim: Claim, facts: Facts) -> None:
        if not self.loaded or claim.claim_type != "professional" or not facts.lines:
            return
        found: list[tuple[dict, FeeScheduleEntry]] = []
        visits: list[dict] = []
        procedures: list[tuple[dict, FeeScheduleEntry]] = []
        sided: list[tuple[dict, FeeScheduleEntry]] = []
        injections = False
        rows, get_row = self._rows, self._row
        for fact in facts.lines:
            code, day = fact.get("procedure_code"), fact.get("service_date")
            if code is None or day is None:
                continue
            key = (code, day)
            row = rows[key] if key in rows else get_row(code, day)
            if row is None:
                continue
            entry = row.entry
            fact.update(row.facts)
            found.append((fact, entry))
            mods = (fact["mod1"], fact["mod2"], fact["mod3"], fact["mod4"])
            if "26" in mods or "TC" in mods:
                self._component(fact, code, day, "26" if "26" in mods else "TC")
            if row.visit:
                visits.append(fact)
            elif row.procedure:
                procedures.append((fact, entry))
            if entry.bilateral == "1" and ("RT" in mods or "LT" in mods):
                sided.append((fact, entry))
            injections = injections or entry.status == "T"
        if len(sided) > 1:
            _bilateral(sided)
        if injections:
            _injections(found)
        if visits:
            self._global_surgery(claim, visits, procedures)

    def _component(self, fact: dict, code: str, day: int, modifier: str) -> None:
        """26 or TC is valid where the PFS file prices that component of the code (a row for the code with
        that modifier: PC/TC indicator 1 both, 6 the 26 only); the row's PC/TC indicator is the line's."""
        component = self.ref.fee_schedule(code, dt.date.fromordinal(day), modifier)
        if component is None:
            fact["component_not_priced"] = modifier
        else:
            fact["pctc_indicator"] = component.pctc
            fact["pctc_meaning"] = PCTC_MEANINGS.get(component.pctc, component.pctc)

    def _global_surgery(self, claim: Claim, visits: list[dict], on_claim: list[tuple[dict, FeeScheduleEntry]]
                        ) -> None:
        procedures = [_Procedure(fact["service_date"], entry.code, entry.global_days,
                                 f"{entry.code} on line {fact['line_number']}, which has {_period(entry.global_days)} "
                                 f"in the {fact['fee_release']}")
                      for fact, entry in on_claim]
        procedures.extend(self._earlier_procedures(claim, visits))
        if procedures:
            for visit in visits:
                _judge_visit(visit, procedures)

    def _earlier_procedures(self, claim: Claim, visits: list[dict]) -> Iterable[_Procedure]:
        """The procedures with a global period on the member's other claims from the same billing NPI
        whose period can hold one of these visits (from 90 days before the first visit to the day after
        the last)."""
        npi = claim.billing_provider.npi if claim.billing_provider is not None else None
        if self.history is None or not npi:
            return []
        days = [visit["service_date"] for visit in visits]
        last = dt.date.max.toordinal()  # a date at either end of the calendar must not overflow
        start, end = dt.date.fromordinal(max(1, min(days) - 90)), dt.date.fromordinal(min(last, max(days) + 1))
        procedures = []
        for line in self.history.member_lines(claim, start, end):
            if line.billing_npi != npi or is_evaluation_management(line.procedure_code):
                continue
            row = self._row(line.procedure_code, line.service_date.toordinal())
            if row is None or not row.procedure:
                continue
            entry, values = row.entry, row.facts
            where = f"claim {line.claim_id}" + (f" line {line.line_number}" if line.line_number else "")
            procedures.append(_Procedure(
                line.service_date.toordinal(), entry.code, entry.global_days,
                f"{entry.code} of {line.service_date.isoformat()} on {where}, which has "
                f"{_period(entry.global_days)} in the {values['fee_release']}"))
        return procedures


def _bilateral(sided: list[tuple[dict, FeeScheduleEntry]]) -> None:
    """Two lines of a bilateral-indicator-1 code on one date, one RT and one LT: the later one gets
    the earlier one's number (Medicare wants one line with modifier 50)."""
    sides: dict[tuple[str, int], dict[str, dict]] = {}
    for fact, entry in sided:
        mods = {fact["mod1"], fact["mod2"], fact["mod3"], fact["mod4"]}
        side = mods & SIDES
        if len(side) != 1 or "50" in mods:
            continue
        group = sides.setdefault((entry.code, fact["service_date"]), {})
        group.setdefault(side.pop(), fact)
    for group in sides.values():
        if len(group) == 2:
            first, second = sorted(group.values(), key=lambda f: f["line_number"] or 0)
            if first["line_number"] is not None:
                second["bilateral_other_line"] = first["line_number"]


def _injections(found: list[tuple[dict, FeeScheduleEntry]]) -> None:
    """An injection (status T) with another service the PFS pays on the same date: those lines."""
    for fact, entry in found:
        if entry.status != "T":
            continue
        others = [f["line_number"] for f, e in found if e.status in PAYABLE_OTHER_SERVICE and f is not fact
                  and f["service_date"] == fact["service_date"] and f["line_number"] is not None]
        if others:
            fact["injection_bundled_with"] = line_ranges(sorted(others))


def _period(global_days: str) -> str:
    return {"000": "a same-day global period", "010": "a 10-day global period",
            "090": "a 90-day global period"}[global_days]


def _judge_visit(visit: dict, procedures: list[_Procedure]) -> None:
    """Puts on an E/M line the first global period it falls in without the modifier that period needs
    (`global_period`, `global_procedure`), or `modifier_57_minor` when it carries 57 on the day of a
    minor procedure with no major one that day or the next."""
    mods = {visit["mod1"], visit["mod2"], visit["mod3"], visit["mod4"]}
    day = visit["service_date"]
    major_near = any(p.global_days == "090" and day - p.day in (-1, 0) for p in procedures)
    for p in procedures:
        delta = day - p.day
        if delta == 0 and p.global_days in ("000", "010"):
            if "57" in mods and not major_near:
                visit["modifier_57_minor"] = p.words
                return
            kind, needed = "same_day", {"25"}
        elif p.global_days == "090" and delta in (-1, 0):
            kind, needed = "decision_for_surgery", ({"57"} if delta == -1 else {"57", "25"})
        elif (p.global_days == "010" and 1 <= delta <= 10) or (p.global_days == "090" and 1 <= delta <= 90):
            kind, needed = "postoperative", {"24"}
        else:
            continue
        if not mods & needed:
            visit["global_period"] = kind
            visit["global_procedure"] = p.words
            return
