"""The shipped baseline: the reference database made ready for use, with the shipped code sets and CMS
tables loaded into every dataset that was never imported (scrubber/data/SOURCES.md says what ships)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from scrubber.refdata import icd10cm, importers
from scrubber.refdata.store import (FILE_NAME, SCHEMA_VERSION, ReferenceData, Writer, file_lock, database_path,
                                    dataset_name, datasets)


def _baseline_hash(files: list[Path]) -> str:
    digest = hashlib.sha256(f"schema {SCHEMA_VERSION}".encode())
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_baseline(data_dir: str | Path) -> Path:
    """Create the reference database if needed and (re)load the shipped baseline into every
    dataset that was never imported. Safe when several workers start at once."""
    path = database_path(data_dir)
    shipped = importers.baseline_files()
    icd_years = icd10cm.baseline_years()
    files = [p for _, p, _ in shipped] + [Path(b) for _, _, o in shipped for b in o.get("base", ())]
    source = "baseline:" + _baseline_hash(files + icd10cm.baseline_paths())
    with file_lock(path.with_name(FILE_NAME + ".baseline")):
        writer = Writer(path)
        with writer.connect() as conn:
            current = {d.name: d.source for d in datasets(conn)}

        def stale(name: str) -> bool:
            return current.get(name, "") != source and current.get(name) != "import"

        with writer.connect() as conn:
            for fy in icd_years:
                if stale(dataset_name("icd10cm", fy)):
                    codes, notes = icd10cm.load_baseline_rows(fy)
                    Writer.replace(conn, "icd10cm", fy, source, f"scrubber/data/icd10cm (FY{fy})",
                                   {"icd10cm": codes, "icd10cm_excludes1": notes})
        for kind, file, options in shipped:
            scope = options.get("setting") or options.get("version")
            if stale(dataset_name(kind, scope)):
                importers.import_files(kind, [str(file)], data_dir, source=source, **options)
    return path


def open_reference(data_dir: str | Path) -> ReferenceData:
    """The service's reference data: the database in the data directory, with the shipped
    baseline loaded for whatever was not imported."""
    return ReferenceData(ensure_baseline(data_dir))
