"""Importers of the CMS reference files (scrubber/refdata/importers.py) and `scrubber data import/status`,
on the real CMS excerpts in tests/fixtures/cms (see SOURCES.md there)."""
from __future__ import annotations

import sqlite3
import sys
import types
import zipfile
from pathlib import Path

import pytest

from scrubber.cli import main
from scrubber.refdata.importers import (BASELINE_DIR, DataImportError, ImportFileError, baseline_files, import_files,
                                read_aoc, read_hcpcs, read_mce, read_mue, read_ptp)
from scrubber.refdata.store import database_path

CMS = Path(__file__).parents[1] / "fixtures" / "cms"
PTP = CMS / "ncci_ptp_practitioner_2026q3.excerpt.txt"
MUE = CMS / "mue_practitioner_2026-07-01.excerpt.csv"
HCPCS = CMS / "hcpcs_2026_oct.excerpt.csv"
AOC = CMS / "aoc_constructed.excerpt.csv"
MCE = BASELINE_DIR / "MCE_Simple_Code_Edits_v37.txt"
# The 2022 list is an input of scripts/build-baseline now, kept beside it.
HCPCS_2022 = Path(__file__).parents[2] / "scripts" / "baseline-inputs" / "hcpcs_level2_2022.csv"
POS = BASELINE_DIR.parent / "place_of_service_2026.csv"

MCE_COUNTS = {
    "Adult_Only": 771, "Female_Only": 5429, "Limited_Coverage": 50, "Male_Only": 2445, "Maternity_Only": 2372,
    "Newborn_Only": 41, "Noncovered_Always": 97, "Noncovered_LOS_96hr": 1, "Noncovered_Over60": 2,
    "Pediatric_Only": 114, "Principal_Manifestation": 395, "Principal_Questionable_Admit": 27,
    "Principal_Unacceptable": 2406, "Wrong_Performed": 3,
}


