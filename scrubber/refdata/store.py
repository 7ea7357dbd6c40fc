"""Reference data behind one interface: code sets and CMS edit tables, effective-dated.

Everything lives in one SQLite file, `$SCRUBBER_DATA_DIR/reference.sqlite`:

- read-only and memory-mapped by the service, so several worker processes on one machine share
  the operating system's page cache instead of each holding a private copy of 4M NCCI rows;
- opened in well under a second however large it is (nothing is loaded up front); lookups are
  indexed and cached per process in small LRU caches;
- filled by `scrubber data import KIND FILE` (scrubber.refdata.importers) one *dataset* at a time (ICD-10-CM
  by fiscal year, NCCI PTP and MUE by setting, ...), each replaced whole in one transaction, so a
  reader never sees half an import;
- seeded with the baseline shipped in `scrubber/data/` (see its SOURCES.md) for every dataset that
  was never imported; a new release's baseline replaces the old baseline, never an import.

Dates are stored as integers YYYYMMDD (None: open-ended).
"""
from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import fcntl
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar, cast

from scrubber.owner_only import private_directory, private_file
from scrubber.refdata import code_search
from scrubber.refdata.fee_schedule import FeeScheduleEntry, release_order

SCHEMA_VERSION = 3
FILE_NAME = "reference.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS dataset (
    name TEXT PRIMARY KEY,          -- e.g. 'icd10cm:2026', 'ncci-ptp:practitioner', 'hcpcs'
    kind TEXT NOT NULL,             -- importer kind: icd10cm, hcpcs, pos, mce, ncci-ptp, mue, aoc
    source TEXT NOT NULL,           -- 'baseline:<hash>' or 'import'
    files TEXT NOT NULL,            -- the file names it was read from
    rows INTEGER NOT NULL,
    loaded_at TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '' -- e.g. the MUE table's effective date
);
CREATE TABLE IF NOT EXISTS icd10cm (
    fy INTEGER NOT NULL, code TEXT NOT NULL, billable INTEGER NOT NULL, description TEXT NOT NULL,
    PRIMARY KEY (fy, code)) WITHOUT ROWID;
