"""ICD-10-CM: the CDC/CMS file readers, Excludes1 note parsing, fiscal years and the shipped
baseline (scrubber/refdata/icd10cm.py, scrubber/data/icd10cm/)."""
from __future__ import annotations

import datetime as dt
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

from scrubber.refdata.icd10cm import (
    baseline_paths,
    baseline_years,
    fiscal_year,
    load_baseline_rows,
    parse_excludes1,
    read_for_import,
)
from scrubber.refdata.importers import ImportFileError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "icd10cm"
ORDER = FIXTURES / "icd10cm_order_2026.excerpt.txt"
TABULAR = FIXTURES / "icd10cm_tabular_2026.excerpt.xml"


@lru_cache(maxsize=None)
def baseline(fy: int) -> tuple[dict[str, tuple[int, str]], list[tuple]]:
    codes, excludes = load_baseline_rows(fy)
    return {code: (billable, text) for _, code, billable, text in codes}, excludes


# --- the order file ------------------------------------------------------------------------

def test_order_file_excerpt_rows():
    fy, codes, excludes = read_for_import([ORDER], 2026)
    assert fy == 2026
    assert len(codes) == 100
    assert codes[:5] == [
        (2026, "A00", 0, "Cholera"),
        (2026, "A000", 1, "Cholera due to Vibrio cholerae 01, biovar cholerae"),
        (2026, "A001", 1, "Cholera due to Vibrio cholerae 01, biovar eltor"),
        (2026, "A009", 1, "Cholera, unspecified"),
        (2026, "A01", 0, "Typhoid and paratyphoid fevers"),
    ]
    by_code = {code: (billable, text) for _, code, billable, text in codes}
    # the long description, not the abbreviated short one
    assert by_code["A0472"] == (1, "Enterocolitis due to Clostridium difficile, not specified as recurrent")
    assert by_code["A05"] == (0, "Other bacterial foodborne intoxications, not elsewhere classified")
    assert by_code["A052"] == (1, "Foodborne Clostridium perfringens [Clostridium welchii] intoxication")
    assert by_code["A0100"] == (1, "Typhoid fever, unspecified")
    # CRLF line ends are not part of any field
    assert ORDER.read_bytes().count(b"\r\n") == 100
    assert all(text == text.strip() for _, text in by_code.values())
    # no order file named: the Excludes1 patterns of the shipped FY2026 are kept
    assert excludes == baseline(2026)[1]


def test_order_file_m54_block():
    _, codes, _ = read_for_import([ORDER], 2026)
    m54 = [(code, billable) for _, code, billable, _ in codes if code.startswith("M54")]
    assert m54 == [
        ("M54", 0), ("M540", 0), ("M5400", 1), ("M5401", 1), ("M5402", 1), ("M5403", 1),
        ("M5404", 1), ("M5405", 1), ("M5406", 1), ("M5407", 1), ("M5408", 1), ("M5409", 1),
        ("M541", 0), ("M5410", 1), ("M5411", 1), ("M5412", 1), ("M5413", 1), ("M5414", 1),
        ("M5415", 1), ("M5416", 1), ("M5417", 1), ("M5418", 1), ("M542", 1), ("M543", 0),
        ("M5430", 1), ("M5431", 1), ("M5432", 1), ("M544", 0), ("M5440", 1), ("M5441", 1),
        ("M5442", 1), ("M545", 0), ("M5450", 1), ("M5451", 1), ("M5459", 1), ("M546", 1),
        ("M548", 0), ("M5481", 1), ("M5489", 1), ("M549", 1),
    ]
    texts = {code: text for _, code, _, text in codes}
    assert texts["M5408"] == ("Panniculitis affecting regions of neck and back, sacral and "
                              "sacrococcygeal region")
    assert texts["M5451"] == "Vertebrogenic low back pain"


def test_order_file_lf_line_ends_read_the_same(tmp_path):
    lf = tmp_path / "icd10cm_order_2026.txt"
    lf.write_bytes(ORDER.read_bytes().replace(b"\r\n", b"\n"))
    assert read_for_import([lf])[1] == read_for_import([ORDER], 2026)[1]


