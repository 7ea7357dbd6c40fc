"""The Medicare Physician Fee Schedule facts of a code: one row of the PFS Relative Value file (PPRRVU).

CMS publishes the file quarterly as release RVUyyX (X: A = January 1, B = April 1, C = July 1,
D = October 1; a correction is named with an R, e.g. RVU24AR, and starts on the day CMS gives). Per
HCPCS/CPT code and modifier ("" for the code's own row; 26, TC and 53 rows where CMS prices the
components or a discontinued procedure separately) it gives the status code, the PC/TC indicator,
the global surgery days and the payment-policy indicators for modifiers 51, 50, 80/81/82/AS, 62 and
66. The values and their meanings are those of the RVU file layout and its Attachment A (CMS RVU25D
documentation, copied in ../shared/data/cms-baseline/policy/RVU25D_layout_and_attachmentA.txt).

Releases are effective by release: a release is in force from its first day until the next
release's first day (a newer release ends the previous one); a date after the newest loaded release
is judged by the newest. The rows are stored by scrubber.refdata.store (tables pprrvu and
pprrvu_release) and read by `ReferenceData.fee_schedule`; scrubber.refdata.importers reads them (read_pprrvu).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

KIND = "pprrvu"  # the dataset kind: `scrubber data import pprrvu`, datasets pprrvu:<release>


@dataclass(frozen=True)
class FeeScheduleEntry:
    """One row of the PFS Relative Value file (PPRRVU) for a code and modifier, in one release."""

    code: str                   # HCPCS/CPT, upper case
    modifier: str               # "" for the code's own row; "26", "TC", "53" for the modifier rows
    status: str                 # status code A B C D E F G H I J M N P R T X
    pctc: str                   # PC/TC indicator 0-9
    global_days: str            # "000" "010" "090" "MMM" "XXX" "YYY" "ZZZ"
    mult_proc: str              # multiple procedure indicator 0-7, 9
    bilateral: str              # bilateral surgery indicator 0, 1, 2, 3, 9
    assistant: str              # assistant at surgery indicator 0, 1, 2, 9
    co_surgeon: str             # co-surgeon indicator 0, 1, 2, 9
    team: str                   # team surgery indicator 0, 1, 2, 9
    endo_base: str | None       # endoscopic base code (multiple procedure indicator 3)
    imaging_family: str | None  # diagnostic imaging family indicator ("99" = concept does not apply)
    release: str                # e.g. "RVU24C"
    effective_from: dt.date
    effective_to: dt.date | None  # the day before the next loaded release (None: the newest)

    @property
    def status_meaning(self) -> str:
        return STATUS_MEANINGS[self.status]


# Attachment A: what each status code means (shortened; the CMS wording in the module docstring's file).
STATUS_MEANINGS: dict[str, str] = {
    "A": "active code: paid separately under the physician fee schedule, if covered",
    "B": "bundled code: payment is always bundled into payment for other services, never paid separately",
    "C": "carrier (contractor) priced: the A/B MAC establishes RVUs and payment, usually case by case",
    "D": "deleted code",
    "E": "excluded from the physician fee schedule by regulation: when covered, paid under other provisions",
    "F": "deleted or discontinued code (no 90-day grace period)",
    "G": "not valid for Medicare purposes: Medicare uses another code (90-day grace period)",
    "H": "deleted modifier: the TC or 26 component shown for the code has been deleted",
    "I": "not valid for Medicare purposes: Medicare uses another code for reporting and payment",
    "J": "anesthesia service: no RVUs and no payment amounts under the physician fee schedule",
    "M": "measurement code: used for reporting purposes only",
    "N": "non-covered service: not covered by Medicare",
    "P": "bundled or excluded: no separate payment under the fee schedule (bundled into the physician "
         "service it is incident to, or paid under another provision)",
    "R": "restricted coverage: special coverage instructions apply; if covered, contractor priced",
    "T": "injection: paid only if no other physician fee schedule service is billed the same day by the "
         "same provider",
    "X": "statutory exclusion: not a physician service for fee schedule payment (e.g. ambulance, clinical "
         "laboratory services, paid on their own schedules)",
}

# The values each indicator may take (RVU file layout); a file with another value is refused.
STATUS_CODES = frozenset(STATUS_MEANINGS)
PCTC_VALUES = frozenset("0123456789")
GLOBAL_DAYS = frozenset(("000", "010", "090", "MMM", "XXX", "YYY", "ZZZ"))
MULT_PROC_VALUES = frozenset("012345679")
BILATERAL_VALUES = frozenset("01239")
ASSISTANT_VALUES = frozenset("0129")
CO_SURGEON_VALUES = frozenset("0129")
TEAM_VALUES = frozenset("0129")
IMAGING_FAMILIES = frozenset([f"{n:02d}" for n in range(1, 12)] + ["88", "99"])

# Release names: RVU + 2-digit year + quarter letter, with R (and a digit) for a correction.
RELEASE = re.compile(r"RVU(\d{2})([A-D])(R\d?)?")
QUARTER_START_MONTH = {"A": 1, "B": 4, "C": 7, "D": 10}
QUARTER_LETTER = {"JAN": "A", "APR": "B", "JUL": "C", "OCT": "D"}


def release_start(release: str) -> dt.date | None:
    """The first day of a quarterly release (RVU25D: 2025-10-01); None for a correction (RVU24AR),
    whose first day only CMS's notice gives."""
    match = RELEASE.fullmatch(release)
    if match is None or match[3]:
        return None
    return dt.date(2000 + int(match[1]), QUARTER_START_MONTH[match[2]], 1)


def release_order(release: str, effective_from: dt.date) -> tuple[dt.date, str]:
    """How releases sort: by first day, then by name (a correction starting the same day as its
    release, RVU24AR after RVU24A, wins)."""
    return effective_from, release
