"""Importers for the CMS reference files, read in the layouts CMS publishes them.

`scrubber data import KIND FILE...` calls `import_files`, which reads and validates every row of
every file first and only then replaces the dataset in the reference database (scrubber.refdata.store)
in one transaction: a malformed file is refused with `ImportFileError` ("file.txt line 12: ...")
and the database keeps what it had. Importing the same files twice gives the same rows.

One reader per kind, each a generator over the rows of a file, or of the matching members of a
.zip as downloaded from CMS:

| kind       | reader        | table(s)                | dataset              |
|------------|---------------|-------------------------|----------------------|
| `ncci-ptp` | `read_ptp`    | ptp, ptp_rationale      | ncci-ptp:<setting>   |
| `mue`      | `read_mue`    | mue                     | mue:<setting>        |
| `aoc`      | `read_aoc`    | aoc                     | aoc                  |
| `mce`      | `read_mce`    | mce                     | mce:<version>        |
| `hcpcs`    | `read_hcpcs`  | hcpcs                   | hcpcs                |
| `pos`      | `read_pos`    | pos                     | pos                  |
| `icd10cm`  | scrubber.refdata.icd10cm.read_for_import | icd10cm, icd10cm_excludes1 | icd10cm:<fiscal year> |
| `clia-waived` | `read_clia_waived` | clia_waived      | clia-waived          |
| `order-referring` | `read_order_referring` | order_referring | order-referring |
| `ndc-hcpcs` | `read_ndc_hcpcs` | ndc_hcpcs              | ndc-hcpcs            |
| `pprrvu`   | `read_pprrvu` | pprrvu, pprrvu_release  | pprrvu:<release> (one per release) |

Text is decoded as UTF-8 (a byte-order mark is dropped), else as Windows-1252/Latin-1 (the MUE
tables are Latin-1); CRLF, LF and CR line ends are all accepted.
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import importlib
import io
import re
import sqlite3
import zipfile
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Iterator, NamedTuple, Sequence

from scrubber.refdata import fee_schedule as pfs
from scrubber.refdata.errors import DataImportError, ImportFileError
from scrubber.refdata.store import (EXCERPT_MARK, KINDS, MUE_SETTINGS, PTP_SETTINGS, Writer, database_path,
                                    dataset_name)

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
BASELINE_DIR = DATA_DIR / "baseline"




class Where(NamedTuple):
    """Where a row was read: the file (`name.zip:member` inside a zip) and its first line."""

    file: str
    line: int

    def error(self, reason: str) -> ImportFileError:
        return ImportFileError(self.file, self.line, reason)

    def __str__(self) -> str:
        return f"{self.file} line {self.line}"


# ---------------------------------------------------------------------------------------------
# Rows, as the readers yield them (the table's columns, less the dataset's scope, plus `where`)

class PtpRow(NamedTuple):
    column1: str
    column2: str
    effective: int
    deletion: int | None
    modifier_indicator: int
    rationale: str
    where: Where


class MueRow(NamedTuple):
    code: str
    value: int
    mai: int
    rationale: str
    where: Where


class AocRow(NamedTuple):
    addon: str
    primary_code: str
    edit_type: int
    effective: int
    deletion: int | None
    where: Where


class MceRow(NamedTuple):
    version: int
    edit: str
    code_type: str
    code: str
    description: str
    where: Where


class HcpcsRow(NamedTuple):
    code: str
    is_modifier: int
    description: str
    add_date: int | None
    effective_date: int | None
    termination_date: int | None
    where: Where


class PosRow(NamedTuple):
    code: str
    description: str
    effective_date: int | None
    termination_date: int | None
    where: Where


@dataclass
class ImportReport:
    kind: str
    dataset: str
    rows: int
    files: list[str]
    detail: str = ""
    excerpt: bool = False  # recorded as part of the table: its silence is not a pass


# ---------------------------------------------------------------------------------------------
# Files, zips, text

@dataclass(frozen=True)
class _Source:
    name: str
    data: bytes


_SKIPPED_MEMBERS = re.compile(r"readme|layout|^__macosx/", re.IGNORECASE)


def _sources(path: str | Path, suffixes: tuple[str, ...]) -> Iterator[_Source]:
    """The file itself, or the members of a .zip whose names end with one of `suffixes`."""
    path = Path(path)
    try:
        if path.suffix.lower() != ".zip":
            yield _Source(path.name, path.read_bytes())
            return
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()
                       and m.filename.lower().endswith(suffixes) and not _SKIPPED_MEMBERS.search(m.filename)]
            if not members:
                raise ImportFileError(path.name, None, f"the zip holds no {' or '.join(suffixes)} file")
            for member in sorted(members, key=lambda m: m.filename):
                yield _Source(f"{path.name}:{member.filename}", archive.read(member))
    except zipfile.BadZipFile:
        raise ImportFileError(path.name, None, "not a readable zip file") from None
    except OSError as exc:
        raise ImportFileError(path.name, None, f"cannot read: {exc.strerror or exc}") from None


def _text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def _lines(source: _Source) -> Iterator[tuple[Where, str]]:
    """Physical lines (CRLF, LF or CR), numbered from 1, without their line ends."""
    for number, line in enumerate(io.StringIO(_text(source.data), newline=None), 1):
        yield Where(source.name, number), line.rstrip("\n")


def _records(source: _Source, delimiter: str = ",") -> Iterator[tuple[Where, list[str]]]:
    """CSV records (a quoted field may span lines), each with the line it starts on."""
    reader = csv.reader(io.StringIO(_text(source.data), newline=""), delimiter=delimiter)
    start = 1
    for record in reader:
        yield Where(source.name, start), record
        start = reader.line_num + 1


def _blank(fields: Sequence[str]) -> bool:
    return not any(f.strip() for f in fields)


def _columns(fields: list[str], count: int, where: Where, what: str = "columns") -> list[str]:
    """Exactly `count` fields (empty fields after them are tolerated)."""
    if len(fields) < count or not _blank(fields[count:]):
        raise where.error(f"expected {count} {what}, found {len(fields)}")
    return [f.strip() for f in fields[:count]]


def _norm(name: str) -> str:
    """A header name reduced to lower-case letters and digits: 'Add-On_Code' -> 'addoncode'."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


_CODE = re.compile(r"[0-9A-Z]{5}")  # a CPT or HCPCS code


def _code(value: str, what: str, where: Where) -> str:
    if not _CODE.fullmatch(value):
        raise where.error(f"{what} '{value}' is not a 5-character CPT/HCPCS code")
    return value


def _ymd(value: str, what: str, where: Where) -> int:
    """A date written YYYYMMDD, as an int."""
    if re.fullmatch(r"\d{8}", value):
        try:
            dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
            return int(value)
        except ValueError:
            pass
    raise where.error(f"{what} '{value}' is not a date (YYYYMMDD)")


def _any_date(value: str, what: str, where: Where) -> int | None:
    """A date written YYYYMMDD, YYYY-MM-DD or MM/DD/YYYY (blank: None), as an int YYYYMMDD."""
    if not value:
        return None
    try:
        return _ymd(value, what, where)
    except ImportFileError:
        for pattern in ("%Y-%m-%d", "%m/%d/%Y"):
            try:
                date = dt.datetime.strptime(value, pattern).date()
                return date.year * 10000 + date.month * 100 + date.day
            except ValueError:
                pass
        raise where.error(f"{what} '{value}' is not a date (YYYYMMDD, YYYY-MM-DD or MM/DD/YYYY)") from None


def _getter(fields: list[str], index: dict[str, int]) -> Callable[[str], str]:
    """The value of a named column ('' if the file has no such column)."""
    return lambda key: fields[index[key]] if key in index else ""


def _header_index(header: list[str], wanted: dict[str, tuple[str, ...]], required: Iterable[str],
                  where: Where, strip_suffix: str = "") -> dict[str, int]:
    """Column positions by name: `wanted` maps a field to the normalized header names it may have."""
    names = [_norm(h) for h in header]
    if strip_suffix:
        names = [n.removesuffix(strip_suffix) for n in names]
    index = {key: names.index(alias) for key, aliases in wanted.items() for alias in aliases if alias in names}
    missing = [wanted[key][0] for key in required if key not in index]
    if missing:
        raise where.error(f"header has no column {', '.join(missing)} (found: {', '.join(h.strip() for h in header)})")
    return index