def test_fiscal_year_from_the_file_name(tmp_path):
    named = tmp_path / "icd10cm_order_2025.txt"
    named.write_bytes(ORDER.read_bytes())
    assert read_for_import([named])[0] == 2025
    assert read_for_import([named], 2026)[0] == 2026  # the argument wins
    assert read_for_import([str(ORDER)])[0] == 2026   # icd10cm_order_2026.excerpt.txt
    unnamed = tmp_path / "codes.txt"
    unnamed.write_bytes(ORDER.read_bytes())
    with pytest.raises(ImportFileError, match="fiscal year"):
        read_for_import([unnamed])
    assert read_for_import([unnamed], 2026)[1] == read_for_import([ORDER], 2026)[1]


def test_zip_as_downloaded(tmp_path):
    archive = tmp_path / "april-1-2026-code-descriptions-tabular-order.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("Code Descriptions/icd10cm_order_2026.txt", ORDER.read_bytes())
        z.writestr("Code Descriptions/icd10cm_codes_2026.txt", b"A000    Cholera\r\n")
        z.writestr("Code Descriptions/icd10cm_order_addenda_2026.txt", b"Add:  ...\r\n")
    tables = tmp_path / "april-1-2026-code-tables-tabular-and-index.zip"
    with zipfile.ZipFile(tables, "w") as z:
        z.writestr("Table and Index/icd10cm_tabular_2026.xml", TABULAR.read_bytes())
        z.writestr("Table and Index/icd10cm_index_2026.xml", b"<ICD10CM.index/>")
    fy, codes, excludes = read_for_import([archive, tables])
    assert fy == 2026
    assert codes == read_for_import([ORDER], 2026)[1]
    assert excludes == read_for_import([ORDER, TABULAR], 2026)[2]
    empty = tmp_path / "other.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("readme.txt", b"nothing here")
    with pytest.raises(ImportFileError, match="icd10cm_order"):
        read_for_import([empty], 2026)


def _broken(tmp_path: Path, line_number: int, replace: bytes) -> Path:
    lines = ORDER.read_bytes().split(b"\r\n")
    lines[line_number - 1] = replace
    path = tmp_path / "icd10cm_order_2026.txt"
    path.write_bytes(b"\r\n".join(lines))
    return path


@pytest.mark.parametrize("line", [
    b"00003 A001    2 Cholera due to Vibrio cholerae 01, biovar eltor              Cholera",  # flag
    b"00003 A001    1 Cholera",                                                            # short
    b"0000x A001    1 Cholera due to Vibrio cholerae 01, biovar eltor              Cholera",  # order
    b"00003 a0.01   1 Cholera due to Vibrio cholerae 01, biovar eltor              Cholera",  # code
    b"00003 A001   1  Cholera due to Vibrio cholerae 01, biovar eltor              Cholera",  # columns
    b"00003 A001    1 Cholera due to Vibrio cholerae 01, biovar eltor                     ",  # no long
    b"00003 A000    1 Cholera due to Vibrio cholerae 01, biovar eltor              Cholera",  # duplicate
])
def test_malformed_order_line_names_the_line(tmp_path, line):
    path = _broken(tmp_path, 3, line)
    with pytest.raises(ImportFileError) as caught:
        read_for_import([path])
    assert caught.value.line == 3
    assert "icd10cm_order_2026.txt" in str(caught.value) and "line 3" in str(caught.value)


