"""ICD-10-CM reference data: the shipped baseline per fiscal year, the reader for the CDC/CMS files
an operator imports, and Excludes1 notes turned into code patterns.

Rows match the tables of scrubber.refdata.store, fiscal year first:
    icd10cm:            (fy, code, billable, description)   code without dot, billable 0/1
    icd10cm_excludes1:  (fy, code, lo, hi, note)             see parse_excludes1

The baseline lives in scrubber/data/icd10cm/ (built by scripts/build-icd10cm, see the SOURCES.md
there): `fy<YEAR>.tsv.gz` (code, billable, description) and `excludes1_fy<YEAR>.tsv.gz`
(code, lo, hi, note), each with one header line.

The published files (https://www.cms.gov/medicare/coding-billing/icd-10-codes, also on the CDC
NCHS site), each accepted as the .txt/.xml or as the .zip it is downloaded in:
- "code descriptions in tabular order": `icd10cm_order_<FY>.txt`, fixed width, no header:
  order number (5), space, code without dot (7, left-justified), space, billable flag
  (1; 0 = header, 1 = valid for submission), space, short description (60), space, long
  description; CRLF line ends.
- "code tables, tabular and index" (optional): `icd10cm_tabular_<FY>.xml`, whose `<excludes1>`
  notes of `<chapter>`, `<section>` and `<diag>` elements are read. A chapter's or section's note
  applies to every category in it and is stored once per category.

No third-party imports: this module runs in the service.
"""
from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from importlib import resources
from pathlib import Path
from typing import IO, Iterable, Iterator, Sequence

from scrubber.refdata.errors import ImportFileError

CodeRow = tuple[int, str, int, str]            # fy, code, billable, description
ExcludesRow = tuple[int, str, str, str, str]   # fy, code, lo, hi, note


# --------------------------------------------------------------------------------------------
# Fiscal years
# --------------------------------------------------------------------------------------------

def fiscal_year(day: dt.date) -> int:
    """The ICD-10-CM fiscal year in force on `day`: FY N runs from Oct 1 of N-1 to Sep 30 of N."""
    return day.year + 1 if day.month >= 10 else day.year


# --------------------------------------------------------------------------------------------
# Excludes1 notes -> code patterns
# --------------------------------------------------------------------------------------------

# A code as written in a note: category (3 characters), optionally a dot and up to 4 more. The
# look-arounds keep words such as "G6PD" or "C3 glomerulopathy" from being read as codes.
_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Z][0-9][0-9A-Z])(?:\.([0-9A-Z]{1,4}))?(?![A-Za-z0-9])")
_QUALIFIER = re.compile(r"\bwith\b", re.IGNORECASE)
_GROUP = re.compile(r"\(([^()]*)\)")
# What may stand between the two ends of a range: dashes (of the range and of "-" wildcards),
# dots and spaces, or the word "to" ("S06.1- to S06.6-"). A comma or other words end an item.
_RANGE_GAP = re.compile(r"[\s.\-]*(?:-|\bto\b)[\s.\-]*")
# "(E08-E13 with .52)", "(E08-E13 with .51-.52)": the named characters after the dot.
_DOT_SUFFIX = re.compile(r"[.\-]*\s*with\s+\.([0-9A-Z]{1,4})(?:\s*-\s*\.([0-9A-Z]{1,4}))?")