# ---------------------------------------------------------------------------------------------
# Readers

def read_ptp(path: str | Path) -> Iterator[PtpRow]:
    """NCCI procedure-to-procedure edits, the tab-delimited TXT CMS publishes per setting and
    quarter (`ccipra-v322r0-f1.TXT` practitioner, `ccioph-v...` outpatient hospital; one setting's
    table is split over files f1..f4). Before the data: an AMA notice line, a title line
    ("Column1/Column2 Edits") and a header wrapped over 4 lines. Then one edit per line, 7 columns:
    Column 1, Column 2, `*` if the edit existed before 1996 (else empty), Effective Date YYYYMMDD,
    Deletion Date YYYYMMDD or `*` (no deletion), Modifier indicator 0 (not allowed), 1 (allowed)
    or 9 (not applicable), PTP Edit Rationale (text). The data starts at the first line holding a
    code or a date; every line from there on must be an edit."""
    for source in _sources(path, (".txt",)):
        started = False
        for where, line in _lines(source):
            fields = line.split("\t")
            if not started and not any(_CODE.fullmatch(f.strip()) or re.fullmatch(r"\d{8}", f.strip())
                                       for f in fields):
                continue  # the notice, title and header lines: no code, no date
            started = True
            if _blank(fields):
                continue
            col1, col2, before_1996, effective, deletion, indicator, rationale = \
                _columns(fields, 7, where, "tab-separated columns")
            if before_1996 not in ("", "*"):
                raise where.error(f"column 3 '{before_1996}' is neither '*' nor empty")
            if indicator not in ("0", "1", "9"):
                raise where.error(f"modifier indicator '{indicator}' is not 0, 1 or 9")
            yield PtpRow(_code(col1, "column 1 code", where), _code(col2, "column 2 code", where),
                         _ymd(effective, "effective date", where),
                         None if deletion == "*" else _ymd(deletion, "deletion date", where),
                         int(indicator), rationale, where)
        if not started:
            raise ImportFileError(source.name, None, "no PTP edits found (expected the tab-separated CMS PTP table)")


def read_mue(path: str | Path) -> Iterator[MueRow]:
    """A Medically Unlikely Edits table as CMS publishes it in CSV
    (`MCR_MUE_PractitionerServices_Eff_07-01-2026.csv`, `..._OutpatientHospitalServices_...`,
    `..._DMESupplierServices_...`), Latin-1: a quoted multi-line AMA notice record, then the header
    record whose first field is "HCPCS/\\nCPT Code" (then "<Setting> MUE Values", "MUE Adjudication
    Indicator", "MUE Rationale"), then one code per record: code, units (integer), the MAI as its
    leading digit 1/2/3 followed by its meaning ("2 Date of Service Edit: Policy"), rationale."""
    for source in _sources(path, (".csv",)):
        header = False
        for where, record in _records(source):
            if _blank(record):
                continue
            if not header:
                if _norm(record[0]).startswith("hcpcs"):
                    header = True
                elif _CODE.fullmatch(record[0].strip()):
                    raise where.error("MUE row before the 'HCPCS/CPT Code' header record")
                continue
            code, value, mai, rationale = _columns(record, 4, where)
            if not re.fullmatch(r"\d+", value):
                raise where.error(f"MUE value '{value}' is not a whole number of units")
            match = re.match(r"([123])(?!\d)", mai)
            if not match:
                raise where.error(f"MUE adjudication indicator '{mai}' does not start with 1, 2 or 3")
            yield MueRow(_code(code, "HCPCS/CPT code", where), int(value), int(match[1]), rationale, where)
        if not header:
            raise ImportFileError(source.name, None, "no 'HCPCS/CPT Code' header record (expected a CMS MUE table)")


_AOC_COLUMNS = {
    "edit_type": ("aocedittype",),
    "addon": ("addoncode",),
    "primary": ("primarycode",),
    "effective": ("aocediteffdt", "aocediteffectivedate"),
    "deletion": ("aoceditdeldt", "aoceditdeletiondate"),
    "addon_deletion": ("aocdeldt", "addoncodedeletiondate", "addoncodedeldt"),
    "primary_deletion": ("primarycodedeldt", "primarycodedeletiondate"),
}


def _aoc_date(value: str, what: str, where: Where) -> int | None:
    """AOC dates are Julian YYYYDDD (2026091 = 2026-04-01); YYYYMMDD and MM/DD/YYYY are accepted
    too. Blank or `*`: None."""
    if value in ("", "*"):
        return None
    if re.fullmatch(r"\d{7}", value):
        year, day = int(value[:4]), int(value[4:])
        if 1 <= day <= (dt.date(year, 12, 31) - dt.date(year, 1, 1)).days + 1:
            date = dt.date(year, 1, 1) + dt.timedelta(days=day - 1)
            return date.year * 10000 + date.month * 100 + date.day
        raise where.error(f"{what} '{value}' is not a date (YYYYDDD: day {day} of {year})")
    return _any_date(value, what, where)


def read_aoc(path: str | Path) -> Iterator[AocRow]:
    """NCCI add-on code edits, "Medicare NCCI Add-on Code Edits" (AOC_V2026Q2-MCR.xlsx) saved as
    CSV or tab-delimited text, read by header names. The published sheet has the AMA notice in its
    first row and the header in the second: AOC_Edit_Type (1, 2, 3), Add-On_Code, AOC_DelDT,
    Primary_Code (`CCCCC`: contractor-defined primaries, type 2), Primary_Code_DelDT,
    AOC_Edit_EffDT, AOC_Edit_DelDT, Special_Instruction_Notes; dates are Julian YYYYDDD. Header
    names spelled out ("Add-on Code", "AOC Edit Effective Date", "Primary Code Deletion Date", ...)
    are accepted too. The fixed-width TXT in the CMS zip is not read (its record layout is in a PDF
    that was not checked): save the Excel sheet as CSV.

    A row's deletion is the earliest of the edit's, the add-on code's and the primary code's
    deletion dates (the pairing ends when either code does)."""
    for source in _sources(path, (".txt", ".csv")):
        delimiter = ","
        for _, line in _lines(source):
            if "addoncode" in _norm(line) and "primarycode" in _norm(line):
                delimiter = "\t" if "\t" in line else ","
                break
        index: dict[str, int] | None = None
        width = 0
        for where, record in _records(source, delimiter):
            if _blank(record):
                continue
            if index is None:
                names = {_norm(f).removesuffix("julian") for f in record}
                if "addoncode" in names and "primarycode" in names:
                    index = _header_index(record, _AOC_COLUMNS, ("edit_type", "addon", "primary", "effective"),
                                          where, strip_suffix="julian")
                    width = len(record)
                    while width and not record[width - 1].strip():
                        width -= 1
                elif _CODE.fullmatch(record[0].strip()) or record[0].strip() in ("1", "2", "3"):
                    raise where.error("AOC row before the header (AOC_Edit_Type, Add-On_Code, Primary_Code, ...)")
                continue
            fields = _columns(record, width, where)
            get = _getter(fields, index)
            edit_type = get("edit_type")
            if edit_type not in ("1", "2", "3"):
                raise where.error(f"AOC edit type '{edit_type}' is not 1, 2 or 3")
            effective = _aoc_date(get("effective"), "AOC edit effective date", where)
            if effective is None:
                raise where.error("AOC edit effective date is missing")
            deletions = [_aoc_date(get("deletion"), "AOC edit deletion date", where),
                         _aoc_date(get("addon_deletion"), "add-on code deletion date", where),
                         _aoc_date(get("primary_deletion"), "primary code deletion date", where)]
            deletion = min((d for d in deletions if d is not None), default=None)
            yield AocRow(_code(get("addon"), "add-on code", where), _code(get("primary"), "primary code", where),
                         int(edit_type), effective, deletion, where)
        if index is None:
            raise ImportFileError(source.name, None, "no header with Add-On_Code and Primary_Code columns "
                                  "(expected the CMS AOC sheet saved as CSV or tab-separated text)")


_MCE_HEADER = ["MCE_Version", "ICD_Version", "MCE_Section", "MCE_Subsection", "MCE_Edit_Type",
               "ICD_Code_Type", "ICD_Code", "ICD_Desc"]


