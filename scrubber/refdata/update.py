"""`scrubber data update`: download the current release of each CMS dataset named in the catalogue
(scrubber/data/catalogue.yaml), check it and import it through the importers, one dataset at a time.

For each dataset: the release in force on a day (today) is resolved from the catalogue's URL
patterns; its files are fetched (from cms.gov, from a mirror URL serving the same file names, or
from a local folder) into a temporary folder in the data directory, streamed with a sha256; then
checked: a zip must be whole (`testzip`) and hold the expected member, the importer must accept the
files (they are imported first into a scratch database), the rows must reach the catalogue's
minimum and must not drop by more than 10% against the dataset loaded now (refused unless
`accept_drop`). Only then is the dataset replaced, in one transaction (importers.import_files), and
its provenance (release, URL, download time, sha256, bytes of each file) written to
`reference.provenance.json` beside the reference database. A dataset that fails any step keeps its
previous data; the other datasets still update.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import hashlib
import http.client
import json
import os
import shutil
import sqlite3
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scrubber.owner_only import private_directory, private_file
from scrubber.refdata.errors import DataImportError
from scrubber.refdata.importers import DATA_DIR, baseline_files, import_files
from scrubber.refdata.store import Dataset, database_path, datasets, file_lock

CATALOGUE_PATH = DATA_DIR / "catalogue.yaml"
PROVENANCE_FILE = "reference.provenance.json"
MAX_DROP = 0.10  # a release with more than 10% fewer rows than the loaded one is refused
CHUNK = 1 << 20

Say = Callable[[str], None]


class UpdateError(DataImportError):
    """Why one dataset was not updated (its previous data stays in force)."""


class CatalogueError(DataImportError):
    """A catalogue file that cannot be used."""


# ---------------------------------------------------------------------------------------------
# The catalogue

class CatalogueFile(BaseModel):
    """One file of a release: where CMS publishes it, its name in a mirror, what the zip holds."""

    model_config = ConfigDict(extra="forbid")
    url: str | None = None
    name: str | None = None
    member: str | None = None

    @model_validator(mode="after")
    def _named(self) -> CatalogueFile:
        if not self.url and not self.name:
            raise ValueError("a file needs a url or a name")
        return self


class CatalogueEntry(BaseModel):
    """One dataset: which importer, which files per release, what they must look like."""

    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Literal["ncci-ptp", "mue", "aoc", "mce", "hcpcs", "icd10cm", "pos", "clia-waived", "order-referring",
                  "ndc-hcpcs", "pprrvu"]
    dataset: str
    options: dict[Literal["setting", "version", "release", "effective"], str] = {}
    cycle: Literal["quarterly", "yearly"]
    release: str
    page: str
    files: list[CatalogueFile] = Field(min_length=1)
    min_rows: int = Field(ge=0)
    with_shipped_base: bool = False
    mirror_only: str | None = None


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datasets: list[CatalogueEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        names = [d.name for d in self.datasets]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"datasets named twice: {', '.join(twice)}")
        return self

    def entry(self, name: str) -> CatalogueEntry:
        for entry in self.datasets:
            if entry.name == name:
                return entry
        raise CatalogueError(f"no dataset '{name}' in the catalogue: one of "
                             f"{', '.join(d.name for d in self.datasets)}")


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The catalogue (the shipped one by default), validated, every pattern tried on a date."""
    path = Path(path) if path is not None else CATALOGUE_PATH
    try:
        catalogue = Catalogue.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise CatalogueError(f"cannot read the catalogue {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CatalogueError(f"{path}: {problems}") from None
    for entry in catalogue.datasets:
        resolve(entry, dt.date(2026, 7, 1))  # an unknown placeholder fails here, not mid-update
    return catalogue


def whole_table_rows(kind: str, catalogue: Catalogue | None = None) -> int:
    """The fewest rows a whole CMS table of this kind has, as the catalogue's `min_rows` say (the
    smallest over its datasets of that kind; 0 for a kind the catalogue does not list): a file
    imported with fewer is part of a table, and `scrubber data import` records it as an excerpt."""
    catalogue = catalogue or load_catalogue()
    return min((entry.min_rows for entry in catalogue.datasets if entry.kind == kind), default=0)


# ---------------------------------------------------------------------------------------------
# Releases

_MONTHS = ("january", "april", "july", "october")


def placeholders(day: dt.date) -> dict[str, str]:
    """The values of the catalogue's placeholders on a day (see catalogue.yaml)."""
    quarter = (day.month - 1) // 3 + 1
    fy = day.year + 1 if day.month >= 10 else day.year
    return {"year": str(day.year), "yy": f"{day.year % 100:02d}", "quarter": str(quarter),
            "mm": f"{3 * quarter - 2:02d}", "month": _MONTHS[quarter - 1], "mon": _MONTHS[quarter - 1][:3].upper(),
            "fy": str(fy), "ncci": f"{day.year - 1994}{quarter - 1}", "mce": str(fy - 1983),
            "rvu": "abcd"[quarter - 1], "RVU": "ABCD"[quarter - 1]}


@dataclass(frozen=True)
class ReleaseFile:
    name: str  # in a mirror, and as downloaded (the importers read settings and dates from it)
    url: str | None  # the published location (None: not published as a file)
    member: str | None


@dataclass(frozen=True)
class Release:
    entry: CatalogueEntry
    label: str
    dataset: str
    files: tuple[ReleaseFile, ...]
    options: dict[str, Any]


def _format(pattern: str, values: dict[str, str], where: str) -> str:
    try:
        return pattern.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise CatalogueError(f"catalogue dataset {where}: '{pattern}' has an unknown placeholder ({exc})") from None


def resolve(entry: CatalogueEntry, day: dt.date) -> Release:
    """The release of a dataset in force on a day: its label, files and importer options."""
    values = placeholders(day)
    fmt = lambda pattern: _format(pattern, values, entry.name)  # noqa: E731
    files = []
    for f in entry.files:
        url = fmt(f.url) if f.url else None
        name = fmt(f.name) if f.name else urllib.parse.unquote(urllib.parse.urlsplit(url or "").path.rsplit("/", 1)[-1])
        if not name or "/" in name or name in (".", ".."):
            raise CatalogueError(f"catalogue dataset {entry.name}: no file name in '{url or f.name}'")
        files.append(ReleaseFile(name, url, fmt(f.member) if f.member else None))
    options: dict[str, Any] = {key: fmt(value) for key, value in entry.options.items()}
    if "version" in options:
        try:
            options["version"] = int(options["version"])
        except ValueError:
            raise CatalogueError(f"catalogue dataset {entry.name}: version '{options['version']}' "
                                 "is not a number") from None
    if entry.with_shipped_base:
        options["base"] = [b for kind, _, o in baseline_files() if kind == entry.kind for b in o.get("base", ())]
    return Release(entry, fmt(entry.release), fmt(entry.dataset), tuple(files), options)


# ---------------------------------------------------------------------------------------------
# Fetching

@dataclass(frozen=True)
class Fetched:
    name: str
    url: str  # where it was read from (a URL, or file:// for --from)
    path: Path
    downloaded_at: str
    sha256: str
    bytes: int


def _copy(stream: Any, target: Path, total: int | None, say: Say, label: str) -> tuple[str, int]:
    """Stream into `target` with a sha256 and a progress line every 10% (or 16 MiB)."""
    digest = hashlib.sha256()
    done = 0
    step = max(total // 10, CHUNK) if total else 16 * CHUNK
    next_line = step
    with open(target, "wb") as out:
        while chunk := stream.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if done >= next_line:
                of = f" of {total / CHUNK:.1f}" if total else ""
                say(f"{label}: {target.name}: {done / CHUNK:.1f}{of} MiB")
                next_line += step
    return digest.hexdigest(), done


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def fetch(file: ReleaseFile, folder: Path, *, mirror: str | None, from_dir: Path | None, timeout: float,
          say: Say, label: str) -> Fetched:
    """Download (or copy from `from_dir`) one file into `folder` under its own name."""
    target = folder / file.name
    if from_dir is not None:
        source = from_dir / file.name
        say(f"{label}: copying {source}")
        try:
            with open(source, "rb") as stream:
                sha, size = _copy(stream, target, source.stat().st_size, say, label)
        except FileNotFoundError:
            raise UpdateError(f"{file.name} is not in the mirror folder {from_dir}") from None
        except OSError as exc:
            raise UpdateError(f"cannot read {source}: {exc.strerror or exc}") from None
        return Fetched(file.name, source.resolve().as_uri(), target, _now(), sha, size)

    url = f"{mirror.rstrip('/')}/{urllib.parse.quote(file.name)}" if mirror else file.url
    if url is None:
        raise UpdateError(f"{file.name} is not published as a file: put it in a mirror")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise UpdateError(f"{url}: only http and https URLs are fetched")
    say(f"{label}: downloading {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "scrubber-data-update"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            sha, size = _copy(response, target, total, say, label)
    except urllib.error.HTTPError as exc:
        raise UpdateError(f"HTTP {exc.code} {exc.reason} from {url}") from None
    except urllib.error.URLError as exc:
        raise UpdateError(f"network error fetching {url}: {exc.reason}") from None
    except (http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        raise UpdateError(f"network error fetching {url}: {type(exc).__name__}: {exc}") from None
    if total is not None and size != total:
        raise UpdateError(f"{url}: the download stopped after {size} of {total} bytes")
    return Fetched(file.name, url, target, _now(), sha, size)


# ---------------------------------------------------------------------------------------------
# Checks

def check_file(fetched: Fetched, member: str | None) -> None:
    """A zip must be whole and hold the expected member; raises UpdateError saying what is wrong."""
    if member is None and not fetched.name.lower().endswith(".zip"):
        return
    try:
        with zipfile.ZipFile(fetched.path) as archive:
            bad = archive.testzip()
            names = archive.namelist()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise UpdateError(f"{fetched.name} is not a whole zip file (truncated or corrupt download: {exc})") from None
    if bad is not None:
        raise UpdateError(f"{fetched.name}: member {bad} is corrupt (CRC mismatch)")
    if member is not None and not any(fnmatch.fnmatch(n.lower(), member.lower()) for n in names):
        found = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "") or "nothing"
        raise UpdateError(f"{fetched.name} holds no {member} (found: {found}): the published layout has changed")


# Kinds whose releases are compared only with the same release: a PPRRVU release is added beside the
# others (older claims keep theirs), and a correction (RVU24AR) is not a quarter's full file.
_SAME_RELEASE_ONLY = frozenset({"pprrvu"})


def _previous(current: list[Dataset], release: Release) -> Dataset | None:
    """The loaded dataset to compare a release with: the same dataset, else (a new fiscal year or
    MCE version) the newest loaded one of the kind; for pprrvu, the same release only."""
    same = [d for d in current if d.name == release.dataset]
    if same:
        return same[0]
    scoped = [d for d in current if d.kind == release.entry.kind and ":" in d.name]
    if ":" not in release.dataset or not scoped or release.entry.kind in _SAME_RELEASE_ONLY:
        return None
    return max(scoped, key=lambda d: (len(d.name), d.name))


# ---------------------------------------------------------------------------------------------
# Provenance

def provenance_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / PROVENANCE_FILE


def read_provenance(data_dir: str | Path) -> dict[str, Any]:
    """Per dataset name: release, catalogue name, loaded_at (as in the dataset table: provenance
    whose loaded_at differs belongs to an older load), rows, files [{name, url, downloaded_at,
    sha256, bytes}]. Empty when nothing was ever updated."""
    try:
        data = json.loads(provenance_path(data_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}
    return data.get("datasets", {}) if isinstance(data, dict) else {}


def _record_provenance(data_dir: Path, name: str, record: dict[str, Any]) -> None:
    path = provenance_path(data_dir)
    with file_lock(path):
        current = read_provenance(data_dir)
        current[name] = record
        temporary = path.with_name(path.name + ".new")
        private_file(temporary)
        temporary.write_text(json.dumps({"datasets": current}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, path)


def _loaded(data_dir: Path) -> list[Dataset]:
    path = database_path(data_dir)
    if not path.exists():
        return []
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return datasets(conn)
    except sqlite3.OperationalError:  # a database without the dataset table yet
        return []
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# The update

@dataclass
class Outcome:
    """What happened to one dataset."""

    name: str  # the catalogue's
    dataset: str
    release: str
    status: Literal["updated", "would update", "current", "skipped", "failed"]
    message: str
    rows_before: int | None = None
    rows_after: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@contextlib.contextmanager
def _work_folder(data_dir: Path) -> Iterator[Path]:
    private_directory(data_dir)
    folder = Path(tempfile.mkdtemp(prefix=".update-", dir=data_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def update(data_dir: str | Path, *, names: list[str] | None = None, catalogue: Catalogue | None = None,
           as_of: dt.date | None = None, mirror: str | None = None, from_dir: str | Path | None = None,
           dry_run: bool = False, accept_drop: bool = False, timeout: float = 60.0,
           say: Say = lambda line: None) -> list[Outcome]:
    """Update each dataset of the catalogue (or those in `names`); see the module docstring. Raises
    CatalogueError for an unknown name; every other failure is an Outcome with status 'failed'."""
    catalogue = catalogue or load_catalogue()
    entries = [catalogue.entry(n) for n in dict.fromkeys(names)] if names else list(catalogue.datasets)
    data_dir = Path(data_dir)
    source_dir = Path(from_dir) if from_dir is not None else None
    day = as_of or dt.date.today()
    outcomes = []
    for entry in entries:
        release = resolve(entry, day)
        if entry.mirror_only and mirror is None and source_dir is None:
            reason = f"not published in a layout the importer reads ({entry.mirror_only}): update it from a mirror"
            outcomes.append(Outcome(entry.name, release.dataset, release.label, "failed" if names else "skipped",
                                    reason))
            continue
        try:
            outcomes.append(_update_one(release, data_dir, mirror=mirror, from_dir=source_dir, dry_run=dry_run,
                                        accept_drop=accept_drop, timeout=timeout, say=say))
        except UpdateError as exc:
            outcomes.append(Outcome(entry.name, release.dataset, release.label, "failed", str(exc)))
    return outcomes


def _update_one(release: Release, data_dir: Path, *, mirror: str | None, from_dir: Path | None, dry_run: bool,
                accept_drop: bool, timeout: float, say: Say) -> Outcome:
    entry = release.entry
    label = f"{entry.name} {release.label}"
    with _work_folder(data_dir) as folder:
        fetched = [fetch(f, folder, mirror=mirror, from_dir=from_dir, timeout=timeout, say=say, label=label)
                   for f in release.files]
        for f, file in zip(fetched, release.files):
            say(f"{label}: {f.name}: {f.bytes} bytes, sha256 {f.sha256}")
            check_file(f, file.member)
        current = _loaded(data_dir)
        previous = _previous(current, release)
        before = previous.rows if previous is not None else None
        recorded = read_provenance(data_dir).get(release.dataset, {})
        same_load = previous is not None and previous.name == release.dataset and \
            recorded.get("loaded_at") == previous.loaded_at
        if same_load and [f.get("sha256") for f in recorded.get("files", [])] == [f.sha256 for f in fetched]:
            return Outcome(entry.name, release.dataset, release.label, "current",
                           f"already current: the same files were imported at {previous.loaded_at if previous else ''}",
                           before, before)

        paths = [f.path for f in fetched]
        try:  # the importer's own validation, and the row count, on a scratch database
            report = import_files(entry.kind, paths, folder / "scratch", **release.options)
        except DataImportError as exc:
            raise UpdateError(f"the importer refused the release (has the layout changed?): {exc}") from None
        if report.dataset != release.dataset:
            raise UpdateError(f"the files hold {report.dataset}, not {release.dataset}")
        after = report.rows
        if after < entry.min_rows:
            raise UpdateError(f"only {after} rows, at least {entry.min_rows} expected: the file is incomplete "
                              "or its layout has changed")
        warnings = []
        if before and after < before * (1 - MAX_DROP):
            drop = f"{before} -> {after} rows ({(before - after) / before:.0%} fewer than {previous.name if previous else ''})"
            if not accept_drop:
                raise UpdateError(f"row count drops by more than {MAX_DROP:.0%}: {drop}; "
                                  "pass --accept-drop to import it anyway")
            warnings.append(f"warning: {entry.name}: row count drops by more than {MAX_DROP:.0%}: {drop}")
            say(warnings[-1])
        if dry_run:
            return Outcome(entry.name, release.dataset, release.label, "would update",
                           f"would replace {release.dataset}: {before if before is not None else 'none'} -> {after} "
                           "rows; nothing imported (--dry-run)", before, after, warnings)

        try:
            report = import_files(entry.kind, paths, data_dir, **release.options)
        except DataImportError as exc:
            raise UpdateError(f"the import failed: {exc}") from None
        loaded_at = next((d.loaded_at for d in _loaded(data_dir) if d.name == report.dataset), _now())
        _record_provenance(data_dir, report.dataset, {
            "catalogue": entry.name, "release": release.label, "kind": entry.kind, "loaded_at": loaded_at,
            "rows": report.rows,
            "files": [{"name": f.name, "url": f.url, "downloaded_at": f.downloaded_at, "sha256": f.sha256,
                       "bytes": f.bytes} for f in fetched]})
        return Outcome(entry.name, report.dataset, release.label, "updated",
                       f"{report.dataset}: {before if before is not None else 'none'} -> {report.rows} rows "
                       f"from {', '.join(f.name for f in fetched)}", before, report.rows, warnings)
