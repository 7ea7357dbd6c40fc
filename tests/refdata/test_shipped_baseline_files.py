"""The complete reference files shipped in scrubber/data, as scripts/build-baseline writes them: their
headers, exact row counts, order, and known rows of the CMS tables they come from (see
scrubber/data/SOURCES.md)."""
from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import pytest

from scrubber.refdata.importers import BASELINE_DIR, DATA_DIR, read_pos

ICD = DATA_DIR / "icd10cm"
NOT_LOADED = "description not loaded (FY2027 code set from MCE v44)"

# file -> (header, rows without the header, the columns its rows are sorted by)
FILES = {
    BASELINE_DIR / "ncci_ptp_hospital_2026q2.tsv.gz":
        (["column1", "column2", "effective", "deletion", "modifier_indicator"], 1_594_456, (1, 0, 2)),
    BASELINE_DIR / "aoc_2026q2.tsv.gz": (["addon", "primary", "edit_type", "effective", "deletion"], 8_556, (0, 1, 3)),
    BASELINE_DIR / "hcpcs_2026q2.tsv.gz":
        (["code", "is_modifier", "description", "add_date", "effective_date", "termination_date"], 9_964, (0,)),
    BASELINE_DIR / "mce_v43_fy2026.tsv.gz": (["version", "edit", "code_type", "code", "description"], 17_978, (2, 3, 1)),
    BASELINE_DIR / "mce_v44_fy2027.tsv.gz": (["version", "edit", "code_type", "code", "description"], 18_043, (2, 3, 1)),
    BASELINE_DIR / "icd10pcs_fy2026.tsv.gz": (["code"], 79_195, (0,)),
    BASELINE_DIR / "icd10pcs_fy2027.tsv.gz": (["code"], 79_256, (0,)),
    ICD / "fy2027.tsv.gz": (["code", "billable", "description"], 98_357, (0,)),
    ICD / "excludes1_fy2027.tsv.gz": (["code", "lo", "hi", "note"], 6_996, (0,)),
    BASELINE_DIR / "pprrvu_2024.tsv.gz":
        (["release", "effective_from", "code", "modifier", "status", "pctc", "global_days", "mult_proc", "bilateral",
          "assistant", "co_surgeon", "team", "endo_base", "imaging_family"], 74_196, (0, 2, 3)),
}

_cache: dict[Path, tuple[list[str], list[str]]] = {}


def lines(path: Path) -> tuple[list[str], list[str]]:
    """Header fields and the other lines of a shipped gzip TSV (read once per test session)."""
    if path not in _cache:
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as text:
            body = text.read().split("\n")
        assert body[-1] == "", f"{path.name} does not end with a line break"
        _cache[path] = body[0].split("\t"), body[1:-1]
    return _cache[path]


def read(path: Path) -> tuple[list[str], list[list[str]]]:
    header, body = lines(path)
    return header, [line.split("\t") for line in body]


def rows_of(path: Path, first: str) -> list[list[str]]:
    return [line.split("\t") for line in lines(path)[1] if line.startswith(first + "\t")]


@pytest.mark.parametrize("path", [p for p in FILES if p.name != "ncci_ptp_hospital_2026q2.tsv.gz"],
                         ids=lambda p: p.name)
def test_header_row_count_order_and_no_comment_lines(path):
    header, count, key = FILES[path]
    got_header, rows = read(path)
    assert got_header == header
    assert len(rows) == count
    assert all(len(row) == len(header) for row in rows)
    assert not any(row[0].startswith("#") for row in rows)
    keys = [tuple(row[i] for i in key) for row in rows]
    assert keys == sorted(keys), f"{path.name} is not sorted"


def test_hospital_ptp_layout_order_and_rows_in_force_in_2026q2():
    """1.6M lines, checked on the text: fixed-width codes and dates let slices stand for columns."""
    path = BASELINE_DIR / "ncci_ptp_hospital_2026q2.tsv.gz"
    header, body = lines(path)
    assert header == FILES[path][0] and len(body) == FILES[path][1]
    assert re.fullmatch(r"(?:[0-9A-Z]{5}\t[0-9A-Z]{5}\t\d{8}\t(?:\d{8})?\t[01]\n)*", "\n".join(body) + "\n")
    keys = [line[6:11] + line[:5] + line[12:20] for line in body]  # column2, column1, effective
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    in_force = sum(1 for line in body if line[12:20] <= "20260401" and (line[21] == "\t" or line[21:29] >= "20260401"))
    assert in_force == 1_401_094
    assert [r for r in rows_of(path, "0007U") if r[1] == "0328U"] == [  # the indicator changed in 2023Q3
        ["0007U", "0328U", "20230101", "20230630", "0"], ["0007U", "0328U", "20230701", "", "1"]]


def test_add_on_codes_of_all_three_types():
    _, rows = read(BASELINE_DIR / "aoc_2026q2.tsv.gz")
    assert sorted({r[2] for r in rows}) == ["1", "2", "3"]
    assert sum(1 for r in rows if r[2] == "2") == 44 and all(r[1] == "" for r in rows if r[2] == "2")
    assert ["99417", "99205", "1", "20210101", ""] in rows_of(BASELINE_DIR / "aoc_2026q2.tsv.gz", "99417")
    assert rows_of(BASELINE_DIR / "aoc_2026q2.tsv.gz", "0054T") == [["0054T", "", "2", "20190701", ""]]