def read_mce(path: str | Path) -> Iterator[MceRow]:
    """Medicare Code Editor edit lists, tab-separated, in the layout of
    MCE_Simple_Code_Edits_v37.txt (CMS MCE tables as tabulated by nlindner/CMS_Issued_Codes_For_SQL):
    header MCE_Version, ICD_Version, MCE_Section, MCE_Subsection, MCE_Edit_Type, ICD_Code_Type
    (D diagnosis, P procedure), ICD_Code (no dot), ICD_Desc. ICD-10 only.

    MCE_Edit_Type values in version 37 (rows): Female_Only (5429), Male_Only (2445),
    Principal_Unacceptable (2406), Maternity_Only (2372), Adult_Only (771),
    Principal_Manifestation (395), Pediatric_Only (114), Noncovered_Always (97),
    Limited_Coverage (50), Newborn_Only (41), Principal_Questionable_Admit (27),
    Wrong_Performed (3), Noncovered_Over60 (2), Noncovered_LOS_96hr (1). Other names are accepted
    as they come (a later version may add edits)."""
    for source in _sources(path, (".txt",)):
        header = False
        for where, line in _lines(source):
            fields = line.split("\t")
            if _blank(fields):
                continue
            if not header:
                if [f.strip() for f in fields] != _MCE_HEADER:
                    raise where.error(f"expected the header {' '.join(_MCE_HEADER)}")
                header = True
                continue
            version, icd_version, _, _, edit, code_type, code, description = \
                _columns(fields, 8, where, "tab-separated columns")
            if not re.fullmatch(r"\d+", version):
                raise where.error(f"MCE version '{version}' is not a number")
            if icd_version != "10":
                raise where.error(f"ICD version '{icd_version}' is not 10 (only ICD-10 edits are read)")
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", edit):
                raise where.error(f"MCE edit type '{edit}' is not a name like Newborn_Only")
            if code_type not in ("D", "P"):
                raise where.error(f"ICD code type '{code_type}' is not D or P")
            if not re.fullmatch(r"[0-9A-Z]{3,7}", code):
                raise where.error(f"ICD code '{code}' is not 3 to 7 letters and digits without a dot")
            yield MceRow(int(version), edit, code_type, code, description, where)
        if not header:
            raise ImportFileError(source.name, None, "empty file (expected the MCE edit list)")


_HCPCS_COLUMNS = {
    "code": ("hcpc", "hcpcs", "code"),
    "recid": ("recid",),
    "long": ("longdescription",),
    "short": ("shortdescription",),
    "add": ("adddt",),
    "effective": ("acteffdt",),
    "termination": ("termdt",),
}


def read_hcpcs(path: str | Path) -> Iterator[HcpcsRow]:
    """HCPCS Level II codes and modifiers, in either of two CSV layouts, read by header names:

    - the CMS alpha-numeric HCPCS file (`HCPC2026_OCT_ANWEB.xlsx` saved as CSV): HCPC, SEQNUM,
      RECID, LONG DESCRIPTION, SHORT DESCRIPTION, ... ADD DT, ACT EFF DT, TERM DT, ACTION CD, with
      dates YYYYMMDD and modifiers left-padded with spaces ("   A1");
    - the older list `hcpcs_level2_2022.csv`: code, seqnum, recid, long_description,
      short_description (no dates: None).

    RECID follows the CMS record layout (HCPC<year>_recordlayout.txt): 3 = first record of a
    procedure code, 4 = its continuation records, 7 = first record of a modifier, 8 = its
    continuation records; a continuation's description is appended to the long description."""
    for source in _sources(path, (".csv",)):
        index: dict[str, int] | None = None
        width = 0
        pending: HcpcsRow | None = None
        seen: set[str] = set()
        for where, record in _records(source):
            if _blank(record):
                continue
            if index is None:
                index = _header_index(record, _HCPCS_COLUMNS, ("code", "recid", "long"), where)
                width = len(record)
                continue
            fields = _columns(record, width, where)
            get = _getter(fields, index)
            code, recid = get("code").upper(), get("recid")
            if recid not in ("3", "4", "7", "8"):
                raise where.error(f"RECID '{recid}' is not 3, 4, 7 or 8")
            modifier = recid in ("7", "8")
            if not re.fullmatch(r"[0-9A-Z]{2}" if modifier else r"[0-9A-Z]{5}", code):
                raise where.error(f"{'modifier' if modifier else 'HCPCS code'} '{code}' is not "
                                  f"{'2' if modifier else '5'} letters and digits")
            if recid in ("4", "8"):
                if pending is None or pending.code != code or bool(pending.is_modifier) != modifier:
                    raise where.error(f"continuation record (RECID {recid}) of {code} does not follow its first record")
                pending = pending._replace(description=f"{pending.description} {get('long')}".strip())
                continue
            if code in seen:
                raise where.error(f"{code} appears twice")
            seen.add(code)
            if pending is not None:
                yield pending
            pending = HcpcsRow(code, int(modifier), get("long") or get("short"),
                               _any_date(get("add"), "add date", where),
                               _any_date(get("effective"), "action effective date", where),
                               _any_date(get("termination"), "termination date", where), where)
        if pending is not None:
            yield pending
        if index is None:
            raise ImportFileError(source.name, None, "empty file (expected the HCPCS list with a header row)")


_POS_COLUMNS = {
    "code": ("code", "poscode", "placeofservicecode"),
    "description": ("description", "name", "placeofservicename", "placeofservicedescription"),
    "effective": ("effectivedate", "effective"),
    "termination": ("terminationdate", "termination"),
}


def read_pos(path: str | Path) -> Iterator[PosRow]:
    """CMS place-of-service codes, CSV with a header: code, description, and optionally
    effective_date and termination_date (YYYYMMDD, YYYY-MM-DD or MM/DD/YYYY; blank: open)."""
    for source in _sources(path, (".csv",)):
        index: dict[str, int] | None = None
        width = 0
        for where, record in _records(source):
            if _blank(record):
                continue
            if index is None:
                index = _header_index(record, _POS_COLUMNS, ("code", "description"), where)
                width = len(record)
                continue
            fields = _columns(record, width, where)
            get = _getter(fields, index)
            code, description = get("code"), get("description")
            if not re.fullmatch(r"\d{2}", code):
                raise where.error(f"place of service '{code}' is not two digits")
            if not description:
                raise where.error(f"place of service {code} has no description")
            yield PosRow(code, description, _any_date(get("effective"), "effective date", where),
                         _any_date(get("termination"), "termination date", where), where)
        if index is None:
            raise ImportFileError(source.name, None, "empty file (expected code,description)")


# ---------------------------------------------------------------------------------------------
# Claim requirements: CLIA waived tests, the Order and Referring file, the ASP NDC-HCPCS crosswalk

class CliaWaivedRow(NamedTuple):
    code: str
    effective: int | None
    needs_qw: int
    test_name: str
    where: Where


class OrderReferringRow(NamedTuple):
    npi: str
    partb: int
    dme: int
    hha: int
    pmd: int
    hospice: int
    where: Where


class NdcHcpcsRow(NamedTuple):
    hcpcs: str
    ndc: str
    drug_name: str
    labeler: str
    hcpcs_dosage: str
    pkg_size: str
    pkg_qty: str
    billunits: str
    billunitspkg: str
    where: Where


def _stream_records(path: str | Path, suffixes: tuple[str, ...]) -> Iterator[tuple[Where, list[str]]]:
    """CSV records of a file, or of the matching members of a .zip, read as a stream (memory stays
    flat for a file of millions of rows). UTF-8 (a byte-order mark is dropped); an undecodable byte
    becomes U+FFFD (the fields this is used for are ASCII)."""
    path = Path(path)
    try:
        if path.suffix.lower() != ".zip":
            with open(path, encoding="utf-8-sig", errors="replace", newline="") as text:
                yield from _numbered(csv.reader(text), path.name)
            return
        with zipfile.ZipFile(path) as archive:
            members = sorted((m for m in archive.infolist() if not m.is_dir() and m.filename.lower().endswith(suffixes)
                              and not _SKIPPED_MEMBERS.search(m.filename)), key=lambda m: m.filename)
            if not members:
                raise ImportFileError(path.name, None, f"the zip holds no {' or '.join(suffixes)} file")
            for member in members:
                with archive.open(member) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace",
                                                                   newline="") as text:
                    yield from _numbered(csv.reader(text), f"{path.name}:{member.filename}")
    except zipfile.BadZipFile:
        raise ImportFileError(path.name, None, "not a readable zip file") from None
    except OSError as exc:
        raise ImportFileError(path.name, None, f"cannot read: {exc.strerror or exc}") from None
    except csv.Error as exc:
        raise ImportFileError(path.name, None, f"not a readable CSV file: {exc}") from None


