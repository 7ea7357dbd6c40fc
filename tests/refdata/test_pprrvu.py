"""The PFS Relative Value file (PPRRVU): the shipped 2024 baseline through ReferenceData.fee_schedule, releases
chosen by date, and `scrubber data import pprrvu` on the real October 2025 excerpt (tests/fixtures/cms, see
SOURCES.md there) in the CMS CSV layout, as the RVU zip as downloaded, and refused when a row is bad."""
from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest

from scrubber.cli import main
from scrubber.refdata.errors import DataImportError, ImportFileError
from scrubber.refdata.freshness import freshness_of_all
from scrubber.refdata.importers import import_files, read_pprrvu, release_from_name
from scrubber.refdata.store import ReferenceData, database_path, datasets

EXCERPT = Path(__file__).parents[1] / "fixtures" / "cms" / "PPRRVU2025_Oct.excerpt.nodesc.csv"
EXCERPT_ROWS = 37
D = dt.date.fromisoformat
LATE = D("2026-02-15")  # after the newest shipped release (RVU24C): judged by it

# Title, notice and the first header row of the CMS CSV, above the excerpt's header row (the excerpt
# starts at the last header row); the header rows are read by position, not by name.
CMS_TOP = ('"2025 National Physician Fee Schedule Relative Value File October Release",,,\n'
           '"CPT codes and descriptions only are copyright 2024 American Medical Association. All Rights '
           'Reserved.",,,\n'
           ',,,STATUS,NOT USED FOR MEDICARE,WORK,NON-FAC,NON-FAC,FACILITY,FACILITY,MP,NON-FACILITY,FACILITY,PCTC,'
           'GLOB,PRE,INTRA,POST,MULT,BILAT,ASST,CO-,TEAM,ENDO,CONV,PHYSICIAN SUPERVISION OF DIAGNOSTIC,CALCULATION,'
           'DIAGNOSTIC IMAGING FAMILY,NON-FACILITY PE USED FOR OPPS PAYMENT,FACILITY PE USED FOR OPPS PAYMENT,'
           'MP USED FOR OPPS PAYMENT\n')


def facts(entry) -> tuple:
    return (entry.status, entry.pctc, entry.global_days, entry.mult_proc, entry.bilateral, entry.assistant,
            entry.co_surgeon, entry.team, entry.endo_base, entry.imaging_family)


@pytest.fixture()
def own_data(data_dir, tmp_path) -> Path:
    """A copy of the session's reference database (the shipped baseline), to import into."""
    shutil.copy(database_path(data_dir), database_path(tmp_path))
    return tmp_path


def excerpt_line(number: int) -> str:
    return EXCERPT.read_text(encoding="utf-8").splitlines()[number - 1]


def edited(tmp_path: Path, number: int, column: int, value: str, name: str = "PPRRVU2025_Oct.csv") -> Path:
    """The excerpt with field `column` (0-based) of line `number` set to `value`."""
    lines = EXCERPT.read_text(encoding="utf-8").splitlines()
    fields = lines[number - 1].split(",")
    fields[column] = value
    lines[number - 1] = ",".join(fields)
    out = tmp_path / name
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def pprrvu_rows(data: Path, release: str) -> list[tuple]:
    conn = sqlite3.connect(database_path(data))
    try:
        return conn.execute("SELECT * FROM pprrvu WHERE release=? ORDER BY code, modifier", (release,)).fetchall()
    finally:
        conn.close()


# --- the shipped 2024 baseline -----------------------------------------------------------------