def query(data_dir: Path, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(database_path(data_dir))
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def dataset(data_dir: Path, name: str) -> tuple | None:
    rows = query(data_dir, "SELECT name, kind, source, files, rows, loaded_at, detail FROM dataset WHERE name = ?", name)
    return rows[0] if rows else None


def edit_line(path: Path, out: Path, number: int, change) -> Path:
    """A copy of `path` with physical line `number` (1-based) replaced by change(line), bytes kept."""
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = change(lines[number - 1].decode("latin-1")).encode("latin-1")
    out.write_bytes(b"\n".join(lines))
    return out


def to_lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def to_crlf(data: bytes) -> bytes:
    return to_lf(data).replace(b"\n", b"\r\n")


# --- NCCI PTP ------------------------------------------------------------------------------------

def test_ptp_excerpt_loads_with_exact_rows(tmp_path):
    report = import_files("ncci-ptp", [PTP], tmp_path)
    assert (report.dataset, report.rows, report.files) == \
        ("ncci-ptp:practitioner", 154, ["ncci_ptp_practitioner_2026q3.excerpt.txt"])
    rows = query(tmp_path, "SELECT p.column1, p.column2, p.effective, p.deletion, p.modifier_indicator, r.text "
                           "FROM ptp p JOIN ptp_rationale r ON r.id = p.rationale WHERE setting = 'practitioner' "
                           "AND column1 = ? AND column2 = ?", "0001A", "36591")
    assert rows == [("0001A", "36591", 20220101, 20231231, 0, "CPT Manual or CMS manual coding instruction")]
    # `*` in the deletion column: no deletion date
    assert query(tmp_path, "SELECT effective, deletion, modifier_indicator FROM ptp "
                           "WHERE column1 = '0001U' AND column2 = '81164'") == [(20190101, None, 1)]
    # indicator 9 with deletion = effective (deleted retroactively)
    assert query(tmp_path, "SELECT effective, deletion, modifier_indicator FROM ptp "
                           "WHERE column1 = '0001A' AND column2 = '90473'") == [(20220101, 20220101, 9)]
    assert query(tmp_path, "SELECT modifier_indicator, count(*) FROM ptp GROUP BY 1") == [(0, 9), (1, 139), (9, 6)]
    assert query(tmp_path, "SELECT count(*) FROM ptp WHERE deletion IS NULL") == [(66,)]
    assert sorted(t for (t,) in query(tmp_path, "SELECT text FROM ptp_rationale")) == [
        "CPT Manual or CMS manual coding instruction", "Misuse of Column Two code with Column One code",
        "Mutually exclusive procedures", "Standards of medical/surgical practice"]


def test_ptp_reader_yields_the_line_of_each_row():
    rows = list(read_ptp(PTP))
    assert len(rows) == 154
    assert rows[0].where == ("ncci_ptp_practitioner_2026q3.excerpt.txt", 7)
    assert rows[3][:6] == ("0001A", "36591", 20220101, 20231231, 0, "CPT Manual or CMS manual coding instruction")


def test_ptp_split_files_in_one_zip_are_one_dataset(tmp_path):
    lines = PTP.read_bytes().split(b"\r\n")
    preamble, data = lines[:6], [line for line in lines[6:] if line]
    archive = tmp_path / "medicare-ncci-2026q3-practitioner-ptp-edits-ccipra-v322r0.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("ccipra-v322r0-f1.TXT", b"\r\n".join(preamble + data[:100]) + b"\r\n")
        z.writestr("ccipra-v322r0-f2.TXT", b"\r\n".join(preamble + data[100:]) + b"\r\n")
        z.writestr("README.txt", b"not an edit table")
    report = import_files("ncci-ptp", [archive], tmp_path / "var")
    assert (report.dataset, report.rows, report.detail) == ("ncci-ptp:practitioner", 154, "v322r0")
    assert report.files == [f"{archive.name}:ccipra-v322r0-f1.TXT", f"{archive.name}:ccipra-v322r0-f2.TXT"]
    direct = import_files("ncci-ptp", [PTP], tmp_path / "direct")
    assert query(tmp_path / "var", "SELECT * FROM ptp ORDER BY 2, 3") == \
        query(tmp_path / "direct", "SELECT * FROM ptp ORDER BY 2, 3") and direct.rows == 154


def test_ptp_several_files_on_the_command_line_are_one_dataset(tmp_path):
    lines = PTP.read_bytes().split(b"\r\n")
    f1, f2 = tmp_path / "ccipra-v322r0-f1.TXT", tmp_path / "ccipra-v322r0-f2.TXT"
    f1.write_bytes(b"\r\n".join(lines[:60]))
    f2.write_bytes(b"\r\n".join(lines[:6] + lines[60:]))
    assert import_files("ncci-ptp", [f1, f2], tmp_path).rows == 154


def test_ptp_setting_from_the_file_name_or_the_option(tmp_path):
    hospital = tmp_path / "ccioph-v322r0-f1.txt"
    hospital.write_bytes(PTP.read_bytes())
    import_files("ncci-ptp", [PTP], tmp_path)
    assert import_files("ncci-ptp", [hospital], tmp_path).dataset == "ncci-ptp:hospital"
    assert query(tmp_path, "SELECT setting, count(*) FROM ptp GROUP BY 1") == [("hospital", 154), ("practitioner", 154)]

    unnamed = tmp_path / "edits.txt"
    unnamed.write_bytes(PTP.read_bytes())
    with pytest.raises(ImportFileError, match="pass --setting"):
        import_files("ncci-ptp", [unnamed], tmp_path)
    assert import_files("ncci-ptp", [unnamed], tmp_path, setting="hospital").dataset == "ncci-ptp:hospital"
    with pytest.raises(DataImportError, match="one of practitioner, hospital"):
        import_files("ncci-ptp", [unnamed], tmp_path, setting="dme")


def test_ptp_crlf_and_lf_give_the_same_rows(tmp_path):
    lf = tmp_path / "ccipra-lf.txt"
    lf.write_bytes(to_lf(PTP.read_bytes()))
    assert b"\r" not in lf.read_bytes()
    assert [r[:-1] for r in read_ptp(lf)] == [r[:-1] for r in read_ptp(PTP)]


def test_import_twice_is_idempotent(tmp_path):
    first = import_files("ncci-ptp", [PTP], tmp_path)
    before = query(tmp_path, "SELECT * FROM ptp ORDER BY 1, 2, 3, 4"), query(tmp_path, "SELECT * FROM ptp_rationale")
    second = import_files("ncci-ptp", [PTP], tmp_path)
    assert first.rows == second.rows == 154
    assert (query(tmp_path, "SELECT * FROM ptp ORDER BY 1, 2, 3, 4"), query(tmp_path, "SELECT * FROM ptp_rationale")) == before
    for kind, path in (("mue", MUE), ("aoc", AOC), ("hcpcs", HCPCS), ("pos", POS)):
        assert import_files(kind, [path], tmp_path).rows == import_files(kind, [path], tmp_path).rows


@pytest.mark.parametrize("line, change, message", [
    (12, lambda s: s.replace("20220101\t20220101", "20221301\t20220101"),
     "line 12: effective date '20221301' is not a date (YYYYMMDD)"),
    (30, lambda s: s.replace("\t\t", "\t", 1), "line 30: expected 7 tab-separated columns, found 6"),
    (10, lambda s: s.replace("\t0\tCPT", "\tX\tCPT"), "line 10: modifier indicator 'X' is not 0, 1 or 9"),
    (158, lambda s: s.replace("\t*\t", "\tnone\t"), "line 158: deletion date 'none' is not a date (YYYYMMDD)"),
    (7, lambda s: s.replace("0001A", "1A"), "line 7: column 1 code '1A' is not a 5-character CPT/HCPCS code"),
])
def test_ptp_malformed_file_is_refused_and_the_previous_dataset_kept(tmp_path, line, change, message):
    import_files("ncci-ptp", [PTP], tmp_path)
    before = query(tmp_path, "SELECT * FROM ptp ORDER BY 1, 2, 3, 4"), dataset(tmp_path, "ncci-ptp:practitioner")
    bad = edit_line(PTP, tmp_path / "ccipra-v323r0-f1.txt", line, change)
    with pytest.raises(ImportFileError) as raised:
        import_files("ncci-ptp", [bad], tmp_path)
    assert str(raised.value) == f"ccipra-v323r0-f1.txt {message}"
    assert (raised.value.path, raised.value.line) == ("ccipra-v323r0-f1.txt", line)
    assert (query(tmp_path, "SELECT * FROM ptp ORDER BY 1, 2, 3, 4"), dataset(tmp_path, "ncci-ptp:practitioner")) == before


def test_a_bad_file_among_good_ones_loads_nothing(tmp_path):
    bad = edit_line(PTP, tmp_path / "ccipra-v322r0-f2.txt", 160, lambda s: s.replace("\t1\tMisuse", "\t2\tMisuse"))
    with pytest.raises(ImportFileError, match="line 160: modifier indicator '2'"):
        import_files("ncci-ptp", [PTP, bad], tmp_path)
    assert not database_path(tmp_path).exists() or dataset(tmp_path, "ncci-ptp:practitioner") is None


def test_duplicate_rows_are_refused_with_both_lines(tmp_path):
    import_files("ncci-ptp", [PTP], tmp_path)
    lines = PTP.read_bytes().split(b"\r\n")
    dup = tmp_path / "ccipra-dup.txt"
    dup.write_bytes(b"\r\n".join(lines[:-1] + [lines[9], b""]))
    with pytest.raises(ImportFileError, match=r"line 161: same key as ccipra-dup.txt line 10"):
        import_files("ncci-ptp", [dup], tmp_path)
    assert dataset(tmp_path, "ncci-ptp:practitioner")[4] == 154


def test_a_file_of_another_kind_is_refused(tmp_path):
    with pytest.raises(ImportFileError, match="no PTP edits found"):
        import_files("ncci-ptp", [MUE], tmp_path, setting="practitioner")
    with pytest.raises(ImportFileError, match="no 'HCPCS/CPT Code' header"):
        import_files("mue", [HCPCS], tmp_path, setting="practitioner")
    with pytest.raises(ImportFileError, match="cannot read"):
        import_files("pos", [tmp_path / "missing.csv"], tmp_path)
    not_zip = tmp_path / "ccipra.zip"
    not_zip.write_text("hello")
    with pytest.raises(ImportFileError, match="not a readable zip"):
        import_files("ncci-ptp", [not_zip], tmp_path)


def test_options_that_do_not_apply_are_refused(tmp_path):
    with pytest.raises(DataImportError, match="--setting applies to ncci-ptp and mue only"):
        import_files("aoc", [AOC], tmp_path, setting="practitioner")
    with pytest.raises(DataImportError, match="--effective applies to mue and pprrvu only"):
        import_files("ncci-ptp", [PTP], tmp_path, effective="2026-07-01")
    with pytest.raises(DataImportError, match="--version applies"):
        import_files("pos", [POS], tmp_path, version=3)
    with pytest.raises(DataImportError, match="unknown kind"):
        import_files("cpt", [POS], tmp_path)


# --- MUE -----------------------------------------------------------------------------------------

def test_mue_excerpt_skips_the_latin1_notice_and_loads_exact_rows(tmp_path):
    assert b"\xae" in MUE.read_bytes()  # the ® of the AMA notice, in Latin-1
    report = import_files("mue", [MUE], tmp_path)
    assert (report.dataset, report.rows, report.detail) == ("mue:practitioner", 44, "2026-07-01")
    assert query(tmp_path, "SELECT * FROM mue WHERE code IN ('0009U', '0001U', '0002M') ORDER BY code") == [
        ("practitioner", "0001U", 1, 2, "Code Descriptor / CPT Instruction"),
        ("practitioner", "0002M", 1, 3, "Nature of Analyte"),
        ("practitioner", "0009U", 2, 3, "Nature of Analyte")]
    assert query(tmp_path, "SELECT mai, count(*) FROM mue GROUP BY 1") == [(2, 30), (3, 14)]
    assert dataset(tmp_path, "mue:practitioner")[6] == "2026-07-01"


def test_mue_reader_gives_the_line_a_record_starts_on():
    rows = list(read_mue(MUE))
    assert rows[0].where.line == 10 and rows[0][:4] == ("0001U", 1, 2, "Code Descriptor / CPT Instruction")
    assert [r[:4] for r in rows if r.code == "0009U"] == [("0009U", 2, 3, "Nature of Analyte")]


def test_mue_setting_and_effective_date_from_cms_names_or_options(tmp_path):
    hospital = tmp_path / "MCR_MUE_OutpatientHospitalServices_Eff_10-01-2026.csv"
    dme = tmp_path / "MCR_MUE_DMESupplierServices_Eff_10-01-2026.csv"
    for path in (hospital, dme):
        path.write_bytes(MUE.read_bytes())
    assert (import_files("mue", [hospital], tmp_path).dataset, dataset(tmp_path, "mue:hospital")[6]) == \
        ("mue:hospital", "2026-10-01")
    assert import_files("mue", [dme], tmp_path).dataset == "mue:dme"
    assert import_files("mue", [dme], tmp_path, setting="practitioner", effective="20260701").detail == "2026-07-01"
    assert query(tmp_path, "SELECT setting, count(*) FROM mue GROUP BY 1") == \
        [("dme", 44), ("hospital", 44), ("practitioner", 44)]
    unnamed = tmp_path / "mue.csv"
    unnamed.write_bytes(MUE.read_bytes())
    with pytest.raises(ImportFileError, match=r"pass --setting \(practitioner or hospital or dme\)"):
        import_files("mue", [unnamed], tmp_path)
    assert import_files("mue", [unnamed], tmp_path, setting="dme").detail == ""


def test_mue_from_a_zip_as_downloaded(tmp_path):
    archive = tmp_path / "medicare-ncci-2026-q3-practitioner-services-mue-table.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("MCR_MUE_PractitionerServices_Eff_07-01-2026.csv", MUE.read_bytes())
        z.writestr("MCR_MUE_PractitionerServices_Eff_07-01-2026.xlsx", b"PK not read")
    report = import_files("mue", [archive], tmp_path)
    assert (report.dataset, report.rows, report.detail) == ("mue:practitioner", 44, "2026-07-01")
    assert report.files == [f"{archive.name}:MCR_MUE_PractitionerServices_Eff_07-01-2026.csv"]


def test_mue_lf_and_crlf(tmp_path):
    lf = tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv"
    lf.write_bytes(to_lf(MUE.read_bytes()))
    assert [r[:-1] for r in read_mue(lf)] == [r[:-1] for r in read_mue(MUE)]


@pytest.mark.parametrize("change, message", [
    (lambda s: s.replace("0009U,2,3 Date", "0009U,2,X Date"),
     "line 21: MUE adjudication indicator 'X Date of Service Edit: Clinical' does not start with 1, 2 or 3"),
    (lambda s: s.replace("0009U,2,", "0009U,two,"), "line 21: MUE value 'two' is not a whole number of units"),
    (lambda s: s.replace(",Nature of Analyte", ""), "line 21: expected 4 columns, found 3"),
])
def test_mue_malformed_rows(tmp_path, change, message):
    import_files("mue", [MUE], tmp_path)
    bad = edit_line(MUE, tmp_path / "MCR_MUE_PractitionerServices_Eff_10-01-2026.csv", 21, change)
    with pytest.raises(ImportFileError) as raised:
        import_files("mue", [bad], tmp_path)
    assert str(raised.value) == f"{bad.name} {message}"
    assert dataset(tmp_path, "mue:practitioner")[6] == "2026-07-01"
    assert query(tmp_path, "SELECT value, mai FROM mue WHERE code = '0009U'") == [(2, 3)]


# --- AOC -----------------------------------------------------------------------------------------

AOC_HEADER = ("AOC_Edit_Type,Add-On_Code,AOC_DelDT,Primary_Code,Primary_Code_DelDT,AOC_Edit_EffDT,"
              "AOC_Edit_DelDT,Special_Instruction_Notes")


def test_aoc_excerpt_loads_with_exact_rows(tmp_path):
    report = import_files("aoc", [AOC], tmp_path)
    assert (report.dataset, report.rows) == ("aoc", 10)
    assert query(tmp_path, "SELECT * FROM aoc WHERE addon IN ('99417', '11045') ORDER BY 1, 2") == [
        ("11045", "11042", 1, 20130101, None),
        ("99417", "99205", 1, 20210101, None),
        ("99417", "99215", 1, 20210101, None)]


def test_aoc_dates_types_and_deletions(tmp_path):
    path = tmp_path / "AOC_V2026Q2-MCR.csv"
    path.write_text("\r\n".join([
        "CPT only copyright 2025 American Medical Association.  All rights reserved.,,,,,,,",
        AOC_HEADER,
        "1,99355,2023365,99354,,2013091,,",          # add-on code deleted: the pairing ends with it
        "1,64484,,64483,2020060,2013001,2022001,",   # the earliest deletion wins; 2020 is a leap year
        '2,G0000,,CCCCC,,2024060,,"(Contractor Defined Primary Codes)"',
        "3,96375,,96374,,2013001,,",
    ]) + "\r\n", encoding="utf-8")
    assert [r[:-1] for r in read_aoc(path)] == [
        ("99355", "99354", 1, 20130401, 20231231),
        ("64484", "64483", 1, 20130101, 20200229),
        ("G0000", "CCCCC", 2, 20240229, None),
        ("96375", "96374", 3, 20130101, None)]


def test_aoc_tab_separated_with_spelled_out_header_names(tmp_path):
    path = tmp_path / "aoc.txt"
    path.write_text("AMA notice\n" + "\t".join([
        "AOC Edit Type", "Add-on Code", "Add-on Code Effective Date", "Add-on Code Deletion Date", "Primary Code",
        "Primary Code Effective Date", "Primary Code Deletion Date", "AOC Edit Effective Date",
        "AOC Edit Deletion Date", "Special Instruction Notes"]) + "\n"
        + "1\t11045\t20110101\t\t11042\t20110101\t\t20130101\t\t\n", encoding="utf-8")
    assert [r[:-1] for r in read_aoc(path)] == [("11045", "11042", 1, 20130101, None)]


@pytest.mark.parametrize("row, message", [
    ("4,11045,,11042,,2013001,,", "line 3: AOC edit type '4' is not 1, 2 or 3"),
    ("1,11045,,11042,,2023366,,", "line 3: AOC edit effective date '2023366' is not a date (YYYYDDD: day 366 of 2023)"),
    ("1,11045,,11042,,,,", "line 3: AOC edit effective date is missing"),
    ("1,11045,,11042,,2013001", "line 3: expected 8 columns, found 6"),
])
def test_aoc_malformed_rows(tmp_path, row, message):
    path = tmp_path / "aoc.csv"
    path.write_text(f"notice,,,,,,,\n{AOC_HEADER}\n{row}\n", encoding="utf-8")
    with pytest.raises(ImportFileError) as raised:
        import_files("aoc", [path], tmp_path)
    assert str(raised.value) == f"aoc.csv {message}"


# --- MCE -----------------------------------------------------------------------------------------

def test_mce_v37_counts_per_edit_type(tmp_path):
    report = import_files("mce", [MCE], tmp_path)
    assert (report.dataset, report.rows) == ("mce:37", 14153)
    assert dict(query(tmp_path, "SELECT edit, count(*) FROM mce WHERE version = 37 GROUP BY edit")) == MCE_COUNTS
    assert query(tmp_path, "SELECT * FROM mce WHERE code = 'A33'") == [(37, "Newborn_Only", "D", "A33", "Tetanus neonatorum")]
    assert query(tmp_path, "SELECT code_type, count(*) FROM mce GROUP BY 1") == [("D", 9793), ("P", 4360)]


def test_mce_crlf_version_check_and_malformed_rows(tmp_path):
    crlf = tmp_path / "mce_crlf.txt"
    crlf.write_bytes(to_crlf(MCE.read_bytes()))
    assert import_files("mce", [crlf], tmp_path, version=37).rows == 14153
    with pytest.raises(DataImportError, match="--version 38 does not match the file's MCE version 37"):
        import_files("mce", [MCE], tmp_path, version=38)
    bad = edit_line(MCE, tmp_path / "mce_bad.txt", 5, lambda s: s.replace("\tD\t", "\tX\t"))
    with pytest.raises(ImportFileError, match=r"^mce_bad.txt line 5: ICD code type 'X' is not D or P$"):
        import_files("mce", [bad], tmp_path)
    mixed = edit_line(MCE, tmp_path / "mce_mixed.txt", 9, lambda s: s.replace("37\t", "38\t", 1))
    with pytest.raises(ImportFileError, match=r"line 9: MCE version 38 differs from version 37 \(mce_mixed.txt line 2\)"):
        import_files("mce", [mixed], tmp_path)
    assert dataset(tmp_path, "mce:37")[4] == 14153


def test_mce_reader_checks_the_header(tmp_path):
    path = tmp_path / "mce.txt"
    path.write_text("Version\tCode\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="line 1: expected the header MCE_Version"):
        list(read_mce(path))


# --- HCPCS ---------------------------------------------------------------------------------------

def test_hcpcs_alphanumeric_file_modifiers_with_dates(tmp_path):
    report = import_files("hcpcs", [HCPCS], tmp_path)
    assert (report.dataset, report.rows) == ("hcpcs", 35)
    assert query(tmp_path, "SELECT count(*) FROM hcpcs WHERE is_modifier = 1") == [(35,)]
    assert query(tmp_path, "SELECT * FROM hcpcs WHERE code = 'A1'") == \
        [("A1", 1, "Dressing for one wound", 20020701, 20020701, None)]
    terminated = query(tmp_path, "SELECT code, effective_date, termination_date FROM hcpcs "
                                 "WHERE termination_date IS NOT NULL ORDER BY code")
    assert terminated == [("CP", 20180101, 20171231), ("GD", 20200101, 20191231), ("JF", 20150701, 20150630),
                          ("JG", 20250101, 20241231), ("L1", 20170101, 20161231)]


def test_hcpcs_2022_list_without_dates_and_with_a_continuation_record(tmp_path):
    assert HCPCS_2022.read_bytes().startswith(b"\xef\xbb\xbf")
    assert import_files("hcpcs", [HCPCS_2022], tmp_path).rows == 7500
    assert query(tmp_path, "SELECT is_modifier, count(*) FROM hcpcs GROUP BY 1") == [(0, 7125), (1, 375)]
    assert query(tmp_path, "SELECT * FROM hcpcs WHERE code = 'A0021'") == \
        [("A0021", 0, "Ambulance service, outside state per mile, transport (medicaid only)", None, None, None)]
    (g0503,) = query(tmp_path, "SELECT description FROM hcpcs WHERE code = 'G0503'")[0]
    assert g0503.endswith("and/or other treatment goals and are prepared for discharge from active treatment")


def test_hcpcs_later_file_wins_and_zip(tmp_path):
    archive = tmp_path / "october-2026-alpha-numeric-hcpcs-file.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("HCPC2026_OCT_ANWEB.csv", HCPCS.read_bytes())
        z.writestr("HCPC2026_recordlayout.txt", b"layout")
    report = import_files("hcpcs", [HCPCS_2022, archive], tmp_path)
    assert report.files == ["hcpcs_level2_2022.csv", f"{archive.name}:HCPC2026_OCT_ANWEB.csv"]
    assert report.rows == 7502  # CP and L1 are not in the 2022 list
    assert query(tmp_path, "SELECT add_date, effective_date FROM hcpcs WHERE code = 'A1'") == [(20020701, 20020701)]
    assert query(tmp_path, "SELECT add_date FROM hcpcs WHERE code = 'A0021'") == [(None,)]


def test_hcpcs_continuation_records_follow_the_record_layout(tmp_path):
    path = tmp_path / "hcpcs.csv"
    path.write_text("HCPC,SEQNUM,RECID,LONG DESCRIPTION,SHORT DESCRIPTION,ADD DT,ACT EFF DT,TERM DT\n"
                    "   XX,0010,7,A modifier whose description,Short,20250101,20250101,\n"
                    "   XX,0020,8,goes on,,,,\n"
                    "Z9999,0010,3,A code,Code,20250101,20250101,20251231\n", encoding="utf-8")
    assert [r[:-1] for r in read_hcpcs(path)] == [
        ("XX", 1, "A modifier whose description goes on", 20250101, 20250101, None),
        ("Z9999", 0, "A code", 20250101, 20250101, 20251231)]
    path.write_text("HCPC,SEQNUM,RECID,LONG DESCRIPTION\nZ9999,0020,4,orphan\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="line 2: continuation record .RECID 4. of Z9999 does not follow"):
        list(read_hcpcs(path))
    path.write_text("HCPC,SEQNUM,RECID,LONG DESCRIPTION,ADD DT\nZ9999,0010,3,x,20251301\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="line 2: add date '20251301' is not a date"):
        list(read_hcpcs(path))
    path.write_text("HCPC,SEQNUM,RECID,LONG DESCRIPTION\nZ9999,0010,5,x\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="line 2: RECID '5' is not 3, 4, 7 or 8"):
        list(read_hcpcs(path))


# --- POS -----------------------------------------------------------------------------------------

def test_pos_shipped_list_and_optional_dates(tmp_path):
    assert import_files("pos", [POS], tmp_path).rows == 52
    assert query(tmp_path, "SELECT * FROM pos WHERE code IN ('11', '27') ORDER BY code") == [
        ("11", "Office", None, None), ("27", "Outreach Site/Street", None, None)]
    dated = tmp_path / "pos.csv"
    dated.write_text("code,description,effective_date,termination_date\n"
                     "10,Telehealth Provided in Patient's Home,2022-01-01,\n"
                     "27,Outreach Site/Street,20231001,\n", encoding="utf-8")
    assert import_files("pos", [dated], tmp_path).rows == 2
    assert query(tmp_path, "SELECT * FROM pos ORDER BY code") == [
        ("10", "Telehealth Provided in Patient's Home", 20220101, None), ("27", "Outreach Site/Street", 20231001, None)]
    dated.write_text("code,description\n1,Pharmacy\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="pos.csv line 2: place of service '1' is not two digits"):
        import_files("pos", [dated], tmp_path)


# --- ICD-10-CM hook ------------------------------------------------------------------------------

def test_icd10cm_calls_the_icd10cm_module(tmp_path, monkeypatch):
    calls = []

    def read_for_import(paths, fiscal_year):
        calls.append(([Path(p).name for p in paths], fiscal_year))
        return 2026, [(2026, "M545", 0, "Low back pain"), (2026, "M5450", 1, "Low back pain, unspecified")], \
            [(2026, "M54", "M48", "M48", "Excludes1 note")]

    monkeypatch.setitem(sys.modules, "scrubber.refdata.icd10cm", types.SimpleNamespace(read_for_import=read_for_import))
    report = import_files("icd10cm", [CMS / "icd10cm_order_2026.excerpt.txt"], tmp_path, version=2026)
    assert calls == [(["icd10cm_order_2026.excerpt.txt"], 2026)]
    assert (report.dataset, report.rows) == ("icd10cm:2026", 2)
    assert query(tmp_path, "SELECT count(*) FROM icd10cm_excludes1 WHERE fy = 2026") == [(1,)]


def test_icd10cm_without_the_module_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scrubber.refdata.icd10cm", None)
    with pytest.raises(DataImportError, match="needs scrubber/refdata/icd10cm.py"):
        import_files("icd10cm", [CMS / "icd10cm_order_2026.excerpt.txt"], tmp_path)


# --- baseline ------------------------------------------------------------------------------------

def test_baseline_files_all_import(tmp_path):
    loaded = {}
    for kind, path, options in baseline_files():
        assert path.is_file() and all(Path(p).is_file() for p in options.get("base", []))
        report = import_files(kind, [str(path)], tmp_path, source="baseline:test", **options)
        loaded[report.dataset] = report.rows
    assert loaded == {"ncci-ptp:practitioner": 154, "mue:practitioner": 44, "mce:37": 14153, "pos": 52,
                      "clia-waived": 22, "order-referring": 6, "ndc-hcpcs": 1}
    assert query(tmp_path, "SELECT DISTINCT source FROM dataset") == [("baseline:test",)]
    for name in ("ncci_ptp_practitioner_2026q3.excerpt.txt", "mue_practitioner_2026-07-01.excerpt.csv"):
        assert (BASELINE_DIR / name).read_bytes() == (CMS / name).read_bytes()


# --- CLI -----------------------------------------------------------------------------------------

def test_cli_import_and_status(tmp_path, capsys):
    data = str(tmp_path / "var")
    assert main(["data", "status", "--data-dir", data]) == 0
    assert "no reference data loaded" in capsys.readouterr().out
    assert main(["data", "import", "ncci-ptp", str(PTP), "--data-dir", data]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ncci-ptp:practitioner: 154 rows from ncci_ptp_practitioner_2026q3.excerpt.txt",
        "ncci-ptp:practitioner: recorded as an excerpt, a whole CMS table of this kind has at least 1,000,000 rows: "
        "a code or NPI it does not list is not checked against it (its silence is not a pass)"]
    assert main(["data", "import", "mue", str(MUE), "--setting", "practitioner", "--effective", "2026-07-01",
                 "--data-dir", data]) == 0
    assert capsys.readouterr().out.splitlines()[0] == \
        "mue:practitioner: 44 rows from mue_practitioner_2026-07-01.excerpt.csv (2026-07-01)"
    assert main(["data", "status", "--data-dir", data]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["dataset", "source", "rows", "files", "loaded_at", "release", "age_days", "stale",
                              "coverage", "dates", "detail"]
    assert out[2].split()[:4] == ["mue:practitioner", "import:excerpt", "44", "mue_practitioner_2026-07-01.excerpt.csv"]
    assert out[3].split()[:4] == ["ncci-ptp:practitioner", "import:excerpt", "154",
                                  "ncci_ptp_practitioner_2026q3.excerpt.txt"]
    # both are 2026Q3 releases, stale from the next quarter's first day (the tests run after it)
    assert [line.split()[5] for line in out[2:4]] == ["2026Q3", "2026Q3"]
    assert all("yes (since 2026-10-01)" in line for line in out[2:4])
    # fewer rows than a whole table has (the catalogue's min_rows): recorded as an excerpt
    assert out[2].split()[-2:] == ["excerpt", "2026-07-01"]
    assert out[3].split()[-1] == "excerpt"


ISSUE_11_BASELINE = ("aoc", "hcpcs", "icd10cm:2025", "icd10cm:2026", "icd10cm:2027", "icd10pcs:2026", "icd10pcs:2027",
                     "mce:37", "mce:43", "mce:44", "mue:practitioner", "ncci-ptp:hospital", "ncci-ptp:practitioner",
                     "pos")


def test_cli_status_shows_the_shipped_excerpts_as_excerpts(data_dir, capsys):
    assert main(["data", "status", "--data-dir", data_dir]) == 0
    header, _, *lines = capsys.readouterr().out.splitlines()
    column = header.index("coverage")  # the table's columns are aligned under the header
    coverage = {line.split()[0]: line[column:].split()[0] for line in lines}

    # the issue 11 baseline: complete tables but for the practitioner PTP and MUE excerpts
    assert {name: coverage[name] for name in ISSUE_11_BASELINE} == {
        name: "excerpt" if name in ("mue:practitioner", "ncci-ptp:practitioner") else "complete"
        for name in ISSUE_11_BASELINE}
    assert set(coverage.values()) == {"excerpt", "complete"}


def test_cli_status_shows_the_dates_of_service_each_code_set_covers(data_dir, capsys):
    assert main(["data", "status", "--data-dir", data_dir]) == 0
    header, _, *lines = capsys.readouterr().out.splitlines()
    start, end = header.index("dates"), header.index("detail")  # the table's columns are aligned under the header
    dates = {line.split()[0]: line[start:end].strip() for line in lines}
    assert {name: dates[name] for name in ("hcpcs", "icd10cm:2025", "icd10cm:2027", "icd10pcs:2026", "mce:37",
                                           "aoc", "pos")} == {
        "hcpcs": "2019-07-01..2026-06-30", "icd10cm:2025": "2024-10-01..2025-09-30",
        "icd10cm:2027": "2026-10-01..2027-09-30", "icd10pcs:2026": "2025-10-01..2026-09-30",
        "mce:37": "2019-10-01..2025-09-30", "aoc": "", "pos": ""}  # only code sets have a span


def test_cli_bad_file_prints_file_and_line_and_exits_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SCRUBBER_DATA_DIR", str(tmp_path / "var"))
    bad = edit_line(PTP, tmp_path / "ccipra-v322r0-f1.txt", 10, lambda s: s.replace("\t0\tCPT", "\tX\tCPT"))
    assert main(["data", "import", "ncci-ptp", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["ccipra-v322r0-f1.txt line 10: modifier indicator 'X' is not 0, 1 or 9",
                                         "nothing was loaded"]
    assert main(["data", "import", "aoc", str(AOC)]) == 0
    assert (tmp_path / "var" / "reference.sqlite").exists()
