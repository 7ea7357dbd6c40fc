"""`scrubber data update` (scrubber/refdata/update.py) against a local HTTP server and a local folder serving
the CMS excerpts of tests/fixtures/cms zipped as CMS publishes them, including every failure that must leave
the previous data in force."""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import http.server
import io
import json
import shutil
import socket
import sqlite3
import threading
import zipfile
from pathlib import Path

import pytest
import yaml

from scrubber.cli import main
from scrubber.refdata.importers import import_files
from scrubber.refdata.store import ReferenceData, database_path
from scrubber.refdata.update import CATALOGUE_PATH, load_catalogue, read_provenance, resolve

CMS = Path(__file__).parents[1] / "fixtures" / "cms"
AS_OF = "2026-08-15"  # 2026Q3: the quarter of the PTP and MUE excerpts
PTP_ZIP = "medicare-ncci-2026q3-practitioner-ptp-edits-ccipra-v322r0-f{n}.zip"
MUE_ZIP = "medicare-ncci-2026-q3-practitioner-services-mue-table.zip"
MUE_CSV = "MCR_MUE_PractitionerServices_Eff_07-01-2026.csv"


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def ptp_files() -> dict[str, bytes]:
    """The 154-edit practitioner excerpt split over f1..f4 as CMS splits the table, each file with the
    notice, title and header lines."""
    lines = (CMS / "ncci_ptp_practitioner_2026q3.excerpt.txt").read_bytes().split(b"\r\n")
    head, rows = lines[:6], [line for line in lines[6:] if line]
    assert len(rows) == 154
    parts = [rows[i * 40:(i + 1) * 40] for i in range(4)]
    return {PTP_ZIP.format(n=n): zipped({f"ccipra-v322r0-f{n}.TXT": b"\r\n".join(head + part) + b"\r\n"})
            for n, part in enumerate(parts, 1)}


def mue_csv(keep: int | None = None) -> bytes:
    records = (CMS / "mue_practitioner_2026-07-01.excerpt.csv").read_bytes().split(b"\r\n")
    head, rows = records[:2], [r for r in records[2:] if r]
    assert len(rows) == 44
    return b"\r\n".join(head + rows[:keep]) + b"\r\n"


def publish(folder: Path, mue: bytes | None = None) -> dict[str, bytes]:
    """Write the 2026Q3 practitioner PTP and MUE releases into `folder` (mue: the MUE zip's bytes;
    None: the good one). Returns name -> bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {**ptp_files(), MUE_ZIP: zipped({MUE_CSV: mue_csv()}) if mue is None else mue}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


@pytest.fixture()
def data(data_dir, tmp_path) -> Path:
    """A private copy of the session's reference database (shipped baseline loaded)."""
    private = tmp_path / "data"
    private.mkdir()
    shutil.copy(database_path(data_dir), database_path(private))
    return private


@pytest.fixture()
def catalogue(tmp_path) -> Path:
    """The shipped catalogue with every minimum row count at 1 (the excerpts are small)."""
    raw = yaml.safe_load(CATALOGUE_PATH.read_text())
    for entry in raw["datasets"]:
        entry["min_rows"] = 1
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the base class writes every request to stderr
        pass


@pytest.fixture()
def server(tmp_path):
    """(base URL, served folder): an HTTP server on 127.0.0.1 serving a temporary folder."""
    folder = tmp_path / "served"
    folder.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def dataset(data: Path, name: str) -> tuple | None:
    conn = sqlite3.connect(database_path(data))
    try:
        return conn.execute("SELECT name, kind, source, files, rows, loaded_at, detail FROM dataset WHERE name = ?",
                            (name,)).fetchone()
    finally:
        conn.close()


def run(data: Path, catalogue: Path, *args: str) -> int:
    return main(["data", "update", "--data-dir", str(data), "--catalogue", str(catalogue), "--as-of", AS_OF,
                 "--timeout", "10", "--dataset", "ncci-ptp:practitioner", "--dataset", "mue:practitioner", *args])


# --- the catalogue -------------------------------------------------------------------------------