def test_files_that_are_not_an_import(tmp_path):
    with pytest.raises(ImportFileError, match="no ICD-10-CM order file"):
        read_for_import([TABULAR], 2026)
    with pytest.raises(ImportFileError, match="cannot read"):
        read_for_import([tmp_path / "icd10cm_order_2026.txt"])
    bad_xml = tmp_path / "icd10cm_tabular_2026.xml"
    bad_xml.write_text("<ICD10CM.tabular>\n<chapter>\n</ICD10CM.tabular>\n")
    with pytest.raises(ImportFileError) as caught:
        read_for_import([ORDER, bad_xml])
    assert caught.value.line == 3 and "icd10cm_tabular_2026.xml" in str(caught.value)
    other = tmp_path / "icd10cm_order_2025.txt"
    other.write_bytes(ORDER.read_bytes())
    with pytest.raises(ImportFileError, match="disagree"):
        read_for_import([other, TABULAR])


# --- the tabular XML -----------------------------------------------------------------------

def test_tabular_excludes1_rows():
    _, _, excludes = read_for_import([ORDER, TABULAR])
    assert excludes == [
        (2026, "E11", "E08", "E08", "diabetes mellitus due to underlying condition (E08.-)"),
        (2026, "E11", "E09", "E09", "drug or chemical induced diabetes mellitus (E09.-)"),
        (2026, "E11", "E10", "E10", "type 1 diabetes mellitus (E10.-)"),
        (2026, "E11", "E13", "E13", "postpancreatectomy diabetes mellitus (E13.-)"),
        (2026, "E11", "E13", "E13", "postprocedural diabetes mellitus (E13.-)"),
        (2026, "E11", "E13", "E13", "secondary diabetes mellitus NEC (E13.-)"),
        (2026, "E11", "O244", "O244", "gestational diabetes (O24.4-)"),
        # the chapter's note, stored under each category of the chapter
        (2026, "E11", "P70", "P74",
         "transitory endocrine and metabolic disorders specific to newborn (P70-P74)"),
        (2026, "E11", "P702", "P702", "neonatal diabetes mellitus (P70.2)"),
        (2026, "M54", "F4541", "F4541", "psychogenic dorsalgia (F45.41)"),
        # the section's note naming a code; its "current injury - see ..." names none
        (2026, "M54", "M464", "M464", "discitis NOS (M46.4-)"),
        (2026, "M542", "M50", "M50", "cervicalgia due to intervertebral cervical disc disorder (M50.-)"),
        (2026, "M545", "M512", "M512", "lumbago due to intervertebral disc displacement (M51.2-)"),
        (2026, "M545", "M544", "M544", "lumbago with sciatica (M54.4-)"),
        (2026, "M545", "S39012", "S39012", "low back strain (S39.012)"),
    ]  # the Excludes2 note of M54.5 (O26.89-) is not read


# --- Excludes1 notes -----------------------------------------------------------------------