def test_hcpcs_old_codes_undated_new_codes_dated_and_modifiers_from_october_2026():
    path = BASELINE_DIR / "hcpcs_2026q2.tsv.gz"
    assert rows_of(path, "A0021") == [
        ["A0021", "0", "Ambulance service, outside state per mile, transport (medicaid only)", "", "", ""]]
    assert rows_of(path, "A4287") == [["A4287", "0", "Disp col sto bag breast milk", "20240101", "", ""]]
    assert rows_of(path, "J0693") == [["J0693", "0", "Injection, cefiderocol, 5 mg", "20210101", "", "20210930"]]
    jg = "Drug or biological acquired with 340b drug pricing program discount, reported for informational purposes"
    assert rows_of(path, "JG") == [["JG", "1", jg, "20180101", "20250101", "20241231"]]
    assert rows_of(path, "A1") == [["A1", "1", "Dressing for one wound", "20020701", "20020701", ""]]


def test_mce_by_version_without_the_sex_edits_cms_removed_in_fy2025():
    for version, path in (("43", BASELINE_DIR / "mce_v43_fy2026.tsv.gz"), ("44", BASELINE_DIR / "mce_v44_fy2027.tsv.gz")):
        _, rows = read(path)
        assert {r[0] for r in rows} == {version} and {r[4] for r in rows} == {""}
        edits = {r[1] for r in rows}
        assert {"Maternity_Only", "Principal_Unacceptable", "Noncovered_Always"} <= edits
        assert not edits & {"Female_Only", "Male_Only"}
        assert [version, "Noncovered_Sterilization", "D", "Z302", ""] in rows
        assert [version, "Noncovered_Over60", "P", "0SR20JZ", ""] in rows


def test_icd10cm_fy2027_from_mce_v44():
    path = ICD / "fy2027.tsv.gz"
    _, rows = read(path)
    assert sum(1 for r in rows if r[1] == "1") == 74_879
    codes = {r[0]: r for r in rows}
    assert codes["F64A"] == ["F64A", "1", NOT_LOADED]  # new in FY2027
    assert codes["A000"] == ["A000", "1", "Cholera due to Vibrio cholerae 01, biovar cholerae"]
    assert codes["D691"] == ["D691", "0", "Qualitative platelet defects"]  # billable in FY2026, expanded
    assert codes["K6A"] == ["K6A", "0", NOT_LOADED]  # a new category
    assert "S23420A" not in codes  # deleted 2026-09-30
    _, notes = read(ICD / "excludes1_fy2027.tsv.gz")
    assert all(n[3].startswith("(FY2026 tabular) ") for n in notes)


def test_icd10pcs_by_fiscal_year():
    fy2026 = {r[0] for r in read(BASELINE_DIR / "icd10pcs_fy2026.tsv.gz")[1]}
    fy2027 = {r[0] for r in read(BASELINE_DIR / "icd10pcs_fy2027.tsv.gz")[1]}
    assert "30233AZ" in fy2026 and "30233AZ" not in fy2027  # ended 2026-03-31
    assert "0016070" in fy2026 and "0016070" in fy2027


def test_place_of_service_current_list_reads_with_the_importer():
    rows = {r.code: r.description for r in read_pos(DATA_DIR / "place_of_service_2026.csv")}
    assert len(rows) == 52
    assert rows["27"] == "Outreach Site/Street"
    assert rows["66"] == "Programs of All-Inclusive Care for the Elderly (PACE) Center"
    with open(DATA_DIR / "place_of_service_2026.csv", encoding="ascii", newline="") as f:
        settings = {r["code"]: r["setting"] for r in csv.DictReader(f)}
    assert (settings["11"], settings["21"]) == ("non-facility", "facility")


def test_cpt_notice_ships_beside_the_cpt_keyed_files():
    notice = (BASELINE_DIR / "NOTICE-CPT.txt").read_text(encoding="utf-8")
    assert notice.startswith("CPT codes, descriptions and other data only are copyright American Medical Association.")
    assert "ncci_ptp_hospital_2026q2.tsv.gz" in notice and "aoc_2026q2.tsv.gz" in notice
    assert "pprrvu_2024.tsv.gz" in notice


def test_pprrvu_2024_has_the_four_releases_without_descriptions():
    """The CY2024 PFS Relative Value file: RVU24A, RVU24AR, RVU24B and RVU24C with their first days; codes and
    indicators only (no CPT descriptor column)."""
    header, rows = read(BASELINE_DIR / "pprrvu_2024.tsv.gz")
    releases: dict[tuple[str, str], int] = {}
    for row in rows:
        releases[(row[0], row[1])] = releases.get((row[0], row[1]), 0) + 1
    assert releases == {("RVU24A", "20240101"): 18_499, ("RVU24AR", "20240309"): 18_499,
                        ("RVU24B", "20240401"): 18_534, ("RVU24C", "20240701"): 18_664}
    assert "description" not in header
    assert rows_of(BASELINE_DIR / "pprrvu_2024.tsv.gz", "RVU24C\t20240701\t27447") == [
        ["RVU24C", "20240701", "27447", "", "A", "0", "090", "2", "1", "2", "1", "0", "", "99"]]