def parse_excludes1(note: str) -> list[tuple[str, str]]:
    """The (lo, hi) code patterns an Excludes1 note names; [] when it names no code.

    A pattern covers every code whose first len(lo) characters lie between lo and hi inclusive
    (lo and hi have the same length, dots removed): "(J45.-)" -> ("J45", "J45"),
    "(E08-E13)" -> ("E08", "E13"), "(K52.1)" -> ("K521", "K521"), "(H40.1-H40.2)" ->
    ("H401", "H402"), "(J45.2-, J45.3-)" -> two patterns. A range's ends are cut to the length
    of the shorter ("M43.3-M43.5X9" -> ("M433", "M435")).

    Where the codes are read: inside parentheses when any parenthesised group names a code
    (so "pneumoconiosis with tuberculosis, any type in A15 (J65)" gives J65 only), otherwise
    anywhere in the note ("congenital torticollis Q68.0", "classified in S06.1- to S06.6-").

    Qualifiers: "with .NN" after a range of categories is exact: "(E08-E13 with .52)" gives
    E08.52, E09.52 ... E13.52. Any other qualifier ("(T36-T65 with fifth or sixth character
    1-4 or 6)", "with 7th character B", "C91.0-C95.9 with 5th character 1", "I69. with final
    characters -20", "E08-E10, E11, E13 with ketoacidosis") cannot be written as a prefix
    range: that group of codes is left out, so that a pattern is never broader than its note
    (a false Excludes1 warning on every such claim would teach billers to ignore the edit).
    """
    groups = [g for g in _GROUP.findall(note) if _CODE.search(g)]
    patterns: list[tuple[str, str]] = []
    for text in groups or [note]:
        first = _CODE.search(text)
        if first and _QUALIFIER.search(text, first.end()) and not _DOT_SUFFIX.search(text):
            continue  # a qualifier after the codes: not expressible as a prefix range
        for pattern in _patterns_in(text):
            if pattern not in patterns:
                patterns.append(pattern)
    return patterns


def _patterns_in(text: str) -> Iterator[tuple[str, str]]:
    tokens = [(m.start(), m.end(), m.group(1) + (m.group(2) or "")) for m in _CODE.finditer(text)]
    i = 0
    while i < len(tokens):
        lo, end = tokens[i][2], tokens[i][1]
        hi = lo
        if i + 1 < len(tokens) and _RANGE_GAP.fullmatch(text[end:tokens[i + 1][0]]):
            hi, end = tokens[i + 1][2], tokens[i + 1][1]
            i += 1
        i += 1
        lo, hi = _same_length(lo, hi)
        suffix = _DOT_SUFFIX.match(text, end)
        if suffix and len(lo) == 3:
            yield from _with_suffix(lo, hi, suffix.group(1), suffix.group(2) or suffix.group(1))
        else:
            yield lo, hi


def _same_length(lo: str, hi: str) -> tuple[str, str]:
    n = min(len(lo), len(hi))
    lo, hi = lo[:n], hi[:n]
    return (lo, hi) if lo <= hi else (hi, lo)


def _with_suffix(lo: str, hi: str, first: str, last: str) -> Iterator[tuple[str, str]]:
    """Categories lo..hi (e.g. E08..E13) each followed by the characters first..last."""
    if lo[0] != hi[0] or not (lo[1:].isdigit() and hi[1:].isdigit()):
        yield lo, hi  # not a range of numbered categories: keep it whole (broader)
        return
    for number in range(int(lo[1:]), int(hi[1:]) + 1):
        category = f"{lo[0]}{number:02d}"
        yield _same_length(category + first, category + last)


# --------------------------------------------------------------------------------------------
# Shipped baseline
# --------------------------------------------------------------------------------------------

_BASELINE = ("scrubber.data", "icd10cm")
_BASELINE_NAME = re.compile(r"fy(\d{4})\.tsv\.gz")


def _baseline_dir():  # -> importlib.resources.abc.Traversable
    package, folder = _BASELINE
    return resources.files(package).joinpath(folder)


def baseline_years() -> list[int]:
    """The fiscal years with a shipped code list, ascending."""
    years = []
    for entry in _baseline_dir().iterdir():
        match = _BASELINE_NAME.fullmatch(entry.name)
        if match:
            years.append(int(match.group(1)))
    return sorted(years)


def baseline_paths() -> list[Path]:
    """The shipped files (code lists and Excludes1 patterns), e.g. to fingerprint the baseline."""
    return sorted(Path(str(entry)) for entry in _baseline_dir().iterdir()
                  if entry.name.endswith(".tsv.gz"))


def _read_tsv_gz(name: str) -> Iterator[list[str]]:
    entry = _baseline_dir().joinpath(name)
    if not entry.is_file():
        return
    with entry.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8", newline="\n") as text:
        next(text, None)  # header
        for line in text:
            yield line.rstrip("\n").split("\t")


def load_baseline_rows(fy: int) -> tuple[list[CodeRow], list[ExcludesRow]]:
    """The shipped rows for fiscal year `fy` (both lists empty when none is shipped)."""
    codes = [(fy, code, int(billable), description)
             for code, billable, description in _read_tsv_gz(f"fy{fy}.tsv.gz")]
    excludes = [(fy, code, lo, hi, note)
                for code, lo, hi, note in _read_tsv_gz(f"excludes1_fy{fy}.tsv.gz")]
    return codes, excludes