@pytest.mark.parametrize("note, patterns", [
    ("type 1 diabetes mellitus (E10.-)", [("E10", "E10")]),
    ("asthma (J45.-)", [("J45", "J45")]),
    ("(E08-E13)", [("E08", "E13")]),
    ("tuberculosis (A15-A19)", [("A15", "A19")]),
    ("congenital malformations (Q00-Q99)", [("Q00", "Q99")]),
    ("intestinal obstruction with hernia (J45.2-, J45.3-)", [("J452", "J452"), ("J453", "J453")]),
    ("complications of pregnancy (O00-O9A)", [("O00", "O9A")]),
    ("glaucoma suspect (H40.1-H40.2)", [("H401", "H402")]),
    ("drug induced (T36-T65 with fifth or sixth character 1-4 or 6)", []),  # qualified: left out
    ("personal history of pulmonary embolism (Z86.711)", [("Z86711", "Z86711")]),
    ("collagenous colitis (K52.831)", [("K52831", "K52831")]),
    ("allergic gastroenteritis (K52.1)", [("K521", "K521")]),
    ("Human immunodeficiency virus [HIV] disease (B20)", [("B20", "B20")]),
    ("weeks of gestation (Z3A.-)", [("Z3A", "Z3A")]),
    ("ST elevation (I21.0-I21.B, I22.-)", [("I210", "I21B"), ("I22", "I22")]),
    # ends of different lengths are cut to the shorter
    ("spinal instabilities (M43.3-M43.5X9)", [("M433", "M435")]),
    # the odd spacing and punctuation of real notes
    ("acute rheumatic heart disease (I01.0 -I01.9)", [("I010", "I019")]),
    ("benign neoplasm of testis (D29.2.-)", [("D292", "D292")]),
    ("tic disorders (F98.2.-F98.3)", [("F982", "F983")]),
    ("atherosclerosis of bypass graft (I25.70-I25.73-, I25.79-)", [("I2570", "I2573"), ("I2579", "I2579")]),
    ("atherosclerosis of native arteries (I70.2--I70.7-)", [("I702", "I707")]),
    ("pulmonary hypoplasia (P28.3- - P28.4-)", [("P283", "P284")]),
    ("deformities of hip (Q70.0- -Q70.3-)", [("Q700", "Q703")]),
    ("malignant pleural effusion (J91.0))", [("J910", "J910")]),
    ("acquired absence of knee joint (Z89.52-", [("Z8952", "Z8952")]),
    # codes outside parentheses, "to" ranges
    ("congenital (sternomastoid) torticollis Q68.0", [("Q680", "Q680")]),
    ("concussion with other intracranial injuries classified in subcategories S06.1- to S06.6-, "
     "and S06.81- to S06.89-, code to specified intracranial injury", [("S061", "S066"), ("S0681", "S0689")]),
    # a code in the wording is not the excluded code when a parenthesis names one
    ("pneumoconiosis with tuberculosis, any type in A15 (J65)", [("J65", "J65")]),
    # "with .NN" names the characters after the dot in each category of the range
    ("gangrene in diabetes mellitus (E08-E13 with .52)",
     [(f"E{n:02d}52", f"E{n:02d}52") for n in range(8, 14)]),
    ("diabetic (peripheral) angiopathy (E08-E13 with .51-.52)",
     [(f"E{n:02d}51", f"E{n:02d}52") for n in range(8, 14)]),
    ("diabetes mellitus (E08-E13 with .61-)", [(f"E{n:02d}61", f"E{n:02d}61") for n in range(8, 14)]),
    # other qualifiers are ignored: the pattern is broader than the note
    ("leukemia in remission C91.0-C95.9 with 5th character 1", []),
    ("amnestic syndrome due to psychoactive substance use (F10-F19 with 5th character .6)", []),
    ("late effects of cerebrovascular disease (I69. with final characters -20)", []),
    ("diabetic acidosis - see categories E08-E10, E11, E13 with ketoacidosis", []),
    ("specified adverse effects of drugs and medicaments (A00-R94 and T80-T88.6, T88.8)",
     [("A00", "R94"), ("T80", "T88"), ("T888", "T888")]),
    ("mood [affective] disorders with psychotic symptoms (F30.2, F31.2, F31.5, F31.64, F32.3, F33.3)",
     [("F302", "F302"), ("F312", "F312"), ("F315", "F315"), ("F3164", "F3164"), ("F323", "F323"),
      ("F333", "F333")]),
    # no code: words in capitals and parentheses are not codes
    ("bus", []),
    ("current injury - see injury of spine by body region", []),
    ("glucose-6-phosphate dehydrogenase (G6PD) deficiency anemia", []),
    ("C3 glomerulopathy (in)", []),
    ("sport utility vehicle (SUV)", []),
])
def test_parse_excludes1(note, patterns):
    assert parse_excludes1(note) == patterns


def test_parse_excludes1_patterns_are_well_formed():
    for fy in baseline_years():
        for _, code, lo, hi, note in baseline(fy)[1]:
            assert len(lo) == len(hi) >= 3 and lo <= hi and "." not in lo + hi, (code, note)
            assert (lo, hi) in parse_excludes1(note)


# --- fiscal years --------------------------------------------------------------------------

@pytest.mark.parametrize("day, fy", [
    (dt.date(2025, 9, 30), 2025),
    (dt.date(2025, 10, 1), 2026),
    (dt.date(2025, 1, 1), 2025),
    (dt.date(2025, 12, 31), 2026),
    (dt.date(2026, 9, 30), 2026),
    (dt.date(2026, 10, 1), 2027),
])
def test_fiscal_year(day, fy):
    assert fiscal_year(day) == fy


