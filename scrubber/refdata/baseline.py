"""The shipped baseline: the reference database made ready for use, with the shipped code sets and CMS
tables loaded into every dataset that was never imported (scrubber/data/SOURCES.md says what ships).

Two kinds of shipped file:
- files in a published CMS layout (the practitioner NCCI and MUE excerpts, MCE v37, place of
  service), read by the importers exactly as `scrubber data import` reads them;
- complete tables built by `scripts/build-baseline` (the hospital NCCI PTP table, add-on codes,
  HCPCS by quarter, the I/OCE's OPPS facts per code, MCE v43.1 and v44, ICD-10-PCS, the 2024 PFS
  Relative Value file): gzip TSV files whose columns are those of the table they fill, loaded here
  row for row (see TABLE_FILES; the PPRRVU file holds four releases, one dataset each).

The first start after an install builds the database (about 1.7M rows: tens of seconds, with a
progress line on standard error); later starts find it loaded and take well under a second.
"""
from __future__ import annotations

import gzip
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from scrubber.refdata import icd10cm, importers
from scrubber.refdata.store import (FILE_NAME, SCHEMA_VERSION, ReferenceData, Writer, database_path, dataset_name,
                                    datasets, file_lock)

HOSPITAL_PTP_RATIONALE = "rationale not given in the I/OCE table"


@dataclass(frozen=True)
class TableFile:
    """A shipped gzip TSV built by scripts/build-baseline: one dataset, rows in a table's columns."""

    kind: str
    scope: str | int | None
    name: str  # file name in scrubber/data/baseline/
    table: str
    detail: str  # what `scrubber data status` shows beside the release

    @property
    def path(self) -> Path:
        return importers.BASELINE_DIR / self.name


TABLE_FILES: tuple[TableFile, ...] = (
    TableFile("ncci-ptp", "hospital", "ncci_ptp_hospital_2026q2.tsv.gz", "ptp",
              "2026Q2 (I/OCE 27.1): the complete hospital outpatient table, with its history back to I/OCE 20.2"),
    TableFile("aoc", None, "aoc_2026q2.tsv.gz", "aoc",
              "2026Q2 (I/OCE 27.1): complete, edit types 1-3, with their history back to I/OCE 20.2"),
    TableFile("hcpcs", None, "hcpcs_2026q2.tsv.gz", "hcpcs",
              "2026Q2 (I/OCE 27.1): Level II codes by quarter, merged with the 2022 list and the October 2026 "
              "modifiers"),
    TableFile("mce", 43, "mce_v43_fy2026.tsv.gz", "mce", "v43.1"),
    TableFile("mce", 44, "mce_v44_fy2027.tsv.gz", "mce", "v44"),
    TableFile("icd10pcs", 2026, "icd10pcs_fy2026.tsv.gz", "icd10pcs", "codes of MCE v43.1"),
    TableFile("icd10pcs", 2027, "icd10pcs_fy2027.tsv.gz", "icd10pcs", "codes of MCE v44"),
    TableFile("hcpcs-opps", None, "hcpcs_opps_2026q2.tsv.gz", "hcpcs_opps",
              "2026Q2 (I/OCE 27.1): OPPS facts of every CPT and HCPCS code, with their history back to I/OCE 20.2"),
    TableFile("revenue-codes", None, "revenue_codes_2026q2.tsv.gz", "revenue_code",
              "2026Q2 (I/OCE 27.1): the I/OCE revenue code list with its OPPS flags, back to I/OCE 20.2"),
    # The 2024 PFS Relative Value file: one dataset per release (the detail as importers.release_detail writes it)
    TableFile("pprrvu", "RVU24A", "pprrvu_2024.tsv.gz", "pprrvu", "RVU24A from 2024-01-01"),
    TableFile("pprrvu", "RVU24AR", "pprrvu_2024.tsv.gz", "pprrvu", "RVU24AR from 2024-03-09"),
    TableFile("pprrvu", "RVU24B", "pprrvu_2024.tsv.gz", "pprrvu", "RVU24B from 2024-04-01"),
    TableFile("pprrvu", "RVU24C", "pprrvu_2024.tsv.gz", "pprrvu", "RVU24C from 2024-07-01"),
)


def _integer(value: str) -> int | None:
    return int(value) if value else None


