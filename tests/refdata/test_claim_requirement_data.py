"""The reference data behind the claim-requirement edits (issue 13): the CLIA waived-tests list, the CMS Order
and Referring file and the ASP NDC-HCPCS crosswalk (importers, shipped excerpts, look-ups), and the I/OCE's
per-code OPPS facts (the shipped `hcpcs-opps` table)."""
from __future__ import annotations

import datetime as dt
import sqlite3
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from scrubber.cli import main
from scrubber.refdata.importers import (BASELINE_DIR, ImportFileError, import_files, read_clia_waived,
                                        read_ndc_hcpcs, read_order_referring)
from scrubber.refdata.store import OrderReferrer, ReferenceData, WaivedTest, database_path

D = dt.date


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rows_of(data_dir: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(database_path(data_dir))
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# --- CLIA waived tests -------------------------------------------------------------------------

CLIA = (
    "Tests granted waived status under CLIA\n"                                 # 1: a title row, skipped
    "CPT Code,Effective Date,Test Name,Manufacturer\n"                         # 2
    '"82465QW, 82947QW",09/21/2007,CardioChek PA Analyzer,Polymer Technology Systems\n'  # 3: two codes
    '87880QW,"June 25, 2007",Select Diagnostics Strep A Dipstick,\n'           # 4
    "81002QW,2020-07-01,Urine dipstick,Any\n"                                  # 5: a CR 11747 code, printed with QW
    "85651,,Sedimentation rate,\n"                                             # 6: printed without QW, undated
)


def test_clia_rows_exact_codes_split_and_qw_decided(tmp_path):
    rows = [r[:-1] for r in read_clia_waived(write(tmp_path / "clia.csv", CLIA))]
    assert rows == [
        ("82465", 20070921, 1, "CardioChek PA Analyzer (Polymer Technology Systems)"),
        ("82947", 20070921, 1, "CardioChek PA Analyzer (Polymer Technology Systems)"),
        ("87880", 20070625, 1, "Select Diagnostics Strep A Dipstick"),
        ("81002", 20200701, 0, "Urine dipstick (Any)"),
        ("85651", None, 0, "Sedimentation rate"),
    ]
    assert [r.where.line for r in read_clia_waived(tmp_path / "clia.csv")] == [3, 3, 4, 5, 6]


@pytest.mark.parametrize("row, message", [
    ("8794QW,2007-06-25,Strep test", "clia.csv line 3: CPT code '8794QW' is not a 5-character code with or without QW"),
    ("87880QW,25/06/2007,Strep test", "clia.csv line 3: effective date '25/06/2007' is not a date (June 25, 2007, "
                                      "MM/DD/YYYY, YYYY-MM-DD or YYYYMMDD)"),
    ("87880QW,2007-06-25,", "clia.csv line 3: no test name"),
    (",2007-06-25,Strep test", "clia.csv line 3: no CPT code"),
    ("87880QW,2007-06-25,Strep test,extra", "clia.csv line 3: expected 3 columns, found 4"),
])
def test_clia_bad_rows_are_named_and_the_previous_list_kept(tmp_path, row, message):
    data = tmp_path / "var"
    import_files("clia-waived", [write(tmp_path / "good.csv", CLIA)], data)
    bad = write(tmp_path / "clia.csv", f"CPT Code,Effective Date,Test Name\n86308QW,07/12/2007,Mono\n{row}\n")
    with pytest.raises(ImportFileError) as error:
        import_files("clia-waived", [bad], data)
    assert str(error.value) == message
    assert rows_of(data, "SELECT count(*) FROM clia_waived") == [(5,)]
    assert rows_of(data, "SELECT files FROM dataset WHERE name='clia-waived'") == [("good.csv",)]


def test_clia_header_problems(tmp_path):
    with pytest.raises(ImportFileError) as error:
        list(read_clia_waived(write(tmp_path / "a.csv", "87880QW,2007-06-25,Strep\n")))
    assert str(error.value) == "a.csv line 1: data row before the header (CPT Code, Effective Date, Test Name)"
    with pytest.raises(ImportFileError) as error:
        list(read_clia_waived(write(tmp_path / "b.csv", "CPT Code,Test Name\n87880QW,Strep\n")))
    assert str(error.value) == "b.csv line 1: header has no column effectivedate (found: CPT Code, Test Name)"
    with pytest.raises(ImportFileError) as error:
        list(read_clia_waived(write(tmp_path / "c.csv", "a title only\n")))
    assert str(error.value) == "c.csv: no header row (CPT Code, Effective Date, Test Name)"


def test_clia_lookup_by_date_of_service(tmp_path):
    data = tmp_path / "var"
    assert import_files("clia-waived", [write(tmp_path / "clia.csv", CLIA)], data).rows == 5
    ref = ReferenceData(database_path(data))
    assert ref.clia_waived("82947", D(2007, 9, 21)) == WaivedTest(
        "82947", True, D(2007, 9, 21), "CardioChek PA Analyzer (Polymer Technology Systems)")
    assert ref.clia_waived("82947", D(2007, 9, 20)) is None  # not yet waived
    assert ref.clia_waived("85651", D(1990, 1, 1)) == WaivedTest("85651", False, None, "Sedimentation rate")
    assert ref.clia_waived("80053", D(2026, 5, 1)) is None
    assert ref.is_complete("clia-waived") and "clia-waived" not in ref.excerpts


def test_clia_code_listed_with_and_without_qw_needs_none(tmp_path):
    text = "CPT Code,Effective Date,Test Name\n87880QW,2007-06-25,Kit A\n87880,2010-01-01,Kit B\n"
    data = tmp_path / "var"
    import_files("clia-waived", [write(tmp_path / "clia.csv", text)], data)
    ref = ReferenceData(database_path(data))
    assert ref.clia_waived("87880", D(2008, 1, 1)) == WaivedTest("87880", True, D(2007, 6, 25), "Kit A")
    assert ref.clia_waived("87880", D(2010, 1, 1)) == WaivedTest("87880", False, D(2007, 6, 25), "Kit A")


# --- Order and Referring -----------------------------------------------------------------------

OR_FILE = ("NPI,LAST_NAME,FIRST_NAME,PARTB,DME,HHA,PMD,HOSPICE\n"
           "1234567893,SMITH,JANE,Y,N,Y,N,N\n"
           "1000000004,DOE,JOHN,n,y,n,y,y\n")


def test_order_referring_rows_exact_and_lookup(tmp_path):
    path = write(tmp_path / "or.csv", OR_FILE)
    assert [r[:-1] for r in read_order_referring(path)] == [
        ("1234567893", 1, 0, 1, 0, 0), ("1000000004", 0, 1, 0, 1, 1)]
    data = tmp_path / "var"
    report = import_files("order-referring", [path], data)
    assert (report.dataset, report.rows, report.files) == ("order-referring", 2, ["or.csv"])
    ref = ReferenceData(database_path(data))
    assert ref.order_referring("1234567893") == OrderReferrer("1234567893", True, False, True, False, False)
    assert ref.order_referring("1000000004") == OrderReferrer("1000000004", False, True, False, True, True)
    assert ref.order_referring("1000000012") is None
    assert ref.is_complete("order-referring") and "order-referring" not in ref.excerpts


def test_order_referring_part_of_the_file_is_an_excerpt_whose_silence_decides_nothing(tmp_path, capsys):
    """An import with fewer rows than a whole table has (the catalogue's min_rows), or said to be part of
    the table (--excerpt), is recorded as an excerpt: an NPI missing from it is not "not eligible"."""
    path = write(tmp_path / "or.csv", OR_FILE)
    counted, said = tmp_path / "counted", tmp_path / "said"
    assert main(["data", "import", "order-referring", str(path), "--data-dir", str(counted)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "order-referring: 2 rows from or.csv",
        "order-referring: recorded as an excerpt, a whole CMS table of this kind has at least 1,000,000 rows: a "
        "code or NPI it does not list is not checked against it (its silence is not a pass)"]
    report = import_files("order-referring", [path], said, excerpt=True)
    assert (report.rows, report.excerpt) == (2, True)
    whole = import_files("order-referring", [path], tmp_path / "whole", whole_rows=2)  # as many rows as a whole one
    assert whole.excerpt is False
    for data, source in ((counted, "import:excerpt"), (said, "import:excerpt"), (tmp_path / "whole", "import")):
        ref = ReferenceData(database_path(data))
        by_name = {d.name: d for d in ref.datasets()}
        assert by_name["order-referring"].source == source
        assert ref.is_complete("order-referring") is (source == "import")
        assert ("order-referring" in ref.excerpts) is (source != "import")


def test_order_referring_from_a_zip(tmp_path):
    archive = tmp_path / "order-referring.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("OrderReferring_20260501.csv", OR_FILE)
    assert [(r.npi, r.where.file, r.where.line) for r in read_order_referring(archive)] == [
        ("1234567893", "order-referring.zip:OrderReferring_20260501.csv", 2),
        ("1000000004", "order-referring.zip:OrderReferring_20260501.csv", 3)]


@pytest.mark.parametrize("row, message", [
    ("123456789,SMITH,JANE,Y,N,Y,N,N", "or.csv line 3: NPI '123456789' is not 10 digits"),
    ("1000000012,SMITH,JANE,Y,N,X,N,N", "or.csv line 3: HHA 'X' is not Y or N"),
    ("1000000012,SMITH,JANE,Y,N,Y,N", "or.csv line 3: expected 8 columns, found 7"),
    ("1234567893,SMITH,JOHN,Y,N,Y,N,N",
     "or.csv line 3: same key as or.csv line 2: 1234567893"),
])
def test_order_referring_bad_rows_named_and_previous_data_kept(tmp_path, row, message):
    data = tmp_path / "var"
    import_files("order-referring", [write(tmp_path / "good.csv", OR_FILE)], data)
    bad = write(tmp_path / "or.csv", "NPI,LAST_NAME,FIRST_NAME,PARTB,DME,HHA,PMD,HOSPICE\n"
                                     f"1234567893,SMITH,JANE,Y,N,Y,N,N\n{row}\n")
    with pytest.raises(ImportFileError) as error:
        import_files("order-referring", [bad], data)
    assert str(error.value) == message
    assert rows_of(data, "SELECT npi FROM order_referring ORDER BY npi") == [("1000000004",), ("1234567893",)]


def test_order_referring_header_without_a_benefit_column(tmp_path):
    with pytest.raises(ImportFileError) as error:
        list(read_order_referring(write(tmp_path / "or.csv", "NPI,LAST_NAME,FIRST_NAME,PARTB,DME,HHA,PMD\n")))
    assert str(error.value) == ("or.csv line 1: header has no column hospice "
                                "(found: NPI, LAST_NAME, FIRST_NAME, PARTB, DME, HHA, PMD)")


def test_order_referring_is_streamed_with_flat_memory(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as out:
        out.write("NPI,LAST_NAME,FIRST_NAME,PARTB,DME,HHA,PMD,HOSPICE\n")
        for n in range(60_000):
            out.write(f"{1_000_000_000 + n},LASTNAME{n},FIRSTNAME{n},Y,N,Y,N,Y\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_order_referring(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 60_000
    assert peak < size / 4, f"peak {peak} bytes reading a {size}-byte file"


# --- ASP NDC-HCPCS crosswalk -------------------------------------------------------------------

NDC = ("October 2025 ASP NDC-HCPCS Crosswalk,,,,,,,,,\n"
       ",,,,,,,,,\n"
       "_2025_CODE,Short Description,LABELER NAME,NDC2,Drug Name,HCPCS Dosage,PKG SIZE,PKG QTY,BILLUNITS,BILLUNITSPKG\n"
       "J9271,Inj pembrolizumab,Labeler A,00006-3026-02,Drug A,1 MG,4,1,100,100\n"
       "j9271,Inj pembrolizumab,Labeler A,00006302604,Drug A,1 MG,4,2,100,200\n"
       "J1100,Dexamethasone sodium phos,Labeler B,12345-6789-01,Drug B,1 MG,1,25,4,100\n")


def test_ndc_crosswalk_skips_title_rows_and_normalises_ndcs(tmp_path):
    rows = list(read_ndc_hcpcs(write(tmp_path / "xwalk.csv", NDC)))
    assert [r[:-1] for r in rows] == [
        ("J9271", "00006302602", "Drug A", "Labeler A", "1 MG", "4", "1", "100", "100"),
        ("J9271", "00006302604", "Drug A", "Labeler A", "1 MG", "4", "2", "100", "200"),
        ("J1100", "12345678901", "Drug B", "Labeler B", "1 MG", "1", "25", "4", "100")]
    assert [r.where.line for r in rows] == [4, 5, 6]
    data = tmp_path / "var"
    assert import_files("ndc-hcpcs", [tmp_path / "xwalk.csv"], data).rows == 3
    ref = ReferenceData(database_path(data))
    assert ref.ndcs_for_hcpcs("J9271") == frozenset({"00006302602", "00006302604"})
    assert ref.ndcs_for_hcpcs("J3490") == frozenset()
    assert ref.is_complete("ndc-hcpcs") and "ndc-hcpcs" not in ref.excerpts


def test_ndc_crosswalk_from_the_asp_zip_reads_only_the_crosswalk(tmp_path):
    archive = tmp_path / "october-2025-asp.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("October 2025 ASP Pricing File.csv", "HCPCS Code,Payment Limit\nJ9271,50.0\n")
        z.writestr("October 2025 ASP NDC-HCPCS Crosswalk.csv", NDC)
    assert [r.where.file for r in read_ndc_hcpcs(archive)] == \
        ["october-2025-asp.zip:October 2025 ASP NDC-HCPCS Crosswalk.csv"] * 3


@pytest.mark.parametrize("row, message", [
    ("J9271,x,L,0006-3026-02,D,1 MG,4,1,100,100",
     "xwalk.csv line 5: NDC2 '0006-3026-02' is not an 11-digit NDC in 5-4-2 form (like 00006-3026-02)"),
    ("J927,x,L,00006-3026-09,D,1 MG,4,1,100,100", "xwalk.csv line 5: HCPCS code 'J927' is not a 5-character CPT/HCPCS code"),
    ("J9271,x,L,00006-3026-02,D,1 MG,4,1,100,100", "xwalk.csv line 5: same key as xwalk.csv line 4: ('J9271', '00006302602')"),
])
def test_ndc_crosswalk_bad_rows_named_and_previous_data_kept(tmp_path, row, message):
    data = tmp_path / "var"
    import_files("ndc-hcpcs", [write(tmp_path / "good.csv", NDC)], data)
    bad = write(tmp_path / "xwalk.csv", "\n".join(NDC.splitlines()[:4]) + f"\n{row}\n")
    with pytest.raises(ImportFileError) as error:
        import_files("ndc-hcpcs", [bad], data)
    assert str(error.value) == message
    assert rows_of(data, "SELECT count(*) FROM ndc_hcpcs") == [(3,)]


def test_ndc_crosswalk_without_its_header(tmp_path):
    with pytest.raises(ImportFileError) as error:
        list(read_ndc_hcpcs(write(tmp_path / "x.csv", "J9271,x,L,00006-3026-02,D,1 MG,4,1,100,100\n")))
    assert str(error.value).startswith("x.csv line 1: data row before the header (_YYYY_CODE, Short Description,")


# --- The shipped baseline (the session's reference database) -----------------------------------

def test_shipped_claim_requirement_excerpts_are_excerpts(data_dir):
    ref = ReferenceData(database_path(data_dir))
    assert {"clia-waived", "order-referring", "ndc-hcpcs"} <= ref.excerpts
    assert not any(ref.is_complete(name) for name in ("clia-waived", "order-referring", "ndc-hcpcs"))
    assert ref.is_complete("hcpcs-opps") and "hcpcs-opps" not in ref.excerpts
    rows = {d.name: d.rows for d in ref.datasets()}
    assert (rows["clia-waived"], rows["order-referring"], rows["ndc-hcpcs"], rows["hcpcs-opps"]) == (22, 6, 1, 31213)


def test_shipped_clia_excerpt_facts(data_dir):
    ref = ReferenceData(database_path(data_dir))
    day = D(2026, 5, 1)
    no_qw = ("81002", "81025", "82270", "82272", "82962", "83026", "84830", "85013", "85651")
    assert [ref.clia_waived(code, day).needs_qw for code in no_qw] == [False] * 9  # type: ignore[union-attr]
    assert ref.clia_waived("83036", day) == WaivedTest("83036", True, D(2018, 10, 23),
                                                       "Alere Technologies AS, Afinion 2 Analyzer")
    assert ref.clia_waived("83036", D(2018, 10, 22)) is None
    assert ref.clia_waived("82952", day) == WaivedTest(
        "82952", True, D(2007, 9, 21),
        "Polymer Technology Systems CardioChek PA Analyzer (PTS Panels CHOL+HDL+GLUC Panel Test Strips)")


def test_shipped_constructed_fixtures(data_dir):
    ref = ReferenceData(database_path(data_dir))
    assert ref.order_referring("1234567893") == OrderReferrer("1234567893", True, True, True, True, True)
    assert ref.order_referring("1000000046") == OrderReferrer("1000000046", False, False, False, False, False)
    assert ref.ndcs_for_hcpcs("J9271") == frozenset({"00006302602"})
    text = (BASELINE_DIR / "ndc_hcpcs.excerpt.csv").read_text(encoding="utf-8")
    assert text.startswith("Constructed fixture") and "UNVERIFIED" in text


def test_hcpcs_facts_by_date_of_service(data_dir):
    ref = ReferenceData(database_path(data_dir))
    office = ref.hcpcs_facts("99213", D(2026, 5, 1))
    assert office is not None
    assert (office.status_indicator, office.telehealth, office.lab, office.drug, office.effective, office.deletion) == \
        ("B", True, False, False, D(2024, 1, 1), None)
    assert ref.hcpcs_facts("99213", D(2023, 6, 30)).telehealth is False  # type: ignore[union-attr]
    assert ref.hcpcs_facts("99213", D(2010, 1, 1)).effective == D(2019, 7, 1)  # type: ignore[union-attr]
    panel = ref.hcpcs_facts("80053", D(2026, 5, 1))
    assert panel is not None and (panel.status_indicator, panel.lab, panel.drug) == ("Q4", True, False)
    drug = ref.hcpcs_facts("J9271", D(2026, 5, 1))
    assert drug is not None and (drug.status_indicator, drug.drug, drug.lab) == ("K", True, False)
    assert ref.hcpcs_facts("G0480", D(2026, 5, 1)).lab is True  # type: ignore[union-attr]  # Level II, SI Q4
    assert ref.hcpcs_facts("36415", D(2026, 5, 1)).lab is False  # type: ignore[union-attr]  # venipuncture, SI Q4
    # deleted after 2024-12-31; J0570 has a gap from 2025-01-01 to 2025-09-30
    assert ref.hcpcs_facts("G2012", D(2020, 6, 1)).status_indicator == "A"  # type: ignore[union-attr]
    assert ref.hcpcs_facts("G2012", D(2025, 1, 1)) is None
    assert ref.hcpcs_facts("J0570", D(2025, 6, 1)) is None
    assert [(f.effective, f.deletion, f.status_indicator) for f in ref.hcpcs_facts_history("J0570")] == [
        (D(2019, 7, 1), D(2019, 12, 31), "G"), (D(2020, 1, 1), D(2024, 12, 31), "K"), (D(2025, 10, 1), None, "E2")]
    assert ref.hcpcs_facts("ZZZZZ", D(2026, 5, 1)) is None


def test_cli_imports_the_new_kinds_and_status_lists_them(tmp_path, capsys, data_dir):
    data = str(tmp_path / "var")
    assert main(["data", "import", "clia-waived", str(write(tmp_path / "clia.csv", CLIA)), "--data-dir", data]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "clia-waived: 5 rows from clia.csv",
        "clia-waived: recorded as an excerpt, a whole CMS table of this kind has at least 500 rows: a code or NPI "
        "it does not list is not checked against it (its silence is not a pass)"]
    assert main(["data", "status", "--data-dir", data_dir]) == 0
    header, _, *lines = capsys.readouterr().out.splitlines()
    column = header.index("coverage")
    status = {line.split()[0]: (line.split()[1].split(":")[0], line[column:].split()[0]) for line in lines}
    assert {name: status[name] for name in ("clia-waived", "order-referring", "ndc-hcpcs", "hcpcs-opps")} == {
        "clia-waived": ("baseline", "excerpt"), "order-referring": ("baseline", "excerpt"),
        "ndc-hcpcs": ("baseline", "excerpt"), "hcpcs-opps": ("baseline", "complete")}
    opps = next(line for line in lines if line.startswith("hcpcs-opps "))
    assert "2026Q2" in opps.split()