def _numbered(reader: Any, name: str) -> Iterator[tuple[Where, list[str]]]:
    start = 1
    for record in reader:
        yield Where(name, start), record
        start = reader.line_num + 1


def _find_header(records: Iterable[tuple[Where, list[str]]], is_header: Callable[[set[str]], bool],
                 is_data: Callable[[list[str]], bool], expected: str, name: str
                 ) -> Iterator[tuple[Where, list[str], list[str] | None]]:
    """Skips the title rows above a header; yields (where, record, header) for each data record
    (header None for the header record itself). A data record before any header is an error."""
    header: list[str] | None = None
    for where, record in records:
        if _blank(record):
            continue
        if header is None:
            if is_header({_norm(f) for f in record}):
                header = record
                yield where, record, None
            elif is_data(record):
                raise where.error(f"data row before the header ({expected})")
            continue
        yield where, record, header
    if header is None:
        raise ImportFileError(name, None, f"no header row ({expected})")


# The nine codes CMS CR 11747 (transmittal R10048CP, 2020-07-01) lists as waived without QW.
CLIA_NO_QW_CODES = frozenset({"81002", "81025", "82270", "82272", "82962", "83026", "84830", "85013", "85651"})
_CLIA_COLUMNS = {
    "code": ("cptcode", "cptcodes", "cpt", "code", "hcpcscode", "hcpcs"),
    "effective": ("effectivedate", "effective"),
    "test": ("testname", "testnamemanufacturer", "testnameandmanufacturer", "description", "test"),
    "manufacturer": ("manufacturer",),
}
_CLIA_HEADER = "CPT Code, Effective Date, Test Name"
_CLIA_CODE = re.compile(r"([0-9A-Z]{5})(QW)?")


def _long_date(value: str, what: str, where: Where) -> int | None:
    """A date written 'June 25, 2007' (or 'Jun 25, 2007'), or as `_any_date` reads it; blank: None."""
    for pattern in ("%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y"):
        try:
            date = dt.datetime.strptime(" ".join(value.split()), pattern).date()
            return date.year * 10000 + date.month * 100 + date.day
        except ValueError:
            pass
    try:
        return _any_date(value, what, where)
    except ImportFileError:
        raise where.error(f"{what} '{value}' is not a date (June 25, 2007, MM/DD/YYYY, YYYY-MM-DD "
                          "or YYYYMMDD)") from None


def read_clia_waived(path: str | Path) -> Iterator[CliaWaivedRow]:
    """The CMS/CDC list of tests granted waived status under CLIA, saved as CSV (from the CMS
    change-request attachment or the CDC list), read by header names after any title rows:
    `CPT Code` (also CPT Code(s), CPT, Code, HCPCS Code, HCPCS), `Effective Date` (also Effective),
    `Test Name` (also Test Name/Manufacturer, Description, Test) and optionally `Manufacturer`
    (appended to the test name in parentheses). A code cell may hold several codes ("82465QW,
    83718QW"), each with or without the QW suffix: one row per code. Dates: "June 25, 2007",
    MM/DD/YYYY, YYYY-MM-DD or YYYYMMDD; blank = waived before the dates the list gives.

    needs_qw: a code printed with QW needs it, except the nine codes CR 11747 says are recognized
    as waived without QW (CLIA_NO_QW_CODES); a code printed without QW does not need it (the CMS
    list prints those codes without the suffix)."""
    def is_header(names: set[str]) -> bool:
        return any(a in names for a in _CLIA_COLUMNS["code"]) and any(a in names for a in _CLIA_COLUMNS["test"])

    def is_data(record: list[str]) -> bool:
        return bool(_CLIA_CODE.fullmatch(record[0].strip().upper()))

    for source in _sources(path, (".csv",)):
        index: dict[str, int] = {}
        width = 0
        for where, record, header in _find_header(_records(source), is_header, is_data, _CLIA_HEADER, source.name):
            if header is None:
                index = _header_index(record, _CLIA_COLUMNS, ("code", "effective", "test"), where)
                width = len(record)
                continue
            get = _getter(_columns(record, width, where), index)
            codes = [c for c in re.split(r"[\s,;/]+", get("code").upper()) if c]
            if not codes:
                raise where.error("no CPT code")
            test = get("test")
            if get("manufacturer"):
                test = f"{test} ({get('manufacturer')})" if test else get("manufacturer")
            if not test:
                raise where.error("no test name")
            effective = _long_date(get("effective"), "effective date", where)
            for token in codes:
                match = _CLIA_CODE.fullmatch(token)
                if not match:
                    raise where.error(f"CPT code '{token}' is not a 5-character code with or without QW")
                code = match[1]
                yield CliaWaivedRow(code, effective, int(bool(match[2]) and code not in CLIA_NO_QW_CODES), test, where)


_OR_FLAGS = ("partb", "dme", "hha", "pmd", "hospice")
_OR_COLUMNS: dict[str, tuple[str, ...]] = {"npi": ("npi",), **{flag: (flag,) for flag in _OR_FLAGS}}
_OR_HEADER = "NPI,LAST_NAME,FIRST_NAME,PARTB,DME,HHA,PMD,HOSPICE"


def read_order_referring(path: str | Path) -> Iterator[OrderReferringRow]:
    """The CMS Order and Referring file (PECOS practitioners eligible to order or refer), CSV as
    downloaded from data.cms.gov or zipped: header NPI,LAST_NAME,FIRST_NAME,PARTB,DME,HHA,PMD,HOSPICE
    (read by name; the names are not kept), one practitioner per row, flags Y or N. A full file has
    about 2 million rows: it is streamed, never held in memory."""
    def is_header(names: set[str]) -> bool:
        return "npi" in names and "partb" in names

    def is_data(record: list[str]) -> bool:
        return bool(re.fullmatch(r"\d{10}", record[0].strip()))

    index: dict[str, int] = {}
    width = 0
    for where, record, header in _find_header(_stream_records(path, (".csv",)), is_header, is_data, _OR_HEADER,
                                              Path(path).name):
        if header is None:
            index = _header_index(record, _OR_COLUMNS, ("npi", *_OR_FLAGS), where)
            width = len(record)
            continue
        get = _getter(_columns(record, width, where), index)
        npi = get("npi")
        if not re.fullmatch(r"\d{10}", npi):
            raise where.error(f"NPI '{npi}' is not 10 digits")
        flags = []
        for flag in _OR_FLAGS:
            value = get(flag).upper()
            if value not in ("Y", "N"):
                raise where.error(f"{flag.upper()} '{get(flag)}' is not Y or N")
            flags.append(int(value == "Y"))
        partb, dme, hha, pmd, hospice = flags
        yield OrderReferringRow(npi, partb, dme, hha, pmd, hospice, where)


_NDC_COLUMNS: dict[str, tuple[str, ...]] = {
    "hcpcs": ("hcpcscode",),  # the `_2026_CODE` column, renamed before the lookup
    "ndc": ("ndc2",),
    "drug_name": ("drugname",),
    "labeler": ("labelername",),
    "hcpcs_dosage": ("hcpcsdosage",),
    "pkg_size": ("pkgsize",),
    "pkg_qty": ("pkgqty",),
    "billunits": ("billunits",),
    "billunitspkg": ("billunitspkg",),
}
_NDC_HEADER = "_YYYY_CODE, Short Description, LABELER NAME, NDC2, Drug Name, HCPCS Dosage, PKG SIZE, PKG QTY, " \
              "BILLUNITS, BILLUNITSPKG"
_YEAR_CODE = re.compile(r"\d{4}code")