def test_catalogue_resolves_the_published_names():
    catalogue = load_catalogue()
    ptp = resolve(catalogue.entry("ncci-ptp:practitioner"), dt.date(2026, 8, 15))
    assert ptp.files[0].url == ("https://www.cms.gov/files/zip/"
                                "medicare-ncci-2026q3-practitioner-ptp-edits-ccipra-v322r0-f1.zip")  # as in SOURCES.md
    assert [f.member for f in ptp.files] == [f"ccipra-v322r0-f{n}.txt" for n in range(1, 5)]
    mue = resolve(catalogue.entry("mue:practitioner"), dt.date(2026, 8, 15))
    assert (mue.files[0].name, mue.files[0].member) == (MUE_ZIP, MUE_CSV)
    assert resolve(catalogue.entry("hcpcs"), dt.date(2026, 10, 2)).files[0].name == \
        "october-2026-alpha-numeric-hcpcs-file.zip"
    icd = resolve(catalogue.entry("icd10cm"), dt.date(2026, 10, 1))
    assert (icd.dataset, icd.options, icd.label) == ("icd10cm:2027", {"version": 2027}, "FY2027")
    assert resolve(catalogue.entry("mce"), dt.date(2026, 10, 1)).dataset == "mce:44"
    assert {e.cycle for e in catalogue.datasets} == {"quarterly", "yearly"}


def test_unknown_dataset_is_refused(data, capsys):
    assert main(["data", "update", "--data-dir", str(data), "--dataset", "nope"]) == 2
    assert "no dataset 'nope'" in capsys.readouterr().err


# --- successful updates ----------------------------------------------------------------------------

def test_update_replaces_the_datasets_and_records_provenance(data, catalogue, server, capsys):
    url, folder = server
    files = publish(folder)
    assert run(data, catalogue, "--mirror", url) == 0
    out = capsys.readouterr()
    assert "2 updated" in out.out and "downloading" in out.err
    ptp = dataset(data, "ncci-ptp:practitioner")
    assert ptp is not None and ptp[2] == "import" and ptp[4] == 154
    assert ptp[3].startswith(PTP_ZIP.format(n=1) + ":ccipra-v322r0-f1.TXT") and ptp[6] == "v322r0"
    mue = dataset(data, "mue:practitioner")
    assert mue is not None and mue[4] == 44 and mue[6] == "2026-07-01"
    provenance = read_provenance(data)
    assert provenance["ncci-ptp:practitioner"]["release"] == "2026Q3 (v322r0)"
    assert provenance["ncci-ptp:practitioner"]["loaded_at"] == ptp[5]
    recorded = provenance["mue:practitioner"]["files"]
    assert recorded == [{"name": MUE_ZIP, "url": f"{url}/{MUE_ZIP}", "downloaded_at": recorded[0]["downloaded_at"],
                         "sha256": hashlib.sha256(files[MUE_ZIP]).hexdigest(), "bytes": len(files[MUE_ZIP])}]
    # the same release again: nothing to import
    assert run(data, catalogue, "--mirror", url) == 0
    assert "2 current" in capsys.readouterr().out
    assert dataset(data, "ncci-ptp:practitioner") == ptp