# --------------------------------------------------------------------------------------------
# Importing the published files
# --------------------------------------------------------------------------------------------

# icd10cm_order_2026.txt, icd10cm-order-2026.txt, icd10cm_order_2026.excerpt.txt, ...
_ORDER_NAME = re.compile(r"icd10cm[_-]order[_-](\d{4})(?:[._-][^/]*)?\.txt", re.IGNORECASE)
_TABULAR_NAME = re.compile(r"icd10cm[_-]tabular[_-](\d{4})(?:[._-][^/]*)?\.xml", re.IGNORECASE)
_ORDER_CODE = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")


def read_for_import(paths: Sequence[str | os.PathLike[str]], fiscal_year: int | None = None
                    ) -> tuple[int, list[CodeRow], list[ExcludesRow]]:
    """Reads one fiscal year's code list from the CDC/CMS order file and, when given, its
    Excludes1 notes from the tabular XML. Each path is the .txt/.xml itself or a .zip holding
    it (a zip may hold both). The fiscal year is `fiscal_year`, else the one in the file names
    (icd10cm_order_2026.txt -> 2026). Without a tabular XML the year's shipped Excludes1
    patterns are kept (none if no baseline is shipped for it). Raises ImportFileError naming
    the file and line."""
    order: list[tuple[str, int, str]] | None = None
    notes: list[tuple[str, str, str, str]] | None = None
    named_years: dict[int, str] = {}
    names = [os.fspath(path) for path in paths]
    for path in names:
        for kind, name, year, stream in _open_members(path):
            with stream:
                if year is not None:
                    named_years.setdefault(year, name)
                if kind == "order":
                    if order is not None:
                        raise ImportFileError(name, None, "a second order file; give one per import")
                    order = read_order_file(stream, name)
                else:
                    notes = (notes or []) + read_tabular_excludes1(stream, name)
    if order is None:
        raise ImportFileError(", ".join(names), None,
                              "no ICD-10-CM order file (icd10cm_order_<year>.txt) among the files")
    if fiscal_year is None:
        if len(named_years) > 1:
            raise ImportFileError(", ".join(names), None,
                                  f"the file names disagree on the fiscal year: {sorted(named_years)}")
        if not named_years:
            raise ImportFileError(", ".join(names), None,
                                  "no fiscal year in the file names (icd10cm_order_<year>.txt): "
                                  "give it explicitly")
        fiscal_year = next(iter(named_years))
    codes = [(fiscal_year, code, billable, description) for code, billable, description in order]
    if notes is None:
        excludes = load_baseline_rows(fiscal_year)[1]
    else:
        excludes = [(fiscal_year, *row) for row in sorted(set(notes))]
    return fiscal_year, codes, excludes


def _open_members(path: str) -> Iterator[tuple[str, str, int | None, IO[bytes]]]:
    """(kind, display name, year named in it, binary stream) for each file to read in `path`:
    the file itself, or the order file and tabular XML inside a zip."""
    name = os.path.basename(path)
    try:
        stream = open(path, "rb")
    except OSError as e:
        raise ImportFileError(name, None, f"cannot read: {e.strerror or e}") from None
    if zipfile.is_zipfile(stream):
        with stream, zipfile.ZipFile(stream) as archive:
            found = False
            for member in sorted(archive.namelist()):
                kind, year = _classify(os.path.basename(member))
                if kind is not None:
                    found = True
                    yield kind, f"{name}:{member}", year, archive.open(member)
            if not found:
                raise ImportFileError(name, None, "the zip holds no icd10cm_order_<year>.txt "
                                                  "and no icd10cm_tabular_<year>.xml")
        return
    kind, year = _classify(name)
    if kind is None:  # not named as published: tell the two apart by their first bytes
        stream.seek(0)
        start = stream.read(256).lstrip(b"\xef\xbb\xbf \t\r\n")
        kind = "tabular" if start.startswith(b"<") else "order"
    stream.seek(0)
    yield kind, name, year, stream


