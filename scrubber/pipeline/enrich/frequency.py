"""Frequency limits: the services of a code group beyond a payer's limit, counted over the claim history."""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from scrubber.contract.claim import Claim
from scrubber.pipeline.enrich.facts import Facts
from scrubber.pipeline.enrich.history import ClaimHistory
from scrubber.ruleset.model import FrequencyLimit, Per


def _rolling_days(per: Per) -> int:
    """The length of a period that is neither the lifetime nor a calendar year: `per.days`."""
    if per.days is None:
        raise TypeError("a frequency limit's period needs days, calendar_year or lifetime")
    return per.days


class FrequencyLimits:
    """An enricher: marks the services beyond a payer's frequency limits, counting the member's
    services of the code group on earlier claims (the claim history) and on this claim."""

    provides = frozenset({"frequency_limit", "frequency_detail"})

    def __init__(self, limits: Sequence[FrequencyLimit], history: ClaimHistory, payer_name: str):
        self.limits = [(limit, frozenset(limit.codes)) for limit in limits]
        self.history = history
        self.payer_name = payer_name

    def enrich(self, claim: Claim, facts: Facts) -> None:
        for limit, codes in self.limits:
            lines = [f for f in facts.lines if f.get("procedure_code") in codes and "service_date" in f]
            if not lines:
                continue
            days = sorted(dt.date.fromordinal(f["service_date"]) for f in lines)
            start = None if limit.per.lifetime else (
                dt.date(days[0].year, 1, 1) if limit.per.calendar_year
                else days[0] - dt.timedelta(days=_rolling_days(limit.per) - 1))
            earlier = self.history.services(claim, codes, start, days[-1])
            seen_here: list[dt.date] = []
            for fact in sorted(lines, key=lambda f: (f["service_date"], f["line_number"])):
                day = dt.date.fromordinal(fact["service_date"])
                counted = [(d, c, cid) for d, c, cid in earlier if self._within(limit, d, day)]
                here = [d for d in seen_here if self._within(limit, d, day)]
                seen_here.append(day)
                total = len(counted) + len(here) + 1
                if total > limit.limit and "frequency_limit" not in fact:
                    fact["frequency_limit"] = limit.id
                    fact["frequency_detail"] = self._detail(limit, total, counted, here)

    @staticmethod
    def _within(limit: FrequencyLimit, earlier: dt.date, day: dt.date) -> bool:
        if earlier > day:
            return False
        if limit.per.lifetime:
            return True
        if limit.per.calendar_year:
            return earlier.year == day.year
        return (day - earlier).days < _rolling_days(limit.per)

    def _detail(self, limit: FrequencyLimit, total: int, counted: list[tuple[dt.date, str, str]],
                here: list[dt.date]) -> str:
        period = ("in the patient's lifetime" if limit.per.lifetime else
                  "in the calendar year" if limit.per.calendar_year else f"within {limit.per.days} days")
        previous = [f"{d.isoformat()} ({c}, claim {cid})" for d, c, cid in counted[-3:]] + \
                   [f"{d.isoformat()} (this claim)" for d in here[-3:]]
        return (f"would be service {total} of '{limit.title}' {period}; {self.payer_name} allows {limit.limit} "
                f"(earlier: {', '.join(previous)})")