def test_dry_run_changes_nothing(data, catalogue, server, capsys):
    url, folder = server
    publish(folder)
    before = [dataset(data, "ncci-ptp:practitioner"), dataset(data, "mue:practitioner")]
    assert run(data, catalogue, "--mirror", url, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "would replace mue:practitioner: 44 -> 44 rows; nothing imported (--dry-run)" in out
    assert [dataset(data, "ncci-ptp:practitioner"), dataset(data, "mue:practitioner")] == before
    assert read_provenance(data) == {}
    assert [p.name for p in data.iterdir() if p.name.startswith(".update-")] == []  # downloads removed


def test_from_a_local_folder_offline(data, catalogue, tmp_path, capsys):
    files = publish(tmp_path / "mirror")
    assert run(data, catalogue, "--from", str(tmp_path / "mirror")) == 0
    assert dataset(data, "mue:practitioner")[3] == f"{MUE_ZIP}:{MUE_CSV}"  # type: ignore[index]
    recorded = read_provenance(data)["ncci-ptp:practitioner"]["files"]
    assert [f["sha256"] for f in recorded] == [hashlib.sha256(files[PTP_ZIP.format(n=n)]).hexdigest()
                                               for n in range(1, 5)]
    assert recorded[0]["url"].startswith("file://")


# --- failures: the previous data stays, the other dataset still updates ----------------------------

def _truncated() -> bytes:
    whole = zipped({MUE_CSV: mue_csv()})
    return whole[: len(whole) // 2]


FAILURES = {
    "404": (None, "HTTP 404"),
    "truncated zip": (_truncated(), "not a whole zip file"),
    "member missing": (zipped({"MCR_MUE_PractitionerServices_Eff_07-01-2026.xlsx": b"PK"}),
                       f"holds no {MUE_CSV}"),
    "importer refuses": (zipped({MUE_CSV: b"code,units\r\n0001U,1\r\n"}), "the importer refused"),
    "row count drop": (zipped({MUE_CSV: mue_csv(keep=30)}), "drops by more than 10%: 44 -> 30 rows"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failed_dataset_keeps_its_data(case, data, catalogue, server, capsys):
    url, folder = server
    mue_zip, why = FAILURES[case]
    publish(folder, mue=mue_zip if mue_zip is not None else b"")
    if mue_zip is None:
        (folder / MUE_ZIP).unlink()
    before = dataset(data, "mue:practitioner")
    assert before is not None and before[4] == 44
    assert run(data, catalogue, "--mirror", url) == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and failed[0].startswith("mue:practitioner 2026Q3: FAILED:"), err
    assert why in failed[0] and failed[0].endswith("the previous data stays in force")
    assert dataset(data, "mue:practitioner") == before
    assert "mue:practitioner" not in read_provenance(data)
    assert dataset(data, "ncci-ptp:practitioner")[3].startswith(PTP_ZIP.format(n=1))  # type: ignore[index]


def test_a_drop_is_imported_with_accept_drop(data, catalogue, server, capsys):
    url, folder = server
    publish(folder, mue=zipped({MUE_CSV: mue_csv(keep=30)}))
    assert run(data, catalogue, "--mirror", url, "--accept-drop") == 0
    assert "warning: mue:practitioner: row count drops by more than 10%" in capsys.readouterr().err
    assert dataset(data, "mue:practitioner")[4] == 30  # type: ignore[index]


def test_a_network_error_names_each_dataset(data, catalogue, capsys):
    with socket.socket() as unused:  # a port with nothing listening
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    before = [dataset(data, "ncci-ptp:practitioner"), dataset(data, "mue:practitioner")]
    assert run(data, catalogue, "--mirror", f"http://127.0.0.1:{port}") == 1
    err = capsys.readouterr().err
    assert "ncci-ptp:practitioner 2026Q3 (v322r0): FAILED: network error" in err
    assert "mue:practitioner 2026Q3: FAILED: network error" in err
    assert [dataset(data, "ncci-ptp:practitioner"), dataset(data, "mue:practitioner")] == before


def test_too_few_rows_for_the_shipped_catalogue(data, tmp_path, capsys):
    """The shipped minimum row counts refuse an excerpt: an incomplete file is not a release."""
    publish(tmp_path / "mirror")
    before = dataset(data, "mue:practitioner")
    assert main(["data", "update", "--data-dir", str(data), "--as-of", AS_OF, "--dataset", "mue:practitioner",
                 "--from", str(tmp_path / "mirror")]) == 1
    assert "only 44 rows, at least 5000 expected" in capsys.readouterr().err
    assert dataset(data, "mue:practitioner") == before


def test_mirror_only_datasets_are_skipped_without_a_mirror(data, catalogue, capsys, monkeypatch):
    monkeypatch.delenv("SCRUBBER_DATA_MIRROR_URL", raising=False)
    assert main(["data", "update", "--data-dir", str(data), "--catalogue", str(catalogue), "--dataset", "pos"]) == 1
    assert "pos 20" in capsys.readouterr().err  # named explicitly: a failure, with its reason


def test_provenance_file_is_json_beside_the_database(data, catalogue, tmp_path):
    publish(tmp_path / "mirror")
    assert run(data, catalogue, "--from", str(tmp_path / "mirror")) == 0
    document = json.loads((data / "reference.provenance.json").read_text())
    assert set(document["datasets"]) == {"ncci-ptp:practitioner", "mue:practitioner"}


# --- the PFS Relative Value file (pprrvu, issue 12) ------------------------------------------------

RVU_ZIP = "rvu25d.zip"  # as the catalogue names the October 2025 release (RVU25D)
RVU_CSV = "PPRRVU25_OCT.csv"  # the member CMS names in it
RVU_AS_OF = "2025-10-15"
RVU_EXCERPT = CMS / "PPRRVU2025_Oct.excerpt.nodesc.csv"  # 37 rows of RVU25D, CMS layout, last header row only
RVU_TITLE = ('"2025 National Physician Fee Schedule Relative Value File October Release",,,\r\n'
             '"CPT codes and descriptions only are copyright 2024 American Medical Association. All Rights '
             'Reserved.",,,\r\n')


def rvu_csv(keep: int | None = None, status_of_line_9: str | None = None) -> bytes:
    """The excerpt as CMS publishes the CSV (title rows, CRLF); `keep`: only its first rows;
    `status_of_line_9`: that row's status code (field 4) replaced."""
    lines = RVU_EXCERPT.read_text(encoding="utf-8").splitlines()
    if status_of_line_9 is not None:
        fields = lines[8].split(",")
        fields[3] = status_of_line_9
        lines[8] = ",".join(fields)
    rows = lines[1:] if keep is None else lines[1:1 + keep]
    return (RVU_TITLE + "\r\n".join([lines[0], *rows]) + "\r\n").encode()


def rvu_zip(members: dict[str, bytes] | None = None) -> bytes:
    """An RVU25D zip as downloaded: the PPRRVU CSV (by default) beside the files the importer ignores."""
    ignored = {"PPRRVU25_OCT.txt": b"00400    not read\r\n", "GPCI2025.csv": b"Medicare Administrative Contractor\r\n",
               "RVU25D.pdf": b"%PDF-1.4 not read"}
    return zipped({**ignored, **(members if members is not None else {RVU_CSV: rvu_csv()})})


def run_rvu(data: Path, catalogue: Path, *args: str) -> int:
    return main(["data", "update", "--data-dir", str(data), "--catalogue", str(catalogue), "--as-of", RVU_AS_OF,
                 "--timeout", "10", "--dataset", "pprrvu", *args])


def test_catalogue_resolves_the_pfs_relative_value_release_of_a_date():
    entry = load_catalogue().entry("pprrvu")
    october = resolve(entry, dt.date(2025, 10, 15))
    assert (october.label, october.dataset, october.options) == (
        "RVU25D", "pprrvu:RVU25D", {"release": "RVU25D", "effective": "2025-10-01"})
    assert [(f.name, f.url, f.member) for f in october.files] == [
        (RVU_ZIP, "https://www.cms.gov/files/zip/rvu25d.zip", "PPRRVU25_OCT*.csv")]
    assert [(r.dataset, r.options["effective"], r.files[0].name, r.files[0].member)
            for r in (resolve(entry, d) for d in (dt.date(2026, 1, 1), dt.date(2026, 6, 30), dt.date(2026, 7, 1)))] == [
        ("pprrvu:RVU26A", "2026-01-01", "rvu26a.zip", "PPRRVU26_JAN*.csv"),
        ("pprrvu:RVU26B", "2026-04-01", "rvu26b.zip", "PPRRVU26_APR*.csv"),
        ("pprrvu:RVU26C", "2026-07-01", "rvu26c.zip", "PPRRVU26_JUL*.csv")]
    assert (entry.kind, entry.cycle, entry.min_rows) == ("pprrvu", "quarterly", 15000)


def test_the_release_the_update_passes_is_the_one_the_zip_names(tmp_path):
    """Imported without options, the served zip gives the same release and first day as the catalogue."""
    archive = tmp_path / RVU_ZIP
    archive.write_bytes(rvu_zip())
    report = import_files("pprrvu", [archive], tmp_path / "var")
    expected = resolve(load_catalogue().entry("pprrvu"), dt.date.fromisoformat(RVU_AS_OF))
    assert (report.dataset, report.detail) == (expected.dataset, "RVU25D from 2025-10-01")
    assert report.detail == f"{expected.options['release']} from {expected.options['effective']}"


def test_pprrvu_update_imports_the_release_and_the_fee_schedule_answers_from_it(data, catalogue, server, capsys):
    url, folder = server
    served = rvu_zip()
    (folder / RVU_ZIP).write_bytes(served)
    assert dataset(data, "pprrvu:RVU25D") is None
    assert run_rvu(data, catalogue, "--mirror", url) == 0  # no drop check against RVU24C (18,664 rows)
    out = capsys.readouterr().out
    assert "pprrvu RVU25D: updated: pprrvu:RVU25D: none -> 37 rows from rvu25d.zip" in out and "1 updated" in out
    loaded = dataset(data, "pprrvu:RVU25D")
    assert loaded is not None
    assert (loaded[1], loaded[3], loaded[4], loaded[6]) == ("pprrvu", f"{RVU_ZIP}:{RVU_CSV}", 37,
                                                           "RVU25D from 2025-10-01")
    recorded = read_provenance(data)["pprrvu:RVU25D"]
    assert (recorded["release"], recorded["catalogue"], recorded["rows"], recorded["loaded_at"]) == (
        "RVU25D", "pprrvu", 37, loaded[5])
    assert [(f["url"], f["sha256"]) for f in recorded["files"]] == [
        (f"{url}/{RVU_ZIP}", hashlib.sha256(served).hexdigest())]
    ref = ReferenceData(database_path(data))
    assert [r for _, r, _ in ref.fee_schedule_releases] == ["RVU24A", "RVU24AR", "RVU24B", "RVU24C", "RVU25D"]
    entry = ref.fee_schedule("27447", dt.date(2026, 2, 15))
    assert entry is not None
    assert (entry.release, entry.effective_from, entry.effective_to, entry.status, entry.global_days,
            entry.bilateral, entry.assistant, entry.co_surgeon) == ("RVU25D", dt.date(2025, 10, 1), None, "A", "090",
                                                                   "1", "2", "1")
    assert ref.fee_schedule("99215", dt.date(2026, 2, 15)) is None  # not in the excerpt, so not in RVU25D
    assert ref.fee_schedule("99215", dt.date(2025, 9, 30)).release == "RVU24C"  # type: ignore[union-attr]
    assert dataset(data, "pprrvu:RVU24C")[4] == 18664  # type: ignore[index]  # the older releases stay
    # the same release again: nothing to import
    assert run_rvu(data, catalogue, "--mirror", url) == 0
    assert "pprrvu RVU25D: current: already current" in capsys.readouterr().out
    assert dataset(data, "pprrvu:RVU25D") == loaded


RVU_FAILURES = {
    "no PPRRVU CSV": ({"PPRRVU25_OCT.xlsx": b"PK not read"},
                      "rvu25d.zip holds no PPRRVU25_OCT*.csv (found: PPRRVU25_OCT.txt, GPCI2025.csv, RVU25D.pdf, "
                      "PPRRVU25_OCT.xlsx): the published layout has changed"),
    "another quarter's CSV": ({"PPRRVU25_JUL.csv": rvu_csv()}, "rvu25d.zip holds no PPRRVU25_OCT*.csv"),
    "a bad row": ({RVU_CSV: rvu_csv(status_of_line_9="Q")},
                  "the importer refused the release (has the layout changed?): rvu25d.zip:PPRRVU25_OCT.csv line 11: "
                  "column 4 (STATUS CODE): 'Q' is not a PFS status code"),
    "a drop within the release": ({RVU_CSV: rvu_csv(keep=30)}, "row count drops by more than 10%: 37 -> 30 rows"),
}


@pytest.mark.parametrize("case", list(RVU_FAILURES))
def test_a_refused_rvu_zip_keeps_the_loaded_release(case, data, catalogue, server, capsys):
    url, folder = server
    (folder / RVU_ZIP).write_bytes(rvu_zip())
    assert run_rvu(data, catalogue, "--mirror", url) == 0
    before, recorded = dataset(data, "pprrvu:RVU25D"), read_provenance(data)
    capsys.readouterr()
    members, why = RVU_FAILURES[case]
    (folder / RVU_ZIP).write_bytes(rvu_zip(members))
    assert run_rvu(data, catalogue, "--mirror", url) == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and failed[0].startswith("pprrvu RVU25D: FAILED: "), failed
    assert why in failed[0] and failed[0].endswith("the previous data stays in force")
    assert dataset(data, "pprrvu:RVU25D") == before
    assert read_provenance(data) == recorded
    entry = ReferenceData(database_path(data)).fee_schedule("27447", dt.date(2026, 2, 15))
    assert entry is not None and entry.release == "RVU25D"


def test_the_shipped_minimum_refuses_an_rvu_excerpt(data, tmp_path, capsys):
    (tmp_path / RVU_ZIP).write_bytes(rvu_zip())
    assert main(["data", "update", "--data-dir", str(data), "--as-of", RVU_AS_OF, "--dataset", "pprrvu",
                 "--from", str(tmp_path)]) == 1
    assert "pprrvu RVU25D: FAILED: only 37 rows, at least 15000 expected" in capsys.readouterr().err
    assert dataset(data, "pprrvu:RVU25D") is None