def read_ndc_hcpcs(path: str | Path) -> Iterator[NdcHcpcsRow]:
    """The CMS ASP NDC-HCPCS crosswalk (quarterly ASP pricing files), CSV or the zip as downloaded:
    title rows, then the header `_YYYY_CODE` (the HCPCS code; the year varies), Short Description,
    LABELER NAME, NDC2 (the NDC, 11 digits hyphenated 5-4-2; 11 plain digits are accepted too), Drug
    Name, HCPCS Dosage, PKG SIZE, PKG QTY, BILLUNITS, BILLUNITSPKG, read by name; one HCPCS-NDC pair
    per row (a pair listed twice is refused). NDCs are stored as 11 digits without hyphens. From a
    zip, only the CSV members named like the crosswalk (NDC or crosswalk in the name) are read."""
    def is_header(names: set[str]) -> bool:
        return "ndc2" in names and any(_YEAR_CODE.fullmatch(n) for n in names)

    def is_data(record: list[str]) -> bool:
        return bool(_CODE.fullmatch(record[0].strip())) and any(
            re.fullmatch(r"\d{5}-\d{4}-\d{2}", f.strip()) for f in record)

    sources = list(_sources(path, (".csv",)))
    crosswalks = [s for s in sources if ":" not in s.name or re.search(r"ndc|crosswalk", s.name.split(":", 1)[1], re.I)]
    if not crosswalks:  # the ASP zip also holds the pricing and NOC files
        raise ImportFileError(Path(path).name, None, "the zip holds no NDC-HCPCS crosswalk CSV "
                              "(a member named like *NDC*HCPCS*.csv or *crosswalk*.csv)")
    for source in crosswalks:
        index: dict[str, int] = {}
        width = 0
        for where, record, header in _find_header(_records(source), is_header, is_data, _NDC_HEADER, source.name):
            if header is None:
                renamed = ["hcpcs code" if _YEAR_CODE.fullmatch(_norm(h)) else h for h in record]
                index = _header_index(renamed, _NDC_COLUMNS, ("hcpcs", "ndc"), where)
                width = len(record)
                continue
            get = _getter(_columns(record, width, where), index)
            ndc = get("ndc")
            if not re.fullmatch(r"\d{5}-\d{4}-\d{2}|\d{11}", ndc):
                raise where.error(f"NDC2 '{ndc}' is not an 11-digit NDC in 5-4-2 form (like 00006-3026-02)")
            yield NdcHcpcsRow(_code(get("hcpcs").upper(), "HCPCS code", where), ndc.replace("-", ""),
                              get("drug_name"), get("labeler"), get("hcpcs_dosage"), get("pkg_size"), get("pkg_qty"),
                              get("billunits"), get("billunitspkg"), where)


# ---------------------------------------------------------------------------------------------
# The PFS Relative Value file (PPRRVU): `scrubber data import pprrvu FILE...` (scrubber.refdata.fee_schedule).
#
# It reads four layouts, told apart by their header (the TXT by its name):
#
# - the CSV CMS publishes (`PPRRVU25_OCT.csv`, inside `RVU25D.zip`): title and notice rows, then a
#   header over several rows whose last one starts `HCPCS,MOD,DESCRIPTION,CODE,...`; the columns are
#   read by position, as the RVU file layout numbers them (their names repeat: "PE RVU", "INDICATOR").
#   Descriptions may be blank (they are never kept: CPT descriptors are AMA content);
# - the fixed-width TXT CMS publishes beside it (`PPRRVU25_OCT.txt`): an `HDR` record, then one record
#   a row, each field at the positions the RVU file layout gives (../shared/data/cms-baseline/policy/
#   RVU25D_layout_and_attachmentA.txt: status at 58, PC/TC at 103, global days at 104-106, ...);
#   read when the file's name ends in .txt. No TXT file as published was at hand: its reader is
#   tested against records written at the layout's positions;
# - the zip as downloaded (`RVU25D.zip`): its `PPRRVU*.csv` members, else (a zip without them) its
#   `PPRRVU*.txt` members; the other files of the zip (GPCI, anesthesia, OPPS cap, locality) are
#   ignored. The Excel sheet is not read;
# - the normalised CSV of the shipped baseline's source (`pprrvu_2024_rvu24a-c.nodesc.csv.gz`, also
#   gzip): named columns `source_file,date_start,date_end,hcpcs,mod,status_code,...`, several releases
#   in one file, each named by `source_file` (`rvu24ar_jan` = RVU24AR) with its first day in `date_start`.
#
# The release of a CMS file is `--release`, else the one its name (or its zip's) gives: RVU25D, or
# PPRRVU25_OCT / PPRRVU2025_Oct (JAN = A, APR = B, JUL = C, OCT = D). Its first day is `--effective`,
# else the quarter's (A = January 1, B = April 1, C = July 1, D = October 1); a correction (RVU24AR)
# needs `--effective`. Each release is one dataset, `pprrvu:<release>`, replaced whole; the others stay.
#
# Every row is validated before anything is written: a 5-character code, a modifier of blank or two
# letters/digits, the status code, PC/TC, global days and every indicator in the values the layout
# defines (scrubber.refdata.fee_schedule), the numbers as numbers, no code and modifier twice in a
# release. A bad row refuses the whole import with its file, line and column; the data loaded before
# stays in force.

class PprrvuRow(NamedTuple):
    """One row of a release, in the columns of the store's pprrvu table, with the release's first day."""

    release: str
    effective_from: dt.date
    code: str
    modifier: str
    status: str
    pctc: str
    global_days: str
    mult_proc: str
    bilateral: str
    assistant: str
    co_surgeon: str
    team: str
    endo_base: str | None
    imaging_family: str | None
    where: Where

    def table_row(self) -> tuple:
        return (self.release, *self[2:14])


class _Column(NamedTuple):
    position: int  # 0-based, in the CMS CSV
    cms_name: str  # as the RVU file layout names it
    normalised: str  # the column's name in the normalised CSV


# The columns read, by position in the CMS CSV (the RVU file layout's order) and by name in the normalised one.
_COLUMNS = {
    "code": _Column(0, "HCPCS", "hcpcs"),
    "modifier": _Column(1, "MOD", "mod"),
    "status": _Column(3, "STATUS CODE", "status_code"),
    "work_rvu": _Column(5, "WORK RVU", "work_rvu"),
    "non_fac_pe_rvu": _Column(6, "NON-FAC PE RVU", "non_fac_pe_rvu"),
    "facility_pe_rvu": _Column(8, "FACILITY PE RVU", "facility_pe_rvu"),
    "mp_rvu": _Column(10, "MP RVU", "mp_rvu"),
    "pctc": _Column(13, "PCTC IND", "pctc_ind"),
    "global_days": _Column(14, "GLOB DAYS", "glob_days"),
    "mult_proc": _Column(18, "MULT PROC", "mult_proc"),
    "bilateral": _Column(19, "BILAT SURG", "bilat_surg"),
    "assistant": _Column(20, "ASST SURG", "asst_surg"),
    "co_surgeon": _Column(21, "CO SURG", "co_surg"),
    "team": _Column(22, "TEAM SURG", "team_surg"),
    "endo_base": _Column(23, "ENDO BASE", "endo_base"),
    "conv_factor": _Column(24, "CONV FACTOR", "conv_factor"),
    "imaging_family": _Column(27, "DIAGNOSTIC IMAGING FAMILY INDICATOR", "diagnostic_imaging_family_indicator"),
}
_CMS_WIDTH = 28  # the CMS CSV has at least the columns through the imaging family indicator
_NUMBERS = ("work_rvu", "non_fac_pe_rvu", "facility_pe_rvu", "mp_rvu", "conv_factor")
_DOMAINS: dict[str, tuple[frozenset[str], str]] = {
    "status": (pfs.STATUS_CODES, "a PFS status code"),
    "pctc": (pfs.PCTC_VALUES, "a PC/TC indicator"),
    "global_days": (pfs.GLOBAL_DAYS, "a global surgery period"),
    "mult_proc": (pfs.MULT_PROC_VALUES, "a multiple procedure indicator"),
    "bilateral": (pfs.BILATERAL_VALUES, "a bilateral surgery indicator"),
    "assistant": (pfs.ASSISTANT_VALUES, "an assistant at surgery indicator"),
    "co_surgeon": (pfs.CO_SURGEON_VALUES, "a co-surgeon indicator"),
    "team": (pfs.TEAM_VALUES, "a team surgery indicator"),
}
_NUMBER = re.compile(r"-?\d*\.?\d+")
_MODIFIER = re.compile(r"[0-9A-Z]{2}")
# The fields read from the fixed-width TXT: 1-based first and last positions, and the RVU file layout's name.
_TXT_FIELDS = {
    "code": (1, 5, "HCPCS Code"), "modifier": (6, 7, "Modifier"), "status": (58, 58, "Status Code"),
    "work_rvu": (60, 65, "Work RVU"), "non_fac_pe_rvu": (67, 72, "Non-Facility Practice Expense RVU"),
    "facility_pe_rvu": (76, 81, "Facility Practice Expense RVU"), "mp_rvu": (85, 89, "Malpractice RVU"),
    "pctc": (103, 103, "PC/TC Indicator"), "global_days": (104, 106, "Global Surgery"),
    "mult_proc": (116, 116, "Multiple Procedure"), "bilateral": (117, 117, "Bilateral Surgery"),
    "assistant": (118, 118, "Assistant at Surgery"), "co_surgeon": (119, 119, "Co-surgeons"),
    "team": (120, 120, "Team Surgery"), "endo_base": (128, 132, "Endoscopic Base Code"),
    "conv_factor": (133, 140, "Conversion Factor"), "imaging_family": (146, 147, "Diagnostic Imaging Family"),
}
_TXT_MIN_WIDTH = 120  # a record reaches at least the team surgery indicator (the fields after it may be blank)
_TXT_WIDTH = 164  # through the facility PE RVU used for OPPS payment
_RVU_NAME = re.compile(r"rvu(\d{2})([a-d])(r\d?)?(?![a-z0-9])")
_PPRRVU_NAME = re.compile(r"pprrvu(?:20)?(\d{2})[_ -]?(jan|apr|jul|oct)")