@pytest.mark.parametrize("code, modifier, expected", [
    # status, PC/TC, global, mult proc, bilateral, assistant, co-surgeon, team, endo base, imaging family
    ("99213", "", ("A", "0", "XXX", "0", "0", "0", "0", "0", None, "99")),
    ("93010", "", ("A", "2", "XXX", "0", "0", "0", "0", "0", None, "99")),
    ("71046", "26", ("A", "1", "XXX", "0", "0", "0", "0", "0", None, "99")),
    ("71046", "TC", ("A", "1", "XXX", "0", "0", "0", "0", "0", None, "99")),
    ("77067", "", ("A", "1", "XXX", "0", "2", "0", "0", "0", None, "99")),
    ("27447", "", ("A", "0", "090", "2", "1", "2", "1", "0", None, "99")),
    ("33945", "", ("R", "0", "090", "2", "0", "2", "1", "2", None, "99")),
    ("99417", "", ("I", "9", "ZZZ", "9", "9", "9", "9", "9", None, "99")),
    ("87880", "", ("X", "9", "XXX", "9", "9", "9", "9", "9", None, "99")),
    ("10060", "", ("A", "0", "010", "2", "0", "1", "0", "0", None, "99")),
    ("45380", "", ("A", "0", "000", "3", "0", "1", "0", "0", "45378", "99")),
])
def test_shipped_baseline_rows_of_the_newest_release(reference, code, modifier, expected):
    entry = reference.fee_schedule(code, LATE, modifier)
    assert (entry.code, entry.modifier, entry.release) == (code, modifier, "RVU24C")
    assert (entry.effective_from, entry.effective_to) == (D("2024-07-01"), None)
    assert facts(entry) == expected


def test_modifier_rows_and_codes_not_in_the_file(reference):
    assert reference.fee_schedule_modifiers("71046", LATE) == ("26", "TC")
    assert reference.fee_schedule_modifiers("45378", LATE) == ("53",)
    assert reference.fee_schedule_modifiers("99213", LATE) == ()
    assert reference.fee_schedule("99213", LATE, "26") is None
    assert reference.fee_schedule("ZZ999", LATE) is None
    assert reference.fee_schedule("71046", LATE).status_meaning.startswith("active code")
    assert reference.fee_schedule("99213", LATE) is reference.fee_schedule("99213", LATE)  # cached


@pytest.mark.parametrize("day, release, ends", [
    ("2024-01-01", "RVU24A", "2024-03-08"), ("2024-03-08", "RVU24A", "2024-03-08"),
    ("2024-03-09", "RVU24AR", "2024-03-31"), ("2024-03-31", "RVU24AR", "2024-03-31"),
    ("2024-04-01", "RVU24B", "2024-06-30"), ("2024-07-01", "RVU24C", None), ("2026-02-15", "RVU24C", None),
])
def test_the_release_in_force_on_a_date_and_the_newest_after_it(reference, day, release, ends):
    assert reference.fee_schedule_release(D(day)) == release
    entry = reference.fee_schedule("99213", D(day))
    assert (entry.release, entry.effective_to) == (release, D(ends) if ends else None)


def test_before_the_oldest_release_there_is_no_fee_schedule(reference):
    assert reference.fee_schedule_release(D("2023-12-31")) is None
    assert reference.fee_schedule("99213", D("2023-12-31")) is None


def test_a_row_is_read_from_the_release_of_the_date(reference):
    # 0640T: PC/TC 4 and no imaging family in RVU24B, PC/TC 1 and family 88 from RVU24C; J2780 went from E to I
    assert facts(reference.fee_schedule("0640T", D("2024-06-30")))[1::8] == ("4", "99")
    assert facts(reference.fee_schedule("0640T", D("2024-07-01")))[1::8] == ("1", "88")
    assert (reference.fee_schedule("J2780", D("2024-06-30")).status,
            reference.fee_schedule("J2780", D("2024-07-01")).status) == ("E", "I")
    # G0138 was added in RVU24B
    assert reference.fee_schedule("G0138", D("2024-03-31")) is None
    assert reference.fee_schedule("G0138", D("2024-04-01")).release == "RVU24B"