def _row_converter(table_file: TableFile, rationale_id: int) -> Callable[[list[str]], tuple]:
    """Turns the fields of one TSV line into a row of the file's table."""
    if table_file.table == "ptp":
        setting = table_file.scope
        return lambda f: (setting, f[0], f[1], int(f[2]), _integer(f[3]), int(f[4]), rationale_id)
    if table_file.table == "aoc":
        return lambda f: (f[0], f[1], int(f[2]), int(f[3]), _integer(f[4]))
    if table_file.table == "hcpcs":
        return lambda f: (f[0], int(f[1]), f[2], _integer(f[3]), _integer(f[4]), _integer(f[5]))
    if table_file.table == "mce":
        return lambda f: (int(f[0]), f[1], f[2], f[3], f[4])
    if table_file.table == "icd10pcs":
        fy = table_file.scope
        return lambda f: (fy, f[0])
    if table_file.table == "hcpcs_opps":  # code, dates, SI, APC, payment indicator, ages, then integer flags
        return lambda f: (f[0], int(f[1]), _integer(f[2]), f[3], f[4], f[5], _integer(f[6]), _integer(f[7]),
                          *(int(v) for v in f[8:14]), f[14], *(int(v) for v in f[15:]))
    if table_file.table == "revenue_code":  # code, dates, status indicator, then integer flags
        return lambda f: (f[0], int(f[1]), _integer(f[2]), f[3], *(int(v) for v in f[4:]))
    raise ValueError(f"no row converter for table {table_file.table}")


def _rows(path: Path, convert: Callable[[list[str]], tuple]) -> Iterator[tuple]:
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as text:
        next(text, None)  # header
        for line in text:
            yield convert(line.rstrip("\n").split("\t"))


def _tables(table_file: TableFile, rationale_id: int) -> dict[str, Iterable[tuple]]:
    """The rows a shipped TSV gives each table of its dataset."""
    if table_file.table == "pprrvu":  # the rows of one release (columns release, effective_from, code, ...)
        rows = [f for f in _rows(table_file.path, tuple) if f[0] == table_file.scope]
        if not rows:
            raise ValueError(f"{table_file.name} has no row of {table_file.scope}")
        return {"pprrvu": [(*f[:1], *f[2:12], f[12] or None, f[13] or None) for f in rows],
                "pprrvu_release": [(table_file.scope, int(rows[0][1]))]}
    return {table_file.table: _rows(table_file.path, _row_converter(table_file, rationale_id))}


def _baseline_hash(files: list[Path]) -> str:
    digest = hashlib.sha256(f"schema {SCHEMA_VERSION}".encode())
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _progress(message: str) -> None:
    print(f"scrubber: reference data: {message}", file=sys.stderr, flush=True)


def ensure_baseline(data_dir: str | Path) -> Path:
    """Create the reference database if needed and (re)load the shipped baseline into every
    dataset that was never imported. Safe when several workers start at once."""
    path = database_path(data_dir)
    shipped = importers.baseline_files()
    icd_years = icd10cm.baseline_years()
    files = [p for _, p, _ in shipped] + [Path(b) for _, _, o in shipped for b in o.get("base", ())]
    source = "baseline:" + _baseline_hash(files + icd10cm.baseline_paths() + [t.path for t in TABLE_FILES])
    with file_lock(path.with_name(FILE_NAME + ".baseline")):
        writer = Writer(path)
        with writer.connect() as conn:
            current = {d.name: d.source for d in datasets(conn)}

        def stale(name: str) -> bool:
            return current.get(name, "") != source and not current.get(name, "").startswith("import")  # an import stays

        todo = ([("icd10cm", fy) for fy in icd_years if stale(dataset_name("icd10cm", fy))]
                + [(t.kind, t) for t in TABLE_FILES if stale(dataset_name(t.kind, t.scope))]
                + [(kind, (file, options)) for kind, file, options in shipped
                   if stale(dataset_name(kind, options.get("setting") or options.get("version")))])
        if not todo:
            return path
        started = time.monotonic()
        _progress(f"loading the shipped baseline into {path} ({len(todo)} datasets; once per release)")
        done = 0

        def loaded(name: str) -> None:
            nonlocal done
            done += 1
            _progress(f"{done}/{len(todo)} {name} ({time.monotonic() - started:.1f} s)")

        with writer.connect() as conn:
            rationale_id = Writer.ensure_rationales(conn, [HOSPITAL_PTP_RATIONALE])[HOSPITAL_PTP_RATIONALE]
            for kind, what in todo:
                if isinstance(what, int):
                    codes, notes = icd10cm.load_baseline_rows(what)
                    Writer.replace(conn, "icd10cm", what, source, f"scrubber/data/icd10cm (FY{what})",
                                   {"icd10cm": codes, "icd10cm_excludes1": notes})
                    loaded(dataset_name(kind, what))
                elif isinstance(what, TableFile):
                    Writer.replace(conn, kind, what.scope, source, what.name, _tables(what, rationale_id), what.detail)
                    loaded(dataset_name(kind, what.scope))
        for kind, what in todo:  # the importers open the database themselves
            if isinstance(what, tuple):
                file, options = what
                importers.import_files(kind, [str(file)], data_dir, source=source, **options)
                loaded(dataset_name(kind, options.get("setting") or options.get("version")))
        _progress(f"ready in {time.monotonic() - started:.1f} s")
    return path


def open_reference(data_dir: str | Path) -> ReferenceData:
    """The service's reference data: the database in the data directory, with the shipped
    baseline loaded for whatever was not imported."""
    return ReferenceData(ensure_baseline(data_dir))