def release_from_name(name: str) -> str | None:
    """The release a file name gives (RVU25D.zip, PPRRVU25_OCT.csv, PPRRVU2025_Oct.csv, rvu24ar_jan), if any."""
    lowered = Path(name).name.lower()
    if match := _RVU_NAME.search(lowered):
        return f"RVU{match[1]}{match[2].upper()}{(match[3] or '').upper()}"
    if match := _PPRRVU_NAME.search(lowered):
        return f"RVU{match[1]}{pfs.QUARTER_LETTER[match[2].upper()]}"
    return None


def _release_option(release: str) -> str:
    name = release.strip().upper()
    if not pfs.RELEASE.fullmatch(name):
        raise DataImportError(f"--release '{release}' is not a PPRRVU release name (RVU + year + quarter letter, "
                              "like RVU25D, or a correction like RVU24AR)")
    return name


def _cms_release(source: _Source, release: str | None, effective: dt.date | None) -> tuple[str, dt.date]:
    """The release and first day of a file in the CMS layout: the options, else its names."""
    if release is None:
        outer, _, member = source.name.rpartition(":")  # "RVU25D.zip:PPRRVU25_OCT.csv", or a file's name
        release = release_from_name(member) or (release_from_name(outer) if outer else None)
        if release is None:
            raise ImportFileError(source.name, None, "cannot tell the PPRRVU release from the file name "
                                  "(like PPRRVU25_OCT.csv or RVU25D.zip): pass --release RVU25D")
    start = effective or pfs.release_start(release)
    if start is None:
        raise ImportFileError(source.name, None, f"{release} is a correction release, whose first day only "
                              "CMS's notice gives: pass --effective YYYY-MM-DD")
    return release, start



def _pprrvu_sources(path: Path) -> Iterator[_Source]:
    """A CSV or TXT (gzip too), or the PPRRVU*.csv members of a CMS RVU zip (else its PPRRVU*.txt)."""
    if path.suffix.lower() == ".gz":
        try:
            yield _Source(path.name, gzip.decompress(path.read_bytes()))
        except (OSError, EOFError) as exc:
            raise ImportFileError(path.name, None, f"not a readable gzip file ({exc})") from None
        return
    sources = list(_sources(path, (".csv", ".txt")))
    chosen = [s for s in sources if ":" not in s.name or Path(s.name.split(":", 1)[1]).name.lower().startswith("pprrvu")]
    in_csv = [s for s in chosen if ":" not in s.name or not _fixed_width(s.name)]
    if not chosen:
        raise ImportFileError(path.name, None, "the zip holds no PPRRVU*.csv (the RVU file in CSV, as in RVU25D.zip) "
                              "nor PPRRVU*.txt")
    yield from in_csv or chosen


def _fixed_width(name: str) -> bool:
    """A PPRRVU file in the fixed-width TXT layout, by its name (PPRRVU25_OCT.txt, also gzipped)."""
    return name.lower().removesuffix(".gz").endswith(".txt")


def _checked(field: str, value: str, column: str, where: Where) -> str:
    allowed, what = _DOMAINS[field]
    if value not in allowed:
        raise where.error(f"{column}: '{value}' is not {what} ({' '.join(sorted(allowed))})")
    return value


def _row(get: dict[str, str], column: dict[str, str], release: str, start: dt.date, where: Where) -> PprrvuRow:
    """A validated row from a record's fields by name (`column` names each field for messages: "column 4
    (STATUS CODE)", "position 58 (Status Code)")."""
    code = _code(get["code"].upper(), f"{column['code']}: code", where)
    modifier = get["modifier"].upper()
    if modifier and not _MODIFIER.fullmatch(modifier):
        raise where.error(f"{column['modifier']}: modifier '{modifier}' is not blank or two letters/digits")
    for field in _NUMBERS:
        if get[field] and not _NUMBER.fullmatch(get[field]):
            raise where.error(f"{column[field]}: '{get[field]}' is not a number")
    endo = get["endo_base"].upper() or None
    if endo is not None:
        _code(endo, f"{column['endo_base']}: endoscopic base code", where)
    family = get["imaging_family"] or None
    if family is not None and family not in pfs.IMAGING_FAMILIES:
        raise where.error(f"{column['imaging_family']}: '{family}' is not a diagnostic imaging family "
                          "indicator (01-11, 88, 99)")
    status, pctc, global_days, mult_proc, bilateral, assistant, co_surgeon, team = (
        _checked(f, get[f].upper(), column[f], where) for f in
        ("status", "pctc", "global_days", "mult_proc", "bilateral", "assistant", "co_surgeon", "team"))
    return PprrvuRow(release, start, code, modifier, status, pctc, global_days, mult_proc, bilateral, assistant,
                     co_surgeon, team, endo, family, where)


def _read_cms(source: _Source, records: Iterator[tuple[Where, list[str]]], header_width: int,
              release: str, start: dt.date) -> Iterator[PprrvuRow]:
    column = {f: f"column {c.position + 1} ({c.cms_name})" for f, c in _COLUMNS.items()}
    for where, record in records:
        if _blank(record):
            continue
        fields = _columns(record, header_width, where)
        yield _row({f: fields[c.position] for f, c in _COLUMNS.items()}, column, release, start, where)