# --- the shipped baseline ------------------------------------------------------------------

def test_baseline_years_and_files():
    assert baseline_years() == [2025, 2026, 2027]
    assert {p.name for p in baseline_paths()} == {
        "fy2025.tsv.gz", "fy2026.tsv.gz", "fy2027.tsv.gz",
        "excludes1_fy2025.tsv.gz", "excludes1_fy2026.tsv.gz", "excludes1_fy2027.tsv.gz"}
    assert load_baseline_rows(1999) == ([], [])


def test_baseline_fy2027_is_the_mce_v44_code_set_with_fy2026_descriptions():
    """FY2027 (scrubber/data/SOURCES.md): the MCE v44 diagnosis codes, 74,879 billable and 23,478
    headers; descriptions carried from FY2026, "description not loaded" for the 192 codes FY2026
    lacks; the FY2026 Excludes1 notes carried over (6,996)."""
    codes, excludes = baseline(2027)
    assert sum(b for b, _ in codes.values()) == 74_879
    assert len(codes) == 98_357
    assert len(excludes) == 6_996
    assert sum(text == "description not loaded (FY2027 code set from MCE v44)" for _, text in codes.values()) == 192
    assert codes["A000"] == baseline(2026)[0]["A000"]


@pytest.mark.parametrize("fy, billable", [(2025, 74_260), (2026, 74_719)])
def test_baseline_counts(fy, billable):
    codes, excludes = baseline(fy)
    assert sum(b for b, _ in codes.values()) == billable  # the counts CMS published
    assert 95_000 < len(codes) < 100_000
    assert 6_000 < len(excludes) < 9_000
    assert all(len(code) <= 7 and "." not in code and text for code, (_, text) in codes.items())
    rows, _ = load_baseline_rows(fy)
    assert rows[0] == (fy, "A00", 0, "Cholera")
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)


def test_baseline_codes_across_2025_10_01():
    fy25, fy26 = baseline(2025)[0], baseline(2026)[0]
    # in both years
    assert fy25["E119"] == fy26["E119"] == (1, "Type 2 diabetes mellitus without complications")
    assert fy25["E11"][0] == fy26["E11"][0] == 0
    assert fy25["M5450"][0] == fy26["M5450"][0] == 1 and fy26["M545"][0] == 0
    # added on 2025-10-01
    assert "E11A" not in fy25
    assert fy26["E11A"] == (1, "Type 2 diabetes mellitus without complications in remission")
    assert "G35A" not in fy25 and fy26["G35A"] == (1, "Relapsing-remitting multiple sclerosis")
    # billable in FY2025, a header in FY2026
    for code in ("G35", "Z5986", "R102", "E7801", "D71"):
        assert fy25[code][0] == 1 and fy26[code][0] == 0, code
    # deleted
    assert fy25["S301XXA"] == (1, "Contusion of abdominal wall, initial encounter")
    assert "S301XXA" not in fy26


def test_baseline_fy2026_matches_the_cdc_order_file_excerpt():
    fy26 = baseline(2026)[0]
    _, codes, _ = read_for_import([ORDER], 2026)
    assert [(code, fy26.get(code)) for _, code, *_ in codes] == \
        [(code, (billable, text)) for _, code, billable, text in codes]


def test_baseline_excludes1():
    for fy in (2025, 2026):
        rows = {(code, lo, hi) for _, code, lo, hi, _ in baseline(fy)[1]}
        assert ("E11", "E10", "E10") in rows            # type 1 diabetes mellitus (E10.-)
        assert ("M545", "M544", "M544") in rows         # lumbago with sciatica (M54.4-)
        assert ("J45", "R062", "R062") in rows          # wheezing NOS (R06.2)
        assert ("F32", "F33", "F33") in rows            # recurrent depressive disorder (F33.-)