def _classify(name: str) -> tuple[str | None, int | None]:
    for kind, pattern in (("order", _ORDER_NAME), ("tabular", _TABULAR_NAME)):
        match = pattern.fullmatch(name)
        if match:
            return kind, int(match.group(1))
    return None, None


def read_order_file(stream: IO[bytes], name: str) -> list[tuple[str, int, str]]:
    """(code, billable, long description) for each line of an order file, in file order."""
    rows: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    for number, raw in enumerate(stream, start=1):
        line = _decode(raw).rstrip("\r\n")
        if not line.strip():
            continue
        row = _order_line(line, name, number)
        if row[0] in seen:
            raise ImportFileError(name, number, f"code {row[0]} appears twice")
        seen.add(row[0])
        rows.append(row)
    if not rows:
        raise ImportFileError(name, None, "no codes in the file")
    return rows


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _order_line(line: str, name: str, number: int) -> tuple[str, int, str]:
    def bad(reason: str) -> ImportFileError:
        return ImportFileError(name, number, f"{reason} (expected 'NNNNN CODE    F SHORT... LONG')")

    if len(line) < 78:
        raise bad(f"line too short ({len(line)} characters)")
    if not line[:5].isdigit():
        raise bad(f"order number {line[:5]!r} is not 5 digits")
    if line[5] != " " or line[13] != " " or line[15] != " " or line[76] != " ":
        raise bad("fields not at their fixed columns")
    code = line[6:13].rstrip()
    if not _ORDER_CODE.fullmatch(code) or " " in code:
        raise bad(f"code {line[6:13]!r} is not an ICD-10-CM code without dot")
    if line[14] not in "01":
        raise bad(f"billable flag {line[14]!r} is not 0 or 1")
    description = line[77:].strip()
    if not description:
        raise bad("no long description")
    return code, int(line[14]), description


def read_tabular_excludes1(stream: IO[bytes], name: str) -> list[tuple[str, str, str, str]]:
    """(code, lo, hi, note) for each code pattern of each Excludes1 note of a tabular XML.

    A `<diag>`'s notes are stored under its name without dot; a `<section>`'s or `<chapter>`'s
    under each category (3-character `<diag>`) in it. Notes naming no code give no row."""
    try:
        root = ET.parse(stream).getroot()
    except ET.ParseError as e:
        raise ImportFileError(name, e.position[0], f"not well-formed XML: {e}") from None
    if root.tag != "ICD10CM.tabular":
        raise ImportFileError(name, None, f"root element <{root.tag}>, not <ICD10CM.tabular>")
    rows: set[tuple[str, str, str, str]] = set()

    def add(owners: Iterable[str], element: ET.Element) -> None:
        owners = list(owners)
        for note in _excludes1_notes(element):
            for lo, hi in parse_excludes1(note):
                rows.update((owner, lo, hi, note) for owner in owners)

    for chapter in root.iter("chapter"):
        add(_categories(chapter.iterfind("section/diag")), chapter)
        for section in chapter.iterfind("section"):
            add(_categories(section.iterfind("diag")), section)
    for diag in root.iter("diag"):
        code = (diag.findtext("name") or "").strip().replace(".", "")
        if not code:
            raise ImportFileError(name, None, "a <diag> without <name>")
        add([code], diag)
    return sorted(rows)


def _categories(diags: Iterable[ET.Element]) -> Iterator[str]:
    for diag in diags:
        yield (diag.findtext("name") or "").strip().replace(".", "")


def _excludes1_notes(element: ET.Element) -> Iterator[str]:
    for excludes in element.findall("excludes1"):
        for note in excludes.findall("note"):
            text = " ".join("".join(note.itertext()).split())  # tabs/line breaks -> one space
            if text:
                yield text


def write_tsv_gz(path: str, header: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """Writes rows as a reproducible gzip TSV (mtime 0, no file name inside): the shipped
    baseline's format. Used by scripts/build-icd10cm."""
    buffer = io.StringIO()
    buffer.write("\t".join(header) + "\n")
    for row in rows:
        fields = [str(value) for value in row]
        if any("\t" in field or "\n" in field for field in fields):
            raise ValueError(f"tab or line break in a field: {row!r}")
        buffer.write("\t".join(fields) + "\n")
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                  compresslevel=9, mtime=0) as out:
        out.write(buffer.getvalue().encode("utf-8"))
