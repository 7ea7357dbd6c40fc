"""Step 3 of the pipeline: turn a normalised claim into facts and put derived fields on them.

Facts are flat dictionaries keyed as in scrubber.ruleset.fields: dates are day numbers (so the engine can
compare and add days), money is cents, absent values are left out. Enrichers put derived fields
onto these facts through one small interface; reference-data lookups (code sets, NCCI, MUE) plug
in the same way. FactBuilder then adds the claim fields that line rules read, pairs of lines on
the same date of service, and the values the compiler asked for (large value-set membership,
negated code patterns, line counts); the engine gets the gate fact last.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Protocol

from scrubber.contract.claim import Claim
from scrubber.errors import ScrubberError
from scrubber.limits import MAX_LINE_PAIRS
from scrubber.ruleset.program import Flag, Program
from scrubber.ruleset.semantics import predicate, regex
from scrubber.ruleset.fields import fact_keys, line_ranges

_NPI_SHAPE = re.compile(r"[0-9]{10}")
PROVIDER_ROLES = ("billing", "rendering", "referring", "ordering", "supervising", "attending", "operating",
                  "service_facility")
# role -> (the claim field that holds the provider, the provider in words)
_CLAIM_PROVIDERS = {role: (f"{role}_provider" if role != "service_facility" else role,
                           f"{role} provider" if role != "service_facility" else "service facility")
                    for role in PROVIDER_ROLES}


@dataclass
class Facts:
    """One claim's facts, as the engine receives them (plus `pointed_by`, for messages)."""

    claim: dict
    lines: list[dict]
    diagnoses: list[dict]
    providers: list[dict]
    pairs: list[dict] = field(default_factory=list)
    pointed_by: list[list[int]] = field(default_factory=list)  # per diagnosis, the lines pointing at it
    pairs_skipped: bool = False  # more than MAX_LINE_PAIRS pairs of lines: none built, pair rules not run

    def for_engine(self) -> list[dict]:
        """All facts in the order the engine needs: the gate fact last."""
        return [self.claim, *self.diagnoses, *self.providers, *self.lines, *self.pairs, {"id": "g", "t": "gate"}]


class Enricher(Protocol):
    """Puts derived fields onto a claim's facts (reads the claim, writes the facts). `provides` names the
    fact keys it may write; each must be a field a rule can read (scrubber.ruleset.fields), which
    `check_enrichers` verifies when a scrubber is built, so that a misspelt key fails at start-up.
    An enricher that writes facts only for some claim types says which in a `claim_types` attribute
    (a frozenset; without it, every type): the engine then leaves out, for the other types, the rules
    that need its keys (scrubber.pipeline.engine.durable.can_fire)."""

    @property
    def provides(self) -> frozenset[str]: ...  # a class or an instance attribute

    def enrich(self, claim: Claim, facts: Facts) -> None: ...


class EnricherError(ScrubberError):
    """An enricher declares a fact key no rule can read."""


def check_enrichers(enrichers: Iterable[Enricher]) -> None:
    known = fact_keys()
    for enricher in enrichers:
        unknown = sorted(set(enricher.provides) - known)
        if unknown:
            raise EnricherError(f"{type(enricher).__name__} provides {', '.join(unknown)}, which "
                                "scrubber/ruleset/fields.py does not declare")


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit doubled, its two digits added


@lru_cache(maxsize=65536)
def npi_check_digit_ok(npi: str) -> bool:
    """Luhn check over '80840' + the first 9 digits, compared with the 10th (CMS NPI standard).
    The prefix 80840 always adds 24; then every other digit from the right is doubled."""
    d = [ord(ch) - 48 for ch in npi]
    total = (24 + _DOUBLED[d[8]] + d[7] + _DOUBLED[d[6]] + d[5] + _DOUBLED[d[4]] + d[3] + _DOUBLED[d[2]]
             + d[1] + _DOUBLED[d[0]])
    return (10 - total % 10) % 10 == d[9]