-- An Excludes1 note of `code` (a category or code, without dot; it covers its children too):
-- diagnoses whose first len(lo) characters lie in lo..hi are never coded with it.
CREATE TABLE IF NOT EXISTS icd10cm_excludes1 (
    fy INTEGER NOT NULL, code TEXT NOT NULL, lo TEXT NOT NULL, hi TEXT NOT NULL, note TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS icd10cm_excludes1_code ON icd10cm_excludes1 (fy, code);
CREATE TABLE IF NOT EXISTS hcpcs (
    code TEXT PRIMARY KEY, is_modifier INTEGER NOT NULL, description TEXT NOT NULL,
    add_date INTEGER, effective_date INTEGER, termination_date INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pos (
    code TEXT PRIMARY KEY, description TEXT NOT NULL, effective_date INTEGER, termination_date INTEGER
) WITHOUT ROWID;
-- Medicare Code Editor lists: edit is e.g. Newborn_Only, Pediatric_Only, Maternity, Adult,
-- Female, Male, Manifestation, Unacceptable_Principal (as named in the MCE tables).
CREATE TABLE IF NOT EXISTS mce (
    version INTEGER NOT NULL, edit TEXT NOT NULL, code_type TEXT NOT NULL, code TEXT NOT NULL,
    description TEXT NOT NULL, PRIMARY KEY (version, code_type, code, edit)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ptp (
    setting TEXT NOT NULL, column1 TEXT NOT NULL, column2 TEXT NOT NULL, effective INTEGER NOT NULL,
    deletion INTEGER, modifier_indicator INTEGER NOT NULL, rationale INTEGER NOT NULL,
    PRIMARY KEY (setting, column2, column1, effective)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ptp_rationale (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS mue (
    setting TEXT NOT NULL, code TEXT NOT NULL, value INTEGER NOT NULL, mai INTEGER NOT NULL,
    rationale TEXT NOT NULL, PRIMARY KEY (setting, code)) WITHOUT ROWID;
-- ICD-10-PCS codes valid in a fiscal year (inpatient procedures; codes only, no descriptions).
CREATE TABLE IF NOT EXISTS icd10pcs (fy INTEGER NOT NULL, code TEXT NOT NULL, PRIMARY KEY (fy, code)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aoc (
    addon TEXT NOT NULL, primary_code TEXT NOT NULL, edit_type INTEGER NOT NULL,
    effective INTEGER NOT NULL, deletion INTEGER, PRIMARY KEY (addon, primary_code, effective)
) WITHOUT ROWID;
-- Tests granted waived status under CLIA (CMS/CDC list): code without the QW suffix; effective
-- None = waived before the dates the list gives; needs_qw 0 for the codes billed without QW.
-- A code has one row per test (kit) on the list; identical rows are harmless (no key).
CREATE TABLE IF NOT EXISTS clia_waived (
    code TEXT NOT NULL, effective INTEGER, needs_qw INTEGER NOT NULL, test_name TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS clia_waived_code ON clia_waived (code);
-- CMS Order and Referring file: practitioners eligible to order or refer, per benefit (names not kept).
CREATE TABLE IF NOT EXISTS order_referring (
    npi TEXT PRIMARY KEY, partb INTEGER NOT NULL, dme INTEGER NOT NULL, hha INTEGER NOT NULL,
    pmd INTEGER NOT NULL, hospice INTEGER NOT NULL) WITHOUT ROWID;
-- CMS ASP NDC-HCPCS crosswalk: the 11-digit NDCs (no hyphens) billed under a HCPCS code.
CREATE TABLE IF NOT EXISTS ndc_hcpcs (
    hcpcs TEXT NOT NULL, ndc TEXT NOT NULL, drug_name TEXT NOT NULL, labeler TEXT NOT NULL,
    hcpcs_dosage TEXT NOT NULL, pkg_size TEXT NOT NULL, pkg_qty TEXT NOT NULL, billunits TEXT NOT NULL,
    billunitspkg TEXT NOT NULL, PRIMARY KEY (hcpcs, ndc)) WITHOUT ROWID;
-- The I/OCE's per-code OPPS facts (CPT and HCPCS Level II), one row per code and validity window;
-- flags 0/1; bilateral C (conditional), I (independent), H (inherent) or ''; addon_type 0-3.
CREATE TABLE IF NOT EXISTS hcpcs_opps (
    code TEXT NOT NULL, effective INTEGER NOT NULL, deletion INTEGER, status_indicator TEXT NOT NULL,
    apc TEXT NOT NULL, payment_indicator TEXT NOT NULL, lo_age INTEGER, hi_age INTEGER,
    lab_service INTEGER NOT NULL, telehealth INTEGER NOT NULL, part_b_billable INTEGER NOT NULL,
    not_recognized_mcare INTEGER NOT NULL, not_recognized_opps INTEGER NOT NULL, non_covered INTEGER NOT NULL,
    bilateral TEXT NOT NULL, addon_type INTEGER NOT NULL, separate_procedure INTEGER NOT NULL,
    statutory_exclusion INTEGER NOT NULL, vaccine INTEGER NOT NULL, device_procedure INTEGER NOT NULL,
    PRIMARY KEY (code, effective)) WITHOUT ROWID;
-- The I/OCE's revenue code list (4 digits), one row per code and validity window; flags 0/1 (no descriptions:
-- NUBC's are licensed). status_indicator: the revenue center's OPPS SI (N, F: no HCPCS needed for edit 48).
CREATE TABLE IF NOT EXISTS revenue_code (
    code TEXT NOT NULL, effective INTEGER NOT NULL, deletion INTEGER, status_indicator TEXT NOT NULL,
    not_recognized INTEGER NOT NULL, therapy INTEGER NOT NULL, bypass_e48 INTEGER NOT NULL,
    statutory_exclusion INTEGER NOT NULL, bundled_in_biological INTEGER NOT NULL,
    part_b_billable_inpatient INTEGER NOT NULL, PRIMARY KEY (code, effective)) WITHOUT ROWID;
-- The PFS Relative Value file (PPRRVU), one dataset per quarterly release (scrubber.refdata.fee_schedule):
-- per code and modifier ('' for the code's own row) the status code and payment-policy indicators.
CREATE TABLE IF NOT EXISTS pprrvu (
    release TEXT NOT NULL, code TEXT NOT NULL, modifier TEXT NOT NULL, status TEXT NOT NULL, pctc TEXT NOT NULL,
    global_days TEXT NOT NULL, mult_proc TEXT NOT NULL, bilateral TEXT NOT NULL, assistant TEXT NOT NULL,
    co_surgeon TEXT NOT NULL, team TEXT NOT NULL, endo_base TEXT, imaging_family TEXT,
    PRIMARY KEY (release, code, modifier)) WITHOUT ROWID;
-- Each loaded PPRRVU release's first day; it is in force until the next release's first day.
CREATE TABLE IF NOT EXISTS pprrvu_release (release TEXT PRIMARY KEY, effective_from INTEGER NOT NULL) WITHOUT ROWID;
"""

# Which table rows belong to which dataset (a dataset is replaced whole).
_DATASET_TABLES: dict[str, tuple[tuple[str, str | None], ...]] = {
    # kind: ((table, where-clause on the dataset's scope `?`), ...)
    "icd10cm": (("icd10cm", "fy = ?"), ("icd10cm_excludes1", "fy = ?")),
    "hcpcs": (("hcpcs", None),),
    "pos": (("pos", None),),
    "mce": (("mce", "version = ?"),),
    "ncci-ptp": (("ptp", "setting = ?"),),
    "mue": (("mue", "setting = ?"),),
    "aoc": (("aoc", None),),
    "icd10pcs": (("icd10pcs", "fy = ?"),),
    "clia-waived": (("clia_waived", None),),
    "order-referring": (("order_referring", None),),
    "ndc-hcpcs": (("ndc_hcpcs", None),),
    "hcpcs-opps": (("hcpcs_opps", None),),
    "revenue-codes": (("revenue_code", None),),
    "pprrvu": (("pprrvu", "release = ?"), ("pprrvu_release", "release = ?")),
}
# The kinds `scrubber data import` reads (icd10pcs and hcpcs-opps ship with the baseline only: no importer yet).
KINDS = tuple(kind for kind in _DATASET_TABLES if kind not in ("icd10pcs", "hcpcs-opps", "revenue-codes"))
PTP_SETTINGS = ("practitioner", "hospital")
MUE_SETTINGS = ("practitioner", "hospital", "dme")


def ymd(value: dt.date | None) -> int | None:
    return value.year * 10000 + value.month * 100 + value.day if value is not None else None


def from_ymd(value: int | None) -> dt.date | None:
    return date_of_ymd(value) if value else None


def date_of_ymd(value: int) -> dt.date:
    """The date of a YYYYMMDD integer from a NOT NULL column."""
    return dt.date(value // 10000, value // 100 % 100, value % 100)


def dataset_name(kind: str, scope: str | int | None) -> str:
    return kind if scope is None else f"{kind}:{scope}"


EXCERPT_MARK = ":excerpt"  # ends the source of an imported dataset that is part of a table ("import:excerpt")


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str
    source: str
    files: str
    rows: int
    loaded_at: str
    detail: str

    @property
    def excerpt(self) -> bool:
        """Part of a CMS table, not the whole: a shipped baseline file named *.excerpt.*, or an import
        recorded as one (`scrubber data import --excerpt`, or fewer rows than a whole table has)."""
        if self.source.startswith("baseline"):
            return ".excerpt." in self.files
        return self.source.endswith(EXCERPT_MARK)


def database_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILE_NAME


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """One writer at a time across processes (workers starting together, an import)."""
    private_directory(path.parent)
    private_file(path.with_suffix(".lock"))
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Writer:
    """Replaces datasets in the reference database, each in one transaction."""

    def __init__(self, path: Path):
        self.path = path

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        with file_lock(self.path):
            private_file(self.path)  # its -journal file gets the same mode from SQLite
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                # A rollback journal (not WAL): the service opens the file read-only, which WAL
                # would not allow without write access to its -shm file.
                conn.execute("PRAGMA journal_mode=DELETE")
                conn.executescript(SCHEMA)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                yield conn
            finally:
                conn.close()

    @staticmethod
    def replace(conn: sqlite3.Connection, kind: str, scope: str | int | None, source: str, files: str,
                rows_by_table: dict[str, Iterable[tuple]], detail: str = "", whole_rows: int = 0) -> int:
        """Delete the dataset's rows and insert the new ones, all or nothing. Returns the row
        count of the dataset's main table. Fewer rows than `whole_rows` (what a whole table has at
        least): the dataset is recorded as an excerpt (EXCERPT_MARK ends its source)."""
        name = dataset_name(kind, scope)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, where in _DATASET_TABLES[kind]:
                if where is None:
                    conn.execute(f"DELETE FROM {table}")
                else:
                    conn.execute(f"DELETE FROM {table} WHERE {where}", (scope,))
            counts = {}
            for table, rows in rows_by_table.items():
                before = conn.total_changes
                width = len(_columns(conn, table))
                conn.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * width)})", rows)
                counts[table] = conn.total_changes - before
            main = _DATASET_TABLES[kind][0][0]
            if counts.get(main, 0) < whole_rows and not source.endswith(EXCERPT_MARK):
                source += EXCERPT_MARK
            conn.execute("INSERT OR REPLACE INTO dataset VALUES (?,?,?,?,?,?,?)",
                         (name, kind, source, files, counts.get(main, 0),
                          dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), detail))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return counts.get(main, 0)

    @staticmethod
    def rationale_ids(conn: sqlite3.Connection) -> dict[str, int]:
        return {text: id_ for id_, text in conn.execute("SELECT id, text FROM ptp_rationale")}

    @staticmethod
    def ensure_rationales(conn: sqlite3.Connection, texts: Iterable[str]) -> dict[str, int]:
        """Add the PTP rationale texts not stored yet (the table is shared by every PTP dataset and
        never emptied, so ids stay stable across imports); returns text -> id for all of them."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR IGNORE INTO ptp_rationale (text) VALUES (?)", ((t,) for t in texts))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return Writer.rationale_ids(conn)


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def datasets(conn: sqlite3.Connection) -> list[Dataset]:
    return [Dataset(*row) for row in conn.execute("SELECT * FROM dataset ORDER BY name")]


@dataclass(frozen=True)
class IcdCode:
    fy: int
    code: str  # without dot
    billable: bool
    description: str


@dataclass(frozen=True)
class HcpcsCode:
    code: str
    is_modifier: bool
    description: str
    add_date: dt.date | None
    effective_date: dt.date | None
    termination_date: dt.date | None

    @property
    def start_date(self) -> dt.date | None:
        return self.add_date or self.effective_date

    def status_on(self, day: dt.date | None) -> str:
        """'valid', 'not_yet_effective' or 'terminated' on a date of service. A code may be billed
        from its ADD DT through its TERM DT (CMS HCPCS file); ACT EFF DT is the date of the
        record's latest action (added, changed or discontinued), not the code's start."""
        start = self.start_date
        if day is not None and start is not None and day < start:
            return "not_yet_effective"
        if day is not None and self.termination_date is not None and day > self.termination_date:
            return "terminated"
        return "valid"

    def status_date(self, status: str) -> dt.date | None:
        """The date a status of `status_on` turns on: the last day of a terminated code, the first
        day of one not yet effective (None for a valid code)."""
        if status == "terminated":
            return self.termination_date
        if status == "not_yet_effective":
            return self.start_date
        return None


@dataclass(frozen=True)
class PosCode:
    code: str
    description: str
    effective_date: dt.date | None
    termination_date: dt.date | None


@dataclass(frozen=True)
class PtpEdit:
    setting: str
    column1: str
    column2: str
    effective: dt.date
    deletion: dt.date | None
    modifier_indicator: int
    rationale: str

    def in_force(self, day: dt.date) -> bool:
        """CMS PTP files give the deletion date as the last day an edit applied: deletions made in
        a quarterly release carry the last day of the previous quarter (20231231), and an edit
        deleted retroactively has deletion = effective with indicator 9 (never applies)."""
        return self.effective <= day and (self.deletion is None or day <= self.deletion)


@dataclass(frozen=True)
class MueLimit:
    setting: str
    code: str
    value: int
    mai: int
    rationale: str


@dataclass(frozen=True)
class AddOnEdit:
    addon: str
    primary: str
    edit_type: int
    effective: dt.date
    deletion: dt.date | None

    def in_force(self, day: dt.date) -> bool:
        return self.effective <= day and (self.deletion is None or day <= self.deletion)


@dataclass(frozen=True)
class WaivedTest:
    """A test granted waived status under CLIA (the CMS/CDC list), as it stands on a date."""

    code: str  # CPT/HCPCS code, without the QW suffix
    needs_qw: bool  # billed with modifier QW to be recognized as waived (False: CR 11747's codes)
    effective: dt.date | None  # the earliest in-force listing's date (None: before the list's dates)
    test_name: str  # that listing's test name / manufacturer


@dataclass(frozen=True)
class OrderReferrer:
    """A practitioner on the CMS Order and Referring file, with the benefits it may order or refer for."""

    npi: str
    partb: bool
    dme: bool
    hha: bool
    pmd: bool
    hospice: bool


# OPPS status indicators of drugs and biologicals: G (pass-through), K (non-pass-through, paid separately).
DRUG_STATUS_INDICATORS = frozenset({"G", "K"})


@dataclass(frozen=True)
class HcpcsFacts:
    """The I/OCE's OPPS facts of a CPT/HCPCS code in one validity window (one I/OCE quarter range).

    Derived flags (the I/OCE data has no drug flag, and its lab_service flag is never set in the
    shipped source): `lab` = the I/OCE lab flag, or CPT 80047-89398, or a PLA/MAAA code (NNNNU,
    NNNNM), or a Level II code with status indicator Q4 (conditionally packaged laboratory test);
    `drug` = status indicator G or K, or a HCPCS J code (drugs administered other than orally)."""

    code: str
    effective: dt.date  # the window's first day; 2019-07-01 means "in force at or before 2019Q3"
    deletion: dt.date | None  # the window's last day (None: in force in the newest I/OCE quarter)
    status_indicator: str  # OPPS SI: C inpatient only, B not recognized on an outpatient bill, E1/E2, J1, T, S, N, ...
    apc: str
    payment_indicator: str
    lo_age: int | None
    hi_age: int | None
    lab_service: bool
    telehealth: bool
    part_b_billable: bool
    not_recognized_mcare: bool
    not_recognized_opps: bool
    non_covered: bool
    bilateral: str  # 'C' conditional, 'I' independent, 'H' inherent, '' none
    addon_type: int  # 0: not an add-on code; 1-3: the NCCI add-on edit type
    separate_procedure: bool
    statutory_exclusion: bool
    vaccine: bool
    device_procedure: bool

    @property
    def lab(self) -> bool:
        code = self.code
        return (self.lab_service or ("80047" <= code <= "89398" and code.isdigit())
                or (code[:4].isdigit() and code[4:] in ("U", "M"))
                or (code[:1].isalpha() and self.status_indicator == "Q4"))

    @property
    def drug(self) -> bool:
        return self.status_indicator in DRUG_STATUS_INDICATORS or self.code.startswith("J")

    def in_force(self, day: dt.date) -> bool:
        """In force on `day`; a first window starting 2019-07-01 also covers earlier days."""
        starts = self.effective <= day or self.effective == IOCE_FIRST_DAY
        return starts and (self.deletion is None or day <= self.deletion)


IOCE_FIRST_DAY = dt.date(2019, 7, 1)  # I/OCE 20.2: "in force at or before 2019Q3", not a start date


@dataclass(frozen=True)
class RevenueCode:
    """A revenue code of the I/OCE's list in one validity window (the first window also covers earlier days)."""

    code: str  # 4 digits
    effective: dt.date
    deletion: dt.date | None
    status_indicator: str  # the revenue center's OPPS status indicator
    not_recognized: bool  # not recognized by Medicare (I/OCE edit 65)
    therapy: bool
    bypass_e48: bool  # needs no HCPCS (bypasses I/OCE edit 48)
    statutory_exclusion: bool
    bundled_in_biological: bool
    part_b_billable_inpatient: bool

    def in_force(self, day: dt.date) -> bool:
        starts = self.effective <= day or self.effective == IOCE_FIRST_DAY
        return starts and (self.deletion is None or day <= self.deletion)


_Value = TypeVar("_Value")


class _ThreadConnection(threading.local):
    """One thread's read-only connection (None until the thread first reads)."""

    conn: sqlite3.Connection | None = None


class ReferenceData:
    """Read access to the reference database. Thread-safe: one read-only connection per thread;
    lookups are cached per process (the data only changes by an import, after which the service
    is restarted or reloaded)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no reference database at {self.path}")
        self._local = _ThreadConnection()
        conn = self._conn()
        self.icd10cm_years: tuple[int, ...] = tuple(
            fy for (fy,) in conn.execute("SELECT DISTINCT fy FROM icd10cm ORDER BY fy"))
        self.mce_versions: tuple[int, ...] = tuple(
            v for (v,) in conn.execute("SELECT DISTINCT version FROM mce ORDER BY version"))
        self.icd10pcs_years: tuple[int, ...] = tuple(
            fy for (fy,) in conn.execute("SELECT DISTINCT fy FROM icd10pcs ORDER BY fy"))
        # Datasets loaded from a shipped excerpt: their silence is not a pass.
        loaded = datasets(conn)
        self.excerpts: frozenset[str] = frozenset(d.name for d in loaded if d.excerpt)
        # Datasets loaded whole (imported, or a complete shipped table): their silence is an answer.
        self.complete: frozenset[str] = frozenset(d.name for d in loaded if not d.excerpt and d.rows > 0)
        self.rationales = dict(conn.execute("SELECT id, text FROM ptp_rationale"))
        # PPRRVU releases, oldest first: (first day, release, last day or None for the newest).
        self.fee_schedule_releases: tuple[tuple[dt.date, str, dt.date | None], ...] = _release_spans(
            (release, date_of_ymd(start)) for release, start in conn.execute("SELECT * FROM pprrvu_release"))
        self._release_starts = [start for start, _, _ in self.fee_schedule_releases]
        self._cache: dict[tuple, object] = {}
        self._cache_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn = self._local.conn
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("PRAGMA mmap_size=1073741824")  # pages shared with the other workers
            conn.execute("PRAGMA cache_size=-8000")  # 8 MB of private cache at most
            self._local.conn = conn
        return conn

    def _cached(self, key: tuple, compute: Callable[[], _Value]) -> _Value:
        value = self._cache.get(key, _MISSING)
        if value is not _MISSING:
            return cast(_Value, value)  # what compute() gave for this key
        computed = compute()
        if len(self._cache) > 200_000:  # bounded: a crude reset beats unbounded growth
            with self._cache_lock:
                self._cache.clear()
        self._cache[key] = computed
        return computed

    def datasets(self) -> list[Dataset]:
        return datasets(self._conn())

    # ICD-10-CM ---------------------------------------------------------------------------
    def icd10cm_year_for(self, fy: int) -> int | None:
        """The loaded fiscal year to judge a claim of fiscal year `fy` by: that year, else the
        nearest loaded one (a claim dated after the newest loaded year is judged by the newest)."""
        years = self.icd10cm_years
        if not years:
            return None
        if fy in years:
            return fy
        return min(years, key=lambda y: (abs(y - fy), -y))

    def icd10cm(self, code: str, fy: int) -> IcdCode | None:
        def compute() -> IcdCode | None:
            row = self._conn().execute("SELECT billable, description FROM icd10cm WHERE fy=? AND code=?",
                                       (fy, code)).fetchone()
            return IcdCode(fy, code, bool(row[0]), row[1]) if row else None
        return self._cached(("icd", fy, code), compute)

    def icd10cm_years_of(self, code: str) -> tuple[tuple[int, bool], ...]:
        """Every loaded fiscal year that has the code, with its billable flag that year."""
        return self._cached(("icdy", code), lambda: tuple(
            (fy, bool(b)) for fy, b in self._conn().execute(
                "SELECT fy, billable FROM icd10cm WHERE code=? ORDER BY fy", (code,))))

    def icd10cm_children(self, code: str, fy: int, limit: int = 200) -> tuple[str, ...]:
        """The billable codes under a header code in a fiscal year (without dots)."""
        return self._cached(("icdc", fy, code, limit), lambda: tuple(
            c for (c,) in self._conn().execute(
                "SELECT code FROM icd10cm WHERE fy=? AND code>? AND code<? AND billable=1 ORDER BY code LIMIT ?",
                (fy, code, code + "\uffff", limit))))

    def excludes1(self, code: str, fy: int) -> tuple[tuple[str, str, str, str], ...]:
        """The Excludes1 notes that apply to a code: its own and its ancestors' (a note on a
        category covers every code under it), as (owner, lo, hi, note)."""
        def compute() -> tuple[tuple[str, str, str, str], ...]:
            prefixes = [code[:n] for n in range(3, len(code) + 1)]
            marks = ",".join("?" * len(prefixes))
            return tuple(self._conn().execute(
                f"SELECT code, lo, hi, note FROM icd10cm_excludes1 WHERE fy=? AND code IN ({marks})",
                (fy, *prefixes)))
        return self._cached(("ex1", fy, code), compute)

    # ICD-10-PCS --------------------------------------------------------------------------
    def icd10pcs_year_for(self, fy: int) -> int | None:
        """The loaded fiscal year of ICD-10-PCS to judge a procedure of fiscal year `fy` by (as for ICD-10-CM)."""
        years = self.icd10pcs_years
        if not years:
            return None
        return fy if fy in years else min(years, key=lambda y: (abs(y - fy), -y))

    def icd10pcs(self, code: str, fy: int) -> bool:
        """Whether an ICD-10-PCS code (7 characters) is valid in fiscal year `fy`."""
        return self._cached(("pcs", fy, code), lambda: self._conn().execute(
            "SELECT 1 FROM icd10pcs WHERE fy=? AND code=?", (fy, code)).fetchone() is not None)

    # Medicare Code Editor ----------------------------------------------------------------
    def mce_version_for(self, fy: int) -> int | None:
        """MCE version N is for fiscal year N + 1983 (v37 = FY2020, v44 = FY2027). The version for the
        claim's year, else the newest loaded version before it, else the oldest loaded."""
        if not self.mce_versions:
            return None
        wanted = fy - 1983
        older = [v for v in self.mce_versions if v <= wanted]
        return max(older) if older else min(self.mce_versions)

    def mce_edits(self, code: str, version: int, code_type: str = "D") -> frozenset[str]:
        return self._cached(("mce", version, code_type, code), lambda: frozenset(
            e for (e,) in self._conn().execute(
                "SELECT edit FROM mce WHERE version=? AND code_type=? AND code=?", (version, code_type, code))))

    # HCPCS, modifiers, place of service ---------------------------------------------------
    def hcpcs(self, code: str) -> HcpcsCode | None:
        def compute() -> HcpcsCode | None:
            row = self._conn().execute("SELECT * FROM hcpcs WHERE code=?", (code,)).fetchone()
            if row is None:
                return None
            return HcpcsCode(row[0], bool(row[1]), row[2], from_ymd(row[3]), from_ymd(row[4]), from_ymd(row[5]))
        return self._cached(("hcpcs", code), compute)

    def hcpcs_earliest_termination(self) -> dt.date | None:
        """The earliest termination date of a HCPCS Level II code held (scrubber.refdata.coverage)."""
        return self._cached(("hcpcs-earliest",), lambda: hcpcs_earliest_termination(self._conn()))

    def pos(self, code: str) -> PosCode | None:
        def compute() -> PosCode | None:
            row = self._conn().execute("SELECT * FROM pos WHERE code=?", (code,)).fetchone()
            return PosCode(row[0], row[1], from_ymd(row[2]), from_ymd(row[3])) if row else None
        return self._cached(("pos", code), compute)

    def search_codes(self, system: str, query: str, on: dt.date, limit: int = 20) -> tuple[code_search.CodeMatch, ...]:
        """Codes of `system` valid on `on` whose code starts with `query` or whose description holds every
        word of it (scrubber.refdata.code_search); CodeSearchError for a query that cannot be run."""
        return code_search.search(self._conn(), system, query, on, limit, self.icd10cm_years)

    # NCCI ---------------------------------------------------------------------------------
    def ptp(self, setting: str, column1: str, column2: str) -> tuple[PtpEdit, ...]:
        """Every edit (with its history) where column1 is column one and column2 is column two."""
        def compute() -> tuple[PtpEdit, ...]:
            return tuple(
                PtpEdit(setting, column1, column2, date_of_ymd(eff), from_ymd(dele), ind, self._rationale(rat))
                for eff, dele, ind, rat in self._conn().execute(
                    "SELECT effective, deletion, modifier_indicator, rationale FROM ptp "
                    "WHERE setting=? AND column2=? AND column1=? ORDER BY effective", (setting, column2, column1)))
        return self._cached(("ptp", setting, column1, column2), compute)

    def ptp_column1_codes(self, setting: str, column2: str) -> frozenset[str]:
        """The column-one codes of every edit (in force or not) where column2 is column two: one
        query per code, so that a claim's lines are paired only with codes that have an edit."""
        def compute() -> frozenset[str]:
            return frozenset(c for (c,) in self._conn().execute(
                "SELECT DISTINCT column1 FROM ptp WHERE setting=? AND column2=?", (setting, column2)))
        return self._cached(("ptp_column1", setting, column2), compute)

    def _rationale(self, id_: int) -> str:
        text = self.rationales.get(id_)
        if text is None:
            row = self._conn().execute("SELECT text FROM ptp_rationale WHERE id=?", (id_,)).fetchone()
            text = self.rationales[id_] = row[0] if row else ""
        return text

    def mue(self, setting: str, code: str) -> MueLimit | None:
        def compute() -> MueLimit | None:
            row = self._conn().execute("SELECT value, mai, rationale FROM mue WHERE setting=? AND code=?",
                                       (setting, code)).fetchone()
            return MueLimit(setting, code, *row) if row else None
        return self._cached(("mue", setting, code), compute)

    def add_on(self, code: str) -> tuple[AddOnEdit, ...]:
        """The add-on edits of an add-on code: one per primary code (and period)."""
        return self._cached(("aoc", code), lambda: tuple(
            AddOnEdit(code, p, t, date_of_ymd(e), from_ymd(d)) for p, t, e, d in self._conn().execute(
                "SELECT primary_code, edit_type, effective, deletion FROM aoc WHERE addon=? ORDER BY primary_code",
                (code,))))


    # Claim requirements: CLIA waived tests, ordering/referring eligibility, NDCs, OPPS facts ------
    def is_complete(self, dataset: str) -> bool:
        """Whether a dataset (e.g. 'order-referring', 'ndc-hcpcs', 'clia-waived', 'hcpcs-opps') is
        loaded whole: only then does a code or NPI missing from it mean "not listed"."""
        return dataset in self.complete

    def clia_waived(self, code: str, day: dt.date) -> WaivedTest | None:
        """The code's waived status on a date of service (None: not on the list as loaded, or not
        yet waived on that day). needs_qw is False if any listing in force says the code is billed
        without QW."""
        def compute() -> tuple[tuple[int | None, int, str], ...]:
            return tuple(self._conn().execute(
                "SELECT effective, needs_qw, test_name FROM clia_waived WHERE code=? "
                "ORDER BY coalesce(effective, 0), test_name", (code,)))
        on = day.year * 10000 + day.month * 100 + day.day
        rows = [r for r in self._cached(("clia", code), compute) if r[0] is None or r[0] <= on]
        if not rows:
            return None
        first = rows[0]
        return WaivedTest(code, all(r[1] for r in rows), from_ymd(first[0]), first[2])

    def order_referring(self, npi: str) -> OrderReferrer | None:
        """The NPI's row of the Order and Referring file (None: not on the file as loaded)."""
        def compute() -> OrderReferrer | None:
            row = self._conn().execute("SELECT * FROM order_referring WHERE npi=?", (npi,)).fetchone()
            return OrderReferrer(row[0], *(bool(v) for v in row[1:])) if row else None
        return self._cached(("oandr", npi), compute)

    def ndcs_for_hcpcs(self, hcpcs: str) -> frozenset[str]:
        """The 11-digit NDCs (no hyphens) the ASP crosswalk lists for a HCPCS code (empty: none)."""
        return self._cached(("ndc", hcpcs), lambda: frozenset(
            n for (n,) in self._conn().execute("SELECT ndc FROM ndc_hcpcs WHERE hcpcs=?", (hcpcs,))))

    def hcpcs_facts_history(self, code: str) -> tuple[HcpcsFacts, ...]:
        """Every I/OCE validity window of a code, oldest first."""
        def compute() -> tuple[HcpcsFacts, ...]:
            return tuple(_hcpcs_facts(row) for row in self._conn().execute(
                "SELECT * FROM hcpcs_opps WHERE code=? ORDER BY effective", (code,)))
        return self._cached(("opps", code), compute)

    def hcpcs_facts(self, code: str, day: dt.date) -> HcpcsFacts | None:
        """The OPPS facts of a CPT/HCPCS code on a date (None: not in force that day in the I/OCE as loaded)."""
        for facts in reversed(self.hcpcs_facts_history(code)):
            if facts.in_force(day):
                return facts
        return None

    def revenue_code_history(self, code: str) -> tuple[RevenueCode, ...]:
        """Every I/OCE validity window of a 4-digit revenue code, oldest first (empty: not on the list)."""
        def compute() -> tuple[RevenueCode, ...]:
            return tuple(RevenueCode(c, date_of_ymd(eff), from_ymd(dele), si, *(bool(f) for f in flags))
                         for c, eff, dele, si, *flags in self._conn().execute(
                             "SELECT * FROM revenue_code WHERE code=? ORDER BY effective", (code,)))
        return self._cached(("rev", code), compute)

    def revenue_code(self, code: str, day: dt.date) -> RevenueCode | None:
        """The revenue code's row in force on a date (None: not on the I/OCE list that day, as loaded)."""
        for row in reversed(self.revenue_code_history(code)):
            if row.in_force(day):
                return row
        return None

    # Physician fee schedule (PPRRVU) ---------------------------------------------------------
    def fee_schedule_release(self, on: dt.date) -> str | None:
        """The PPRRVU release `fee_schedule` uses for a date: the one in force that day, the newest
        after the newest release's first day; None before the oldest or when none is loaded."""
        index = bisect.bisect_right(self._release_starts, on) - 1
        return self.fee_schedule_releases[index][1] if index >= 0 else None

    def fee_schedule(self, code: str, on: dt.date, modifier: str = "") -> FeeScheduleEntry | None:
        """The PPRRVU row of a code (and modifier: "" for the code's own row, "26", "TC", "53") in the
        release used for `on` (see fee_schedule_release); None when that release has no such row."""
        index = bisect.bisect_right(self._release_starts, on) - 1
        if index < 0:
            return None
        start, release, end = self.fee_schedule_releases[index]
        code, modifier = code.upper(), modifier.upper()

        def compute() -> FeeScheduleEntry | None:
            row = self._conn().execute(
                "SELECT status, pctc, global_days, mult_proc, bilateral, assistant, co_surgeon, team, endo_base, "
                "imaging_family FROM pprrvu WHERE release=? AND code=? AND modifier=?",
                (release, code, modifier)).fetchone()
            if row is None:
                return None
            status, pctc, global_days, mult_proc, bilateral, assistant, co_surgeon, team, endo_base, family = row
            return FeeScheduleEntry(code, modifier, status, pctc, global_days, mult_proc, bilateral, assistant,
                                    co_surgeon, team, endo_base, family, release, start, end)
        return self._cached(("pfs", release, code, modifier), compute)

    def fee_schedule_modifiers(self, code: str, on: dt.date) -> tuple[str, ...]:
        """The modifier rows (26, TC, 53) the release used for `on` has for a code, sorted."""
        release = self.fee_schedule_release(on)
        if release is None:
            return ()
        return self._cached(("pfsm", release, code.upper()), lambda: tuple(m for (m,) in self._conn().execute(
            "SELECT modifier FROM pprrvu WHERE release=? AND code=? AND modifier<>'' ORDER BY modifier",
            (release, code.upper()))))


def hcpcs_earliest_termination(conn: sqlite3.Connection) -> dt.date | None:
    """The earliest termination date of a HCPCS Level II code (modifiers aside) in the table; None: none ended."""
    (earliest,) = conn.execute("SELECT MIN(termination_date) FROM hcpcs WHERE is_modifier = 0").fetchone()
    return from_ymd(earliest)


def _release_spans(releases: Iterable[tuple[str, dt.date]]) -> tuple[tuple[dt.date, str, dt.date | None], ...]:
    """Releases effective by release: each ends the day before the next one starts."""
    ordered = sorted(releases, key=lambda r: release_order(*r))
    return tuple((start, release, ordered[i + 1][1] - dt.timedelta(days=1) if i + 1 < len(ordered) else None)
                 for i, (release, start) in enumerate(ordered))


def _hcpcs_facts(row: tuple) -> HcpcsFacts:
    (code, effective, deletion, si, apc, pi, lo_age, hi_age, lab, telehealth, part_b, nr_mcare, nr_opps,
     non_covered, bilateral, addon_type, separate, statutory, vaccine, device) = row
    return HcpcsFacts(code, date_of_ymd(effective), from_ymd(deletion), si, apc, pi, lo_age, hi_age, bool(lab),
                      bool(telehealth), bool(part_b), bool(nr_mcare), bool(nr_opps), bool(non_covered), bilateral,
                      addon_type, bool(separate), bool(statutory), bool(vaccine), bool(device))


_MISSING = object()