def test_baseline_releases_are_datasets_and_only_the_newest_can_be_stale(reference):
    loaded = [d for d in reference.datasets() if d.kind == "pprrvu"]
    assert [(d.name, d.rows, d.detail) for d in loaded] == [
        ("pprrvu:RVU24A", 18499, "RVU24A from 2024-01-01"), ("pprrvu:RVU24AR", 18499, "RVU24AR from 2024-03-09"),
        ("pprrvu:RVU24B", 18534, "RVU24B from 2024-04-01"), ("pprrvu:RVU24C", 18664, "RVU24C from 2024-07-01")]
    fresh = {f.name: f for f in freshness_of_all(loaded, D("2026-02-15"))}
    newest = fresh["pprrvu:RVU24C"]
    assert (newest.release, newest.release_start, newest.cycle, newest.stale, newest.stale_since, newest.age_days) \
        == ("RVU24C", D("2024-07-01"), "quarterly", True, D("2024-10-01"), 594)
    assert fresh["pprrvu:RVU24AR"].release_start == D("2024-03-09")
    assert [fresh[n].stale for n in ("pprrvu:RVU24A", "pprrvu:RVU24AR", "pprrvu:RVU24B")] == [False, False, False]


def test_data_status_says_the_2024_file_is_stale(data_dir, capsys):
    assert main(["data", "status", "--data-dir", data_dir]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines["pprrvu:RVU24C"][:3] == ["pprrvu:RVU24C", lines["pprrvu:RVU24C"][1], "18664"]
    assert lines["pprrvu:RVU24C"][5] == "RVU24C"
    assert " ".join(lines["pprrvu:RVU24C"][7:10]) == "yes (since 2024-10-01)"
    assert lines["pprrvu:RVU24B"][7] == "no"


# --- importing the October 2025 excerpt --------------------------------------------------------

def test_release_names():
    assert [release_from_name(n) for n in ("PPRRVU2025_Oct.excerpt.nodesc.csv", "PPRRVU25_OCT.csv", "RVU25D.zip",
                                           "rvu24ar_jan", "RVU24A.zip", "PPRRVU24_JAN.csv", "pprrvu.csv")] == [
        "RVU25D", "RVU25D", "RVU25D", "RVU24AR", "RVU24A", "RVU24A", None]


def test_the_october_2025_excerpt_is_release_rvu25d_and_judges_later_dates(own_data):
    report = import_files("pprrvu", [EXCERPT], own_data)
    assert (report.dataset, report.rows, report.files, report.detail) == (
        "pprrvu:RVU25D", EXCERPT_ROWS, [EXCERPT.name], "RVU25D from 2025-10-01")
    ref = ReferenceData(database_path(own_data))
    assert [r for _, r, _ in ref.fee_schedule_releases] == ["RVU24A", "RVU24AR", "RVU24B", "RVU24C", "RVU25D"]
    assert ref.fee_schedule_release(D("2025-09-30")) == "RVU24C"
    assert ref.fee_schedule_release(D("2025-10-01")) == ref.fee_schedule_release(LATE) == "RVU25D"
    # the newer release ends the one before it
    assert ref.fee_schedule("99213", D("2025-09-30")).effective_to == D("2025-09-30")
    entry = ref.fee_schedule("27447", LATE)
    assert (entry.release, entry.effective_from, entry.effective_to) == ("RVU25D", D("2025-10-01"), None)
    assert facts(entry) == ("A", "0", "090", "2", "1", "2", "1", "0", None, "99")
    assert facts(ref.fee_schedule("45378", LATE, "53"))[:3] == ("A", "0", "000")
    assert facts(ref.fee_schedule("J9271", LATE))[0] == "E"
    assert ref.fee_schedule_modifiers("73560", LATE) == ("26", "TC")
    # a code the excerpt lacks is not in RVU25D, though RVU24C has it
    assert ref.fee_schedule("99215", LATE) is None
    assert ref.fee_schedule("99215", D("2025-09-30")).release == "RVU24C"
    # the shipped releases stay
    assert len(pprrvu_rows(own_data, "RVU24C")) == 18664


def test_status_lists_the_imported_release_as_the_newest(own_data, capsys):
    import_files("pprrvu", [EXCERPT], own_data)
    assert main(["data", "status", "--data-dir", str(own_data)]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines["pprrvu:RVU25D"][1:4] == ["import", "37", EXCERPT.name]
    assert lines["pprrvu:RVU25D"][5] == "RVU25D"
    assert " ".join(lines["pprrvu:RVU25D"][7:10]) == "yes (since 2026-01-01)"
    assert lines["pprrvu:RVU24C"][7] == "no"  # superseded by RVU25D: kept for 2024-2025 claims, never stale


def test_cms_layout_with_title_rows_and_a_two_row_header_and_the_zip_as_downloaded(own_data, tmp_path):
    plain = [r.table_row() for r in read_pprrvu(EXCERPT)]
    assert len(plain) == EXCERPT_ROWS
    published = tmp_path / "PPRRVU25_OCT.csv"
    published.write_bytes((CMS_TOP + EXCERPT.read_text(encoding="utf-8")).replace("\n", "\r\n").encode())
    rows = list(read_pprrvu(published))
    assert [r.table_row() for r in rows] == plain
    assert (rows[0].where.line, rows[0].code) == (5, "00400")  # after 2 title rows and the 2 header rows
    archive = tmp_path / "rvu25d.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("GPCI2025.csv", "Medicare Administrative Contractor,State,Locality Number\n")
        z.writestr("ANES2025.csv", "Contractor,Locality,Locality Name,Conversion Factor\n")
        z.writestr("PPRRVU25_OCT.csv", published.read_bytes())
        z.writestr("RVU25D_readme.txt", "not read")
    report = import_files("pprrvu", [archive], own_data)
    assert (report.dataset, report.rows, report.files) == ("pprrvu:RVU25D", EXCERPT_ROWS,
                                                           ["rvu25d.zip:PPRRVU25_OCT.csv"])
    assert [row[:13] for row in pprrvu_rows(own_data, "RVU25D")] == sorted(plain, key=lambda r: (r[1], r[2]))


def test_a_zip_without_the_rvu_csv_is_refused(tmp_path):
    archive = tmp_path / "RVU25D.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("GPCI2025.csv", "Medicare Administrative Contractor,State\n")
    with pytest.raises(ImportFileError, match=r"RVU25D.zip: the zip holds no PPRRVU\*.csv"):
        import_files("pprrvu", [archive], tmp_path)


@pytest.mark.parametrize("line, column, value, message", [
    (9, 3, "Q", "line 9: column 4 (STATUS CODE): 'Q' is not a PFS status code (A B C D E F G H I J M N P R T X)"),
    (3, 14, "020", ("line 3: column 15 (GLOB DAYS): '020' is not a global surgery period "
                    "(000 010 090 MMM XXX YYY ZZZ)")),
    (7, 19, "4", "line 7: column 20 (BILAT SURG): '4' is not a bilateral surgery indicator (0 1 2 3 9)"),
    (7, 13, "", "line 7: column 14 (PCTC IND): '' is not a PC/TC indicator (0 1 2 3 4 5 6 7 8 9)"),
    (17, 1, "2-", "line 17: column 2 (MOD): modifier '2-' is not blank or two letters/digits"),
    (17, 27, "12", ("line 17: column 28 (DIAGNOSTIC IMAGING FAMILY INDICATOR): '12' is not a diagnostic imaging "
                    "family indicator (01-11, 88, 99)")),
    (5, 5, "1.o1", "line 5: column 6 (WORK RVU): '1.o1' is not a number"),
    (2, 0, "0040", "line 2: column 1 (HCPCS): code '0040' is not a 5-character CPT/HCPCS code"),
])
def test_a_bad_row_is_refused_with_its_line_and_column_and_the_previous_data_kept(own_data, tmp_path, line, column,
                                                                                   value, message):
    import_files("pprrvu", [EXCERPT], own_data)
    before = pprrvu_rows(own_data, "RVU25D")
    loaded_at = [d.loaded_at for d in datasets(sqlite3.connect(database_path(own_data))) if d.name == "pprrvu:RVU25D"]
    bad = edited(tmp_path, line, column, value)
    with pytest.raises(ImportFileError) as raised:
        import_files("pprrvu", [bad], own_data)
    assert str(raised.value) == f"PPRRVU2025_Oct.csv {message}"
    assert (raised.value.path, raised.value.line) == ("PPRRVU2025_Oct.csv", line)
    assert pprrvu_rows(own_data, "RVU25D") == before
    assert [d.loaded_at for d in datasets(sqlite3.connect(database_path(own_data)))
            if d.name == "pprrvu:RVU25D"] == loaded_at


def test_a_bad_first_import_loads_nothing(tmp_path):
    bad = edited(tmp_path, 20, 3, "Z")
    with pytest.raises(ImportFileError, match="line 20: column 4"):
        import_files("pprrvu", [bad], tmp_path / "var")
    assert not database_path(tmp_path / "var").exists()


def test_a_code_and_modifier_twice_in_a_release_is_refused_with_both_lines(own_data, tmp_path):
    dup = tmp_path / "PPRRVU2025_Oct.csv"
    dup.write_text(EXCERPT.read_text(encoding="utf-8") + excerpt_line(18) + "\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"line 39: same release, code and modifier as PPRRVU2025_Oct.csv "
                                              r"line 18: RVU25D 71046 26"):
        import_files("pprrvu", [dup], own_data)


def test_release_and_effective_from_options(own_data, tmp_path):
    unnamed = tmp_path / "physician-fees.csv"
    unnamed.write_bytes(EXCERPT.read_bytes())
    with pytest.raises(ImportFileError, match="cannot tell the PPRRVU release from the file name .*pass --release"):
        import_files("pprrvu", [unnamed], own_data)
    with pytest.raises(ImportFileError, match="RVU25AR is a correction release.*pass --effective"):
        import_files("pprrvu", [unnamed], own_data, release="rvu25ar")
    with pytest.raises(DataImportError, match="--release 'RVU25' is not a PPRRVU release name"):
        import_files("pprrvu", [unnamed], own_data, release="RVU25")
    report = import_files("pprrvu", [unnamed], own_data, release="RVU25AR", effective="2025-01-15")
    assert (report.dataset, report.detail) == ("pprrvu:RVU25AR", "RVU25AR from 2025-01-15")
    ref = ReferenceData(database_path(own_data))
    assert (ref.fee_schedule_release(D("2025-01-14")), ref.fee_schedule_release(D("2025-01-15"))) == \
        ("RVU24C", "RVU25AR")
    with pytest.raises(DataImportError, match="--release applies to pprrvu only"):
        import_files("pos", [unnamed], own_data, release="RVU25D")


def test_cli_imports_pprrvu_with_its_release(own_data, capsys):
    assert main(["data", "import", "pprrvu", str(EXCERPT), "--data-dir", str(own_data)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"pprrvu:RVU25D: 37 rows from {EXCERPT.name} (RVU25D from 2025-10-01)",
        "pprrvu:RVU25D: recorded as an excerpt, a whole CMS table of this kind has at least 15,000 rows: a code or "
        "NPI it does not list is not checked against it (its silence is not a pass)"]


def test_cli_bad_pprrvu_file_says_line_and_column_and_loads_nothing(own_data, tmp_path, capsys):
    bad = edited(tmp_path, 9, 3, "Q")
    assert main(["data", "import", "pprrvu", str(bad), "--data-dir", str(own_data)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        ("PPRRVU2025_Oct.csv line 9: column 4 (STATUS CODE): 'Q' is not a PFS status code "
         "(A B C D E F G H I J M N P R T X)"), "nothing was loaded"]
    assert pprrvu_rows(own_data, "RVU25D") == []


def test_the_normalised_csv_with_several_releases(own_data, tmp_path):
    header = ("source_file,date_start,date_end,hcpcs,mod,status_code,not_used_for_medicare_payment,work_rvu,"
              "non_fac_pe_rvu,non_fac_indicator,facility_pe_rvu,facility_indicator,mp_rvu,non_facility_total,"
              "facility_total,pctc_ind,glob_days,pre_op,intra_op,post_op,mult_proc,bilat_surg,asst_surg,co_surg,"
              "team_surg,endo_base,conv_factor,physician_supervision_of_diagnostic_procedures,calculation_flag,"
              "diagnostic_imaging_family_indicator,non_facility_pe_used_for_opps_payment_amount,"
              "facility_pe_used_for_opps_payment_amount,mp_used_for_opps_payment_amount")
    row = ",99213,,A,,1.3,1.35,,0.57,,0.1,2.75,1.97,0,XXX,0.0,0.0,0.0,0,0,0,0,0,,32.7442,09,0,99,0.0,0.0,0.0"
    path = tmp_path / "pprrvu_2025.csv"
    path.write_text("\n".join([header, "rvu25a_jan,2025-01-01,2025-03-31" + row,
                               "rvu25b_apr,2025-04-01,2025-06-30" + row,
                               "rvu25b_apr,2025-04-02,2025-06-30" + row.replace("99213", "99214")]) + "\n")
    with pytest.raises(ImportFileError, match="line 4: column date_start: RVU25B starts on 2025-04-01 at "
                                              "pprrvu_2025.csv line 3, here on 2025-04-02"):
        import_files("pprrvu", [path], own_data)
    path.write_text(path.read_text().replace("2025-04-02", "2025-04-01"))
    with pytest.raises(DataImportError, match="names its releases"):
        import_files("pprrvu", [path], own_data, release="RVU25B")
    report = import_files("pprrvu", [path], own_data)
    assert (report.dataset, report.rows, report.detail) == (
        "pprrvu:RVU25A, pprrvu:RVU25B", 3, "RVU25A from 2025-01-01; RVU25B from 2025-04-01")
    ref = ReferenceData(database_path(own_data))
    assert ref.fee_schedule("99214", D("2025-03-31")) is None
    assert ref.fee_schedule("99214", D("2025-04-01")).release == "RVU25B"


# --- the fixed-width TXT (RVU file layout positions, ../shared/data/cms-baseline/policy/RVU25D_layout...) -----

# CSV column of the excerpt (0-based) -> first and last position of the field in the fixed-width TXT, as the
# RVU file layout gives them (every field but "not used for Medicare payment", which the TXT lacks).
TXT_LAYOUT = {
    0: (1, 5), 1: (6, 7), 2: (8, 57), 3: (58, 58), 5: (60, 65), 6: (67, 72), 7: (73, 74), 8: (76, 81), 9: (82, 83),
    10: (85, 89), 11: (91, 96), 12: (97, 102), 13: (103, 103), 14: (104, 106), 15: (107, 109), 16: (110, 112),
    17: (113, 115), 18: (116, 116), 19: (117, 117), 20: (118, 118), 21: (119, 119), 22: (120, 120),
    23: (128, 132), 24: (133, 140), 25: (142, 143), 26: (144, 144), 27: (146, 147), 28: (152, 157), 29: (159, 164)}
TXT_HDR = "HDR CPT codes and descriptions only are copyright 2024 AMA."


def txt_record(csv_line: str) -> str:
    """An excerpt row as a fixed-width record: numbers right-aligned, the rest left-aligned, percentages as .99."""
    fields = csv_line.split(",")
    record = [" "] * 164
    for column, (first, last) in TXT_LAYOUT.items():
        value = fields[column].removeprefix("0") if column in (15, 16, 17) else fields[column]
        width = last - first + 1
        assert len(value) <= width, (column, value)
        record[first - 1:last] = value.rjust(width) if "." in value else value.ljust(width)
    return "".join(record).rstrip()


def txt_file(tmp_path: Path, name: str = "PPRRVU25_OCT.txt", bad_line: int | None = None) -> Path:
    """The excerpt as the fixed-width TXT: the HDR record on line 1, then excerpt line n on line n;
    `bad_line`: that record's status code set to Q."""
    records = [txt_record(line) for line in EXCERPT.read_text(encoding="utf-8").splitlines()[1:]]
    if bad_line is not None:
        records[bad_line - 2] = records[bad_line - 2][:57] + "Q" + records[bad_line - 2][58:]
    out = tmp_path / name
    out.write_bytes(("\r\n".join([TXT_HDR, *records]) + "\r\n").encode())
    return out


def test_the_fixed_width_txt_gives_the_rows_of_the_csv(tmp_path):
    plain = [r.table_row() for r in read_pprrvu(EXCERPT)]
    rows = list(read_pprrvu(txt_file(tmp_path)))
    assert [r.table_row() for r in rows] == plain
    assert len(rows) == EXCERPT_ROWS and {r.effective_from for r in rows} == {D("2025-10-01")}
    assert (rows[0].where.line, rows[0].code, rows[0].release) == (2, "00400", "RVU25D")  # after the HDR record
    knee = next(r for r in rows if r.code == "27447")
    assert (knee.status, knee.pctc, knee.global_days, knee.mult_proc, knee.bilateral, knee.assistant,
            knee.co_surgeon, knee.team) == ("A", "0", "090", "2", "1", "2", "1", "0")


def test_a_zip_with_only_the_txt_is_read_and_the_csv_is_preferred(own_data, tmp_path):
    txt = txt_file(tmp_path)
    only_txt = tmp_path / "RVU25D.zip"
    with zipfile.ZipFile(only_txt, "w") as z:
        z.writestr("PPRRVU25_OCT.txt", txt.read_bytes())
        z.writestr("GPCI2025.txt", "not read")
    report = import_files("pprrvu", [only_txt], own_data)
    assert (report.dataset, report.rows, report.files) == ("pprrvu:RVU25D", EXCERPT_ROWS,
                                                           ["RVU25D.zip:PPRRVU25_OCT.txt"])
    both = tmp_path / "rvu25d.zip"
    with zipfile.ZipFile(both, "w") as z:
        z.writestr("PPRRVU25_OCT.csv", EXCERPT.read_bytes())
        z.writestr("PPRRVU25_OCT.txt", txt.read_bytes())
    assert import_files("pprrvu", [both], own_data).files == ["rvu25d.zip:PPRRVU25_OCT.csv"]


def test_a_bad_txt_record_is_refused_with_its_line_and_positions(own_data, tmp_path):
    import_files("pprrvu", [EXCERPT], own_data)
    before = pprrvu_rows(own_data, "RVU25D")
    with pytest.raises(ImportFileError) as raised:
        import_files("pprrvu", [txt_file(tmp_path, bad_line=9)], own_data)
    assert str(raised.value) == ("PPRRVU25_OCT.txt line 9: position 58 (Status Code): 'Q' is not a PFS status "
                                 "code (A B C D E F G H I J M N P R T X)")
    csv_named_txt = tmp_path / "PPRRVU25_OCT_csv.txt"
    csv_named_txt.write_bytes(EXCERPT.read_bytes())
    with pytest.raises(ImportFileError, match=r"PPRRVU25_OCT_csv.txt line 1: a record of \d+ characters: the "
                                              r"fixed-width RVU file layout .* \(a CSV named .txt\?\)"):
        import_files("pprrvu", [csv_named_txt], own_data)
    assert pprrvu_rows(own_data, "RVU25D") == before