def _day(value: dt.date | None) -> int | None:
    return value.toordinal() if value is not None else None


def _cents(value: Decimal | int | None) -> int | None:
    return int(value * 100) if value is not None else None


def age_on(birth: dt.date | None, day: dt.date | None) -> int | None:
    if birth is None or day is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _compact(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


LINE_EXTRAS = frozenset({"dos", "days_to_submission", "months_to_submission", "patient_age", "service_days",
                         "duplicate_of", "duplicate_lines"})


def months_between(start: dt.date, end: dt.date) -> int:
    """Months from start to end, a part month counting as a whole one: 2025-03-10 -> 2026-03-10
    is 12, -> 2026-03-11 is 13 (so "more than 12 months after the date of service" is > 12)."""
    return (end.year - start.year) * 12 + end.month - start.month + (1 if end.day > start.day else 0)


def base_facts(claim: Claim, with_diagnoses: bool = True, line_extras: frozenset[str] = LINE_EXTRAS) -> Facts:
    """The claim's own values as facts, with the derived fields every rule set may use. The derived
    line fields in `line_extras` are computed only when some rule reads or shows them."""
    patient, payer = claim.patient, claim.payer
    birth = patient.birth_date if patient else None
    submission = claim.submission_date
    dates = [line.service_date for line in claim.lines if line.service_date is not None]
    ends = dates + [line.service_date_end for line in claim.lines if line.service_date_end is not None]
    first = min(dates) if dates else None
    n_dx = len(claim.diagnoses)
    charges = [line.charge for line in claim.lines if line.charge is not None]
    providers = {"billing": claim.billing_provider, "rendering": claim.rendering_provider,
                 "referring": claim.referring_provider, "ordering": claim.ordering_provider,
                 "supervising": claim.supervising_provider, "attending": claim.attending_provider,
                 "operating": claim.operating_provider, "service_facility": claim.service_facility}
    c = _compact({
        "id": "c", "t": "claim", "dos": _day(first),
        "claim_id": claim.claim_id, "claim_type": claim.claim_type, "frequency_code": claim.frequency_code,
        "submission_date": _day(submission),
        "payer_id": payer.id if payer else None, "payer_name": payer.name if payer else None,
        "patient_member_id": patient.member_id if patient else None,
        "patient_first_name": patient.first_name if patient else None,
        "patient_last_name": patient.last_name if patient else None,
        "patient_birth_date": _day(birth), "patient_death_date": _day(patient.death_date) if patient else None,
        "patient_sex": patient.sex if patient else None,
        "patient_age": age_on(birth, first),
        "place_of_service": claim.place_of_service, "prior_authorization": claim.prior_authorization,
        "type_of_bill": claim.type_of_bill, "admission_date": _day(claim.admission_date),
        "discharge_date": _day(claim.discharge_date), "total_charge": _cents(claim.total_charge),
        "line_charge_total": _cents(sum(charges)) if charges else 0,
        "line_count": len(claim.lines), "diagnosis_count": n_dx,
        "first_service_date": _day(first), "last_service_date": _day(max(ends)) if ends else None,
        "days_to_submission": (submission - first).days if submission and first else None,
        "clia_number": claim.clia_number,
    })
    for role, provider in providers.items():
        if provider is not None:
            prefix = _CLAIM_PROVIDERS[role][0]
            for attr, value in (("npi", provider.npi), ("taxonomy", provider.taxonomy), ("tax_id", provider.tax_id)):
                if value is not None:
                    c[f"{prefix}_{attr}"] = value

    lines: list[dict[str, Any]] = []
    pointed_by: list[list[int]] = [[] for _ in range(n_dx)]
    claim_pos = claim.place_of_service
    numbers: set[int | None] = set()
    ages: dict[dt.date, int | None] = {}  # lines mostly share a date of service
    want_dos, want_days = "dos" in line_extras, "days_to_submission" in line_extras
    want_months = "months_to_submission" in line_extras
    want_age, want_span = "patient_age" in line_extras, "service_days" in line_extras
    for index, line in enumerate(claim.lines):
        mods = line.modifiers
        pointers = line.diagnosis_pointers
        number = line.line_number
        bad = repeated = None
        seen = set()
        for p in pointers:
            if isinstance(p, int) and 1 <= p <= n_dx:
                if number is not None:  # normalise numbers every line: an unnumbered one cannot be named
                    pointed_by[p - 1].append(number)
                if p in seen and repeated is None:
                    repeated = p
                seen.add(p)
            elif bad is None:
                bad = str(p)
        dos, end, units, charge = line.service_date, line.service_date_end, line.units, line.charge
        n_mods = len(mods)
        fact: dict[str, Any] = {"id": f"l{index}", "t": "line", "line_number": number,
                "mod1": mods[0] if n_mods > 0 else "", "mod2": mods[1] if n_mods > 1 else "",
                "mod3": mods[2] if n_mods > 2 else "", "mod4": mods[3] if n_mods > 3 else "",
                "modifier_count": n_mods, "pointer_count": len(pointers), "line_number_repeated": number in numbers}
        numbers.add(number)
        if line.procedure_code is not None:
            fact["procedure_code"] = line.procedure_code
        if units is not None:
            whole = int(units)
            fact["units"] = whole if whole == units else float(units)
        if charge is not None:
            fact["charge"] = int(charge.scaleb(2))
        if dos is not None:
            fact["service_date"] = dos.toordinal()
            if want_dos:
                fact["dos"] = fact["service_date"]
            if want_days and submission is not None:
                fact["days_to_submission"] = (submission - dos).days
            if want_months and submission is not None:
                fact["months_to_submission"] = months_between(dos, submission)
            if want_age and birth is not None:
                age = ages.get(dos)
                if age is None:
                    age = ages[dos] = age_on(birth, dos)
                fact["patient_age"] = age
            if want_span and end is not None:
                fact["service_days"] = (end - dos).days
        if end is not None:
            fact["service_date_end"] = end.toordinal()
        if line.place_of_service is not None:
            fact["place_of_service"] = fact["effective_place_of_service"] = line.place_of_service
        elif claim_pos is not None:
            fact["effective_place_of_service"] = claim_pos
        if line.ndc is not None:
            fact["ndc"] = line.ndc
        if line.revenue_code is not None:
            fact["revenue_code"] = line.revenue_code
        if line.ndc_quantity is not None:
            quantity = line.ndc_quantity
            fact["ndc_quantity"] = int(quantity) if quantity == int(quantity) else float(quantity)
        if line.ndc_unit is not None:
            fact["ndc_unit"] = line.ndc_unit
        if line.anesthesia_minutes is not None:
            fact["anesthesia_minutes"] = line.anesthesia_minutes
        if line.ordering_provider is not None and line.ordering_provider.npi is not None:
            fact["ordering_provider_npi"] = line.ordering_provider.npi
        if line.rendering_provider is not None and line.rendering_provider.npi is not None:
            fact["rendering_provider_npi"] = line.rendering_provider.npi
        if bad is not None:
            fact["bad_pointer"] = bad
        if repeated is not None:
            fact["repeated_pointer"] = repeated
        lines.append(fact)
    if "duplicate_of" in line_extras or "duplicate_lines" in line_extras:
        mark_identical_lines(lines)
    diagnoses = [_compact({"id": f"d{i}", "t": "dx", "dos": c.get("dos"), "position": i + 1,
                           "code": d.code, "pointed_to": bool(pointed_by[i])})
                 for i, d in enumerate(claim.diagnoses)] if with_diagnoses else []
    provider_facts: list[dict[str, Any]] = []
    for role, provider in providers.items():
        if provider is not None:
            where, who = _CLAIM_PROVIDERS[role]
            provider_facts.append(_provider_fact(len(provider_facts), c.get("dos"), role, provider, who,
                                                 f"{where}.npi"))
    for index, line in enumerate(claim.lines):  # a line's own providers (loop 2420), after the claim's
        for role, provider in (("rendering", line.rendering_provider), ("ordering", line.ordering_provider)):
            if provider is not None:
                number = line.line_number
                fact = _provider_fact(len(provider_facts), lines[index].get("service_date", c.get("dos")), role,
                                      provider, f"line {number} {role} provider",
                                      f"lines[{number}].{role}_provider.npi")
                if number is not None:
                    fact["line_number"] = number
                provider_facts.append(fact)
    return Facts(c, lines, diagnoses, provider_facts, pointed_by=pointed_by)


def _provider_fact(index: int, dos: int | None, role: str, provider: Any, who: str, npi_field: str) -> dict:
    npi = provider.npi
    return _compact({
        "id": f"p{index}", "t": "prov", "dos": dos, "role": role, "who": who, "npi_field": npi_field, "npi": npi,
        "npi_check_digit_ok": npi_check_digit_ok(npi) if npi and _NPI_SHAPE.fullmatch(npi) else None,
        "taxonomy": provider.taxonomy, "tax_id": provider.tax_id})


def mark_identical_lines(lines: list[dict]) -> None:
    """Groups the lines that bill the same service twice: same date of service, procedure code,
    modifiers (in any order), units, charge and NDC. The group is led by its lowest line number; each later line
    gets `duplicate_of` (the leader's number) and the leader gets `duplicate_lines` (the later lines,
    "2, 3" or "2-999"), so that one line rule gives one finding per group, in linear time."""
    groups: dict[tuple, list[dict]] = {}
    for fact in lines:
        if "service_date" in fact and "procedure_code" in fact and "units" in fact and fact["line_number"]:
            # charge and NDC too: two J3490 lines with different NDCs are different drugs
            key = (fact["service_date"], fact["procedure_code"], fact["units"],
                   tuple(sorted((fact["mod1"], fact["mod2"], fact["mod3"], fact["mod4"]))),
                   fact.get("charge"), fact.get("ndc"))
            groups.setdefault(key, []).append(fact)
    for group in groups.values():
        if len(group) > 1:
            group.sort(key=lambda fact: fact["line_number"])  # stable: equal numbers keep the order sent
            leader = group[0]
            for fact in group[1:]:
                fact["duplicate_of"] = leader["line_number"]
            leader["duplicate_lines"] = line_ranges([fact["line_number"] for fact in group[1:]])


def _same_modifiers(a: dict, b: dict) -> bool:
    return sorted((a["mod1"], a["mod2"], a["mod3"], a["mod4"])) == sorted((b["mod1"], b["mod2"], b["mod3"], b["mod4"]))


class FactBuilder:
    """Builds one claim's facts for a Program: the base facts, the enrichers' fields, the claim
    fields that line/diagnosis/provider rules read, pairs of lines, and the compiler's flags."""

    def __init__(self, program: Program, enrichers: tuple[Enricher, ...] = ()):
        check_enrichers(enrichers)
        needs = program.needs
        self.enrichers = enrichers
        self.claim_keys = {t: sorted(k[7:] for k in needs.get(t, ()) if k.startswith("claim__"))
                           for t in ("line", "dx", "prov")}
        self.send_dx, self.send_prov = "dx" in needs, "prov" in needs
        line_keys = needs.get("line", set()) | {k[3:] for k in needs.get("pair", ()) if k[:3] in ("a__", "b__")}
        self.line_extras = LINE_EXTRAS & line_keys
        pair = needs.get("pair")
        self.want_pairs = pair is not None
        pair = pair or set()
        self.pair_a = sorted(k[3:] for k in pair if k.startswith("a__"))
        self.pair_b = sorted(k[3:] for k in pair if k.startswith("b__"))
        self.pair_claim = sorted(k[7:] for k in pair if k.startswith("claim__"))
        self.pair_same_mods = "same_modifiers" in pair
        self.pair_keys = program.pair_keys
        self.flags: dict[str, list[Flag]] = {}
        for flag in program.flags:
            if flag.kind != "count":
                self.flags.setdefault(flag.fact_type, []).append(flag)
        self.counts = [(flag.key, predicate(flag.test)) for flag in program.flags if flag.kind == "count"]

    def build(self, claim: Claim) -> Facts:
        facts = base_facts(claim, with_diagnoses=self.send_dx, line_extras=self.line_extras)
        for enricher in self.enrichers:
            enricher.enrich(claim, facts)
        c = facts.claim
        for type_, group in (("line", facts.lines), ("dx", facts.diagnoses), ("prov", facts.providers)):
            keys = [k for k in self.claim_keys[type_] if k in c]
            for fact in group:
                for k in keys:
                    fact["claim__" + k] = c[k]
        if not self.send_prov:
            facts.providers = []
        if self.want_pairs:
            facts.pairs, facts.pairs_skipped = self._pairs(facts.lines, c)
        if self.flags:
            for group in ([c], facts.lines, facts.diagnoses, facts.providers, facts.pairs):
                if group:
                    for flag in self.flags.get(group[0]["t"], ()):
                        _set_flag(group, flag)
        for key, passes in self.counts:  # after the lines' own flags, which a count may test
            c[key] = sum(1 for line in facts.lines if passes(line))
        return facts

    def _pairs(self, lines: list[dict], claim: dict) -> tuple[list[dict], bool]:
        """Ordered pairs of lines on the same date of service, and whether they were too many to
        build. When every pair rule requires some fields to be equal on both lines, only pairs that
        agree on them are built: no other pair could match, and a claim of 12 lines on one day would
        otherwise make 132 facts. More than MAX_LINE_PAIRS pairs (the engine's time and memory grow
        with their number: 999 lines on one day make 997,002) are not built at all."""
        if len(lines) < 2:
            return [], False
        groups: dict[tuple, list[int]] = {}
        for key_set in self.pair_keys or [()]:
            for index, line in enumerate(lines):
                values = tuple(line.get(k) for k in key_set)
                if "service_date" in line and None not in values:
                    groups.setdefault((key_set, line["service_date"], values), []).append(index)
        if sum(len(group) * (len(group) - 1) for group in groups.values()) > MAX_LINE_PAIRS:
            return [], True
        ordered = sorted({(i, j) for group in groups.values() if len(group) > 1
                          for i in group for j in group if i != j})
        pairs = []
        for i, j in ordered:
            a, b = lines[i], lines[j]
            fact = {"id": f"q{i}_{j}", "t": "pair", "dos": a["service_date"]}
            for k in self.pair_a:
                if k in a:
                    fact["a__" + k] = a[k]
            for k in self.pair_b:
                if k in b:
                    fact["b__" + k] = b[k]
            for k in self.pair_claim:
                if k in claim:
                    fact["claim__" + k] = claim[k]
            if self.pair_same_mods:
                fact["same_modifiers"] = _same_modifiers(a, b)
            pairs.append(fact)
        return pairs, False


def _set_flag(facts: list[dict], flag: Flag) -> None:
    """Put a flag on facts of one type. An absent source value leaves the flag absent, so that every
    test on it is false, as for any other absent value."""
    if flag.kind == "in":
        values = flag.values
        assert values is not None, "the compiler gives every 'in' flag its values"
        if len(flag.sources) == 1:
            key = flag.sources[0]
            for fact in facts:
                value = fact.get(key)
                if value is not None:
                    fact[flag.key] = value in values
        else:
            for fact in facts:
                fact[flag.key] = False
                for k in flag.sources:
                    if fact.get(k) in values:
                        fact[flag.key] = True
                        break
        return
    pattern, key = regex(flag.regex), flag.sources[0]
    for fact in facts:
        value = fact.get(key)
        if value is not None:
            fact[flag.key] = pattern.fullmatch(value) is not None