def _read_txt(source: _Source, release: str, start: dt.date) -> Iterator[PprrvuRow]:
    """The rows of the fixed-width TXT: every record but the HDR one, its fields at the layout's positions."""
    column = {f: f"position {a} ({name})" if a == b else f"positions {a}-{b} ({name})"
              for f, (a, b, name) in _TXT_FIELDS.items()}
    for number, line in enumerate(_text(source.data).split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip() or line.startswith("HDR"):
            continue
        where = Where(source.name, number)
        if "," in line[:8] or len(line.rstrip()) < _TXT_MIN_WIDTH:
            raise where.error(f"a record of {len(line.rstrip())} characters: the fixed-width RVU file layout puts "
                              f"the team surgery indicator at position {_TXT_MIN_WIDTH} (a CSV named .txt?)")
        padded = line.ljust(_TXT_WIDTH)
        yield _row({f: padded[a - 1:b].strip() for f, (a, b, _) in _TXT_FIELDS.items()}, column, release, start,
                   where)


def _read_normalised(source: _Source, records: Iterator[tuple[Where, list[str]]], header: list[str],
                     header_where: Where) -> Iterator[PprrvuRow]:
    names = [h.strip() for h in header]
    wanted = ("source_file", "date_start", *(c.normalised for c in _COLUMNS.values()))
    missing = [n for n in wanted if n not in names]
    if missing:
        raise header_where.error(f"header has no column {', '.join(missing)}")
    index = {n: names.index(n) for n in wanted}
    column = {f: f"column {c.normalised}" for f, c in _COLUMNS.items()}
    starts: dict[str, tuple[dt.date, Where]] = {}
    for where, record in records:
        if _blank(record):
            continue
        fields = _columns(record, len(names), where)
        release = release_from_name(fields[index["source_file"]])
        if release is None:
            raise where.error(f"column source_file: '{fields[index['source_file']]}' names no PPRRVU release "
                              "(like rvu24a_jan)")
        try:
            start = dt.date.fromisoformat(fields[index["date_start"]])
        except ValueError:
            raise where.error(f"column date_start: '{fields[index['date_start']]}' is not a date (YYYY-MM-DD)") from None
        first = starts.setdefault(release, (start, where))
        if first[0] != start:
            raise where.error(f"column date_start: {release} starts on {first[0]} at {first[1]}, here on {start}")
        yield _row({f: fields[index[c.normalised]] for f, c in _COLUMNS.items()}, column, release, start, where)


def read_pprrvu(path: str | Path, release: str | None = None, effective: dt.date | None = None
                ) -> Iterator[PprrvuRow]:
    """The validated rows of a PPRRVU file in any of its four layouts (see the module docstring)."""
    for source in _pprrvu_sources(Path(path)):
        if _fixed_width(source.name):
            yield from _read_txt(source, *_cms_release(source, release, effective))
            continue
        records = _records(source)
        for where, record in records:
            if _blank(record):
                continue
            names = [_norm(f) for f in record]
            if names[:2] == ["hcpcs", "mod"]:  # the last row of the CMS header
                width = len(record)
                while width and not record[width - 1].strip():
                    width -= 1
                if width < _CMS_WIDTH:
                    raise where.error(f"the header has {width} columns, the RVU file layout {_CMS_WIDTH} or more")
                yield from _read_cms(source, records, width, *_cms_release(source, release, effective))
                break
            if "sourcefile" in names and "hcpcs" in names:
                if release is not None or effective is not None:
                    raise DataImportError(f"{source.name} names its releases (source_file, date_start): "
                                          "--release and --effective do not apply")
                yield from _read_normalised(source, records, record, where)
                break
            if re.fullmatch(r"[0-9A-Z]{5}", record[0].strip()):
                raise where.error("data row before the header (HCPCS, MOD, DESCRIPTION, ...)")
        else:
            raise ImportFileError(source.name, None, "no header row (HCPCS, MOD, DESCRIPTION, ... as in the CMS "
                                  "PPRRVU file, or source_file, date_start, ..., hcpcs, mod as normalised)")



def _import_pprrvu(paths: Sequence[str | Path], data_dir: str | Path, *, release: str | None = None,
                  effective: str | dt.date | None = None, source: str = "import", whole_rows: int = 0) -> ImportReport:
    """Read and validate every row of `paths`, then replace each release they hold (dataset
    pprrvu:<release>) in the reference database; the other releases stay. Raises DataImportError
    (ImportFileError: file, line, column, reason) before anything is written."""
    release = _release_option(release) if release is not None else None
    start = dt.date.fromisoformat(_iso(effective, "--effective")) if effective is not None else None
    rows: dict[str, list[PprrvuRow]] = {}
    starts: dict[str, tuple[dt.date, Where]] = {}
    seen: dict[tuple[str, str, str], Where] = {}
    files: dict[str, None] = {}
    for path in paths:
        for row in read_pprrvu(path, release, start):
            files[row.where.file] = None
            key = (row.release, row.code, row.modifier)
            if key in seen:
                raise row.where.error(f"same release, code and modifier as {seen[key]}: "
                                      f"{row.release} {row.code}{' ' + row.modifier if row.modifier else ''}")
            seen[key] = row.where
            first = starts.setdefault(row.release, (row.effective_from, row.where))
            if first[0] != row.effective_from:
                raise row.where.error(f"{row.release} starts on {first[0]} in {first[1].file}, "
                                      f"on {row.effective_from} here")
            rows.setdefault(row.release, []).append(row)
    if not rows:
        raise DataImportError(f"no rows in {', '.join(Path(p).name for p in paths)}")

    ordered = sorted(rows, key=lambda r: pfs.release_order(r, starts[r][0]))
    counts = {}
    with Writer(database_path(data_dir)).connect() as conn:
        for name in ordered:
            release_rows = rows[name]
            release_files = ", ".join(dict.fromkeys(r.where.file for r in release_rows))
            counts[name] = Writer.replace(
                conn, pfs.KIND, name, source, release_files,
                {"pprrvu": (r.table_row() for r in release_rows),
                 "pprrvu_release": [(name, int(starts[name][0].strftime("%Y%m%d")))]},
                release_detail(name, starts[name][0]), whole_rows)
    return ImportReport(pfs.KIND, ", ".join(dataset_name(pfs.KIND, n) for n in ordered), sum(counts.values()),
                        list(files), "; ".join(release_detail(n, starts[n][0]) for n in ordered),
                        source.endswith(EXCERPT_MARK) or any(count < whole_rows for count in counts.values()))


def release_detail(release: str, start: dt.date) -> str:
    """The dataset's detail, which `scrubber data status` shows and scrubber.refdata.freshness reads."""
    return f"{release} from {start.isoformat()}"


READERS: dict[str, Callable[[str | Path], Iterator[NamedTuple]]] = {
    "ncci-ptp": read_ptp, "mue": read_mue, "aoc": read_aoc, "mce": read_mce, "hcpcs": read_hcpcs,
    "pos": read_pos, "clia-waived": read_clia_waived, "order-referring": read_order_referring,
    "ndc-hcpcs": read_ndc_hcpcs,
}


# ---------------------------------------------------------------------------------------------
# Settings and dates from file names

_PTP_NAMES = {"practitioner": r"ccipra|practitioner", "hospital": r"ccioph|hospital"}
_MUE_NAMES = {"practitioner": r"practitioner", "hospital": r"hospital", "dme": r"(?<![a-z])dme"}


def _member_names(path: Path) -> list[str]:
    names = [path.name]
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names += archive.namelist()
    return names


def _setting(kind: str, paths: Sequence[Path], given: str | None) -> str:
    settings = PTP_SETTINGS if kind == "ncci-ptp" else MUE_SETTINGS
    if given is not None:
        if given not in settings:
            raise DataImportError(f"--setting for {kind} is one of {', '.join(settings)}, not '{given}'")
        return given
    patterns = _PTP_NAMES if kind == "ncci-ptp" else _MUE_NAMES
    found: set[str] = set()
    for path in paths:
        text = " ".join(_member_names(path)).lower()
        matched = {s for s, pattern in patterns.items() if re.search(pattern, text)}
        if len(matched) != 1:
            raise ImportFileError(path.name, None, f"cannot tell the {kind} setting from the file name: "
                                  f"pass --setting ({' or '.join(settings)})")
        found |= matched
    if len(found) > 1:
        raise DataImportError(f"the files are for different settings ({', '.join(sorted(found))}): "
                              "import one setting at a time")
    return found.pop()


def _iso(value: str | dt.date, what: str) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    for pattern in ("%Y-%m-%d", "%Y%m%d", "%m-%d-%Y", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(value.strip(), pattern).date().isoformat()
        except ValueError:
            pass
    raise DataImportError(f"{what} '{value}' is not a date (YYYY-MM-DD)")


def _effective_from_names(paths: Sequence[Path]) -> str:
    """The MUE table's effective date from names like MCR_MUE_..._Eff_07-01-2026.csv ('' if none)."""
    found = set()
    for path in paths:
        for name in _member_names(path):
            if match := re.search(r"eff_?(\d{2})-(\d{2})-(\d{4})", name, re.IGNORECASE):
                found.add(_iso(f"{match[3]}-{match[1]}-{match[2]}", "effective date in the file name"))
            elif match := re.search(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)", name):
                found.add(_iso(match[0], "effective date in the file name"))
    if len(found) > 1:
        raise DataImportError(f"the file names give different effective dates ({', '.join(sorted(found))}): "
                              "pass --effective")
    return found.pop() if found else ""


# ---------------------------------------------------------------------------------------------
# import_files

_KEYS: dict[str, Callable[[Any], Hashable]] = {  # each table's primary key, less the scope
    "ncci-ptp": lambda r: (r.column1, r.column2, r.effective),
    "mue": lambda r: r.code,
    "aoc": lambda r: (r.addon, r.primary_code, r.effective),
    "mce": lambda r: (r.edit, r.code_type, r.code),
    "hcpcs": lambda r: r.code,
    "pos": lambda r: r.code,
    "clia-waived": lambda r: (r.code, r.effective, r.test_name),  # no key in the table: never a duplicate
    "order-referring": lambda r: r.npi,
    "ndc-hcpcs": lambda r: (r.hcpcs, r.ndc),
}


def import_files(kind: str, paths: Sequence[str | Path], data_dir: str | Path, *, setting: str | None = None,
                 effective: str | dt.date | None = None, version: int | None = None,
                 source: str = "import", base: Sequence[str | Path] = (), release: str | None = None,
                 excerpt: bool = False, whole_rows: int = 0) -> ImportReport:
    """Read and validate every row of `paths` (files or CMS zips), then replace the dataset in the
    reference database under `data_dir` in one transaction. Raises DataImportError (ImportFileError
    for a bad file: file, line, reason) before anything is written.

    Several files of one kind are one dataset: the union of their rows (CMS splits a PTP table over
    f1..f4). For hcpcs, a code in several files takes its record from the last file that has it
    (list the older code list first, the alpha-numeric file with dates last).

    Options: `setting` (ncci-ptp, mue; else from the file names), `effective` (mue: the table's
    effective date, else from the file name; stored as the dataset's detail; pprrvu: the release's
    first day), `release` (pprrvu: RVU25D, else from the file name), `version` (mce: must
    match the file; icd10cm: the fiscal year), `base` (files read before `paths`, as part of the
    same dataset: the shipped hcpcs baseline is the 2022 list updated by the October 2026 excerpt),
    `excerpt` (the files are part of the table: record the dataset as an excerpt, whose silence is
    not a pass), `whole_rows` (fewer rows than this: recorded as an excerpt too).
    Rows are read twice (validated, then written) rather than held in memory: a full PTP table has
    millions."""
    files_in = [Path(p) for p in (*base, *paths)]
    if kind not in KINDS:
        raise DataImportError(f"unknown kind '{kind}': one of {', '.join(KINDS)}")
    if not files_in:
        raise DataImportError("no files to import")
    if setting is not None and kind not in ("ncci-ptp", "mue"):
        raise DataImportError("--setting applies to ncci-ptp and mue only")
    if effective is not None and kind not in ("mue", "pprrvu"):
        raise DataImportError("--effective applies to mue and pprrvu only")
    if release is not None and kind != "pprrvu":
        raise DataImportError("--release applies to pprrvu only")
    if version is not None and kind not in ("mce", "icd10cm"):
        raise DataImportError("--version applies to mce and icd10cm only")
    if excerpt:
        source += EXCERPT_MARK
    if kind == "icd10cm":
        return _import_icd10cm(files_in, data_dir, version, source, whole_rows)
    if kind == "pprrvu":
        return _import_pprrvu(files_in, data_dir, release=release, effective=effective, source=source,
                              whole_rows=whole_rows)

    read = READERS[kind]
    rows: Callable[[], Iterator[Any]] = lambda: chain.from_iterable(read(p) for p in files_in)  # noqa: E731
    scope: str | int | None = _setting(kind, files_in, setting) if kind in ("ncci-ptp", "mue") else None
    detail = ""
    if kind == "mue":
        detail = _iso(effective, "--effective") if effective is not None else _effective_from_names(files_in)
    elif kind == "ncci-ptp":  # the release, e.g. v322r0
        detail = ", ".join(sorted({m[0] for p in files_in for n in _member_names(p)
                                   for m in re.finditer(r"v\d{3}r\d+", n.lower())}))

    # Pass 1: validate every row; keep only what the write needs.
    files: dict[str, None] = {}
    texts: set[str] = set()
    merged: dict[str, HcpcsRow] = {}
    first: MceRow | None = None
    for row in rows():
        files[row.where.file] = None
        if kind == "ncci-ptp":
            texts.add(row.rationale)
        elif kind == "hcpcs":
            merged[row.code] = row
        elif kind == "mce":
            first = first or row
            if row.version != first.version:
                raise row.where.error(f"MCE version {row.version} differs from version {first.version} "
                                      f"({first.where}): import one version at a time")
    if not files:
        raise DataImportError(f"no rows in {', '.join(p.name for p in files_in)}")
    if first is not None:
        if version is not None and version != first.version:
            raise DataImportError(f"--version {version} does not match the file's MCE version {first.version}")
        scope = first.version

    def tables(conn: sqlite3.Connection) -> dict[str, Iterable[tuple]]:
        if kind == "ncci-ptp":
            ids = Writer.ensure_rationales(conn, sorted(texts))
            return {"ptp": ((scope, r.column1, r.column2, r.effective, r.deletion, r.modifier_indicator,
                             ids[r.rationale]) for r in rows())}
        if kind == "mue":
            return {"mue": ((scope, *r[:-1]) for r in rows())}
        if kind == "hcpcs":
            return {"hcpcs": [r[:-1] for r in merged.values()]}
        # aoc, mce, pos, clia-waived, order-referring, ndc-hcpcs: the table is named like the kind
        return {kind.replace("-", "_"): (r[:-1] for r in rows())}

    # Pass 2: write, all or nothing.
    with Writer(database_path(data_dir)).connect() as conn:
        try:
            count = Writer.replace(conn, kind, scope, source, ", ".join(files), tables(conn), detail, whole_rows)
        except sqlite3.IntegrityError:
            raise _duplicate(rows(), _KEYS[kind]) from None
    return ImportReport(kind, dataset_name(kind, scope), count, list(files), detail,
                        source.endswith(EXCERPT_MARK) or count < whole_rows)


def _duplicate(rows: Iterator[Any], key: Callable[[Any], Hashable]) -> DataImportError:
    """After the database refused a duplicate key: find the two rows (only on that error path)."""
    seen: dict[Hashable, Where] = {}
    for row in rows:
        k = key(row)
        if k in seen:
            return row.where.error(f"same key as {seen[k]}: {k}")
        seen[k] = row.where
    return DataImportError("two rows have the same key")


def _import_icd10cm(paths: list[Path], data_dir: str | Path, fiscal_year: int | None, source: str,
                    whole_rows: int = 0) -> ImportReport:
    """The hook for scrubber/refdata/icd10cm.py: `read_for_import(paths, fiscal_year)` returns
    `(fy, code_rows, excludes_rows)` with rows in the columns of icd10cm and icd10cm_excludes1."""
    try:
        module = importlib.import_module("scrubber.refdata.icd10cm")
        read_for_import = module.read_for_import
    except ModuleNotFoundError as exc:
        if exc.name != "scrubber.refdata.icd10cm":
            raise
        raise DataImportError("importing icd10cm needs scrubber/refdata/icd10cm.py (read_for_import), "
                              "which this installation does not have") from None
    except AttributeError:
        raise DataImportError("scrubber.refdata.icd10cm has no read_for_import(paths, fiscal_year)") from None
    fy, code_rows, excludes_rows = read_for_import(paths, fiscal_year)
    code_rows, excludes_rows = list(code_rows), list(excludes_rows)
    files = [p.name for p in paths]
    with Writer(database_path(data_dir)).connect() as conn:
        count = Writer.replace(conn, "icd10cm", fy, source, ", ".join(files),
                               {"icd10cm": code_rows, "icd10cm_excludes1": excludes_rows},
                               f"{len(excludes_rows)} Excludes1 notes", whole_rows)
    return ImportReport("icd10cm", dataset_name("icd10cm", fy), count, files, f"{len(excludes_rows)} Excludes1 notes",
                        source.endswith(EXCERPT_MARK) or count < whole_rows)


def baseline_files() -> list[tuple[str, Path, dict[str, Any]]]:
    """The reference files shipped in scrubber/data in a published layout (see SOURCES.md there),
    one dataset each, as (kind, path, options): load each with `import_files(kind, [path],
    data_dir, **options, source="baseline:<hash>")`. The complete tables built by
    scripts/build-baseline are loaded by scrubber.refdata.baseline itself."""
    b = BASELINE_DIR
    return [
        ("ncci-ptp", b / "ncci_ptp_practitioner_2026q3.excerpt.txt", {"setting": "practitioner"}),
        ("mue", b / "mue_practitioner_2026-07-01.excerpt.csv", {"setting": "practitioner", "effective": "2026-07-01"}),
        ("mce", b / "MCE_Simple_Code_Edits_v37.txt", {"version": 37}),
        ("pos", DATA_DIR / "place_of_service_2026.csv", {}),
        ("clia-waived", b / "clia_waived.excerpt.csv", {}),
        ("order-referring", b / "order_referring.excerpt.csv", {}),
        ("ndc-hcpcs", b / "ndc_hcpcs.excerpt.csv", {}),
    ]
