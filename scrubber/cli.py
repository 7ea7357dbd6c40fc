"""The `scrubber` command line: check claims, lint and test rule files, serve the API.

Each command imports the modules it needs inside its own function (each such import says so): `scrubber
rules lint` should not pay for FastAPI, SQLAlchemy and Dask, which only `serve`, `keys` and `batch` use."""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from scrubber import limits

from scrubber.settings import settings
from scrubber.contract.claim import ScrubResult
from scrubber.intake.parse import ClaimError
from scrubber.refdata.store import KINDS
from scrubber.ruleset.loader import RuleSetError

if TYPE_CHECKING:
    from scrubber.intake.items import Item
    from scrubber.refdata.freshness import Freshness


def _deployment_or_exit(path: str):
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.workflows.batch import payers_beside
    from scrubber.ruleset.payers import load_deployment

    try:
        return load_deployment(path, payers_beside(path))
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in the rule files; nothing was loaded", file=sys.stderr)
        raise SystemExit(2) from None


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    widths[-1] = len(headers[-1])  # the last column (the message) is not padded
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def cmd_check(args: argparse.Namespace) -> int:
    """Scrub files one claim at a time in this process. NDJSON and X12 are streamed: memory
    stays flat however large the files. With --out, the results go to that file as NDJSON
    (one per claim, in order, an error record in place of a claim that cannot be read) and only
    the progress line and the summary are printed."""

    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.workflows.batch import Progress, Tally, file_records, make_scrubber, summary
    from scrubber.intake.items import output_line, scrub_item

    scrubber = make_scrubber(_deployment_or_exit(args.rules), settings().data_dir)
    today = dt.date.today()  # one day for the whole run
    started = time.perf_counter()
    tally = Tally()
    progress = Progress(args.progress or (args.out is not None and sys.stderr.isatty()))
    unopened = False
    with contextlib.ExitStack() as closing:
        closing.callback(scrubber.close)
        out = closing.enter_context(open(args.out, "wb")) if args.out else None
        for name in args.files:
            try:
                with open(name, "rb"):
                    pass
            except OSError as exc:
                print(f"{name}: cannot read: {exc}", file=sys.stderr)
                unopened = True
                continue
            for item in file_records(name):
                record = scrub_item(scrubber, item, today=today)
                tally.add(record)
                if out is not None:
                    out.write(output_line(record))
                elif isinstance(record, ScrubResult) and args.json:
                    print(record.model_dump_json())
                elif isinstance(record, ScrubResult):
                    _print_result(name, item.index, record)
                else:
                    _print_error(name, item, args.json)
                progress.update(tally.records)
    progress.finish(tally.records)
    if out is not None or not args.json:
        print(("" if out is not None else "\n") + summary(tally, time.perf_counter() - started))
    return 1 if tally.failed or unopened else 0


def _print_error(name: str, item: Item, as_json: bool) -> None:
    error = item.error or ClaimError("the record is not a claim")
    if as_json:
        print(json.dumps({"file": name, "index": item.index, "error": error.detail,
                          "errors": [e.as_dict() for e in error.errors]}))
        return
    print(f"{name} #{item.index}: cannot be checked: {error.detail}")
    for e in error.errors:
        print(f"    {e.field}: {e.message}")


def cmd_batch(args: argparse.Namespace) -> int:
    """Scrub one large file with several processes or on Dask (scrubber.workflows.batch)."""
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.workflows import batch

    if args.chunk_size < 1 or (args.workers is not None and args.workers < 1):
        print("--workers and --chunk-size must be at least 1", file=sys.stderr)
        return 2
    settings = batch.Settings(today=dt.date.today(), rules_dir=args.rules, data_dir=args.data_dir)
    progress = batch.Progress(args.progress or sys.stderr.isatty())
    try:
        report = batch.run(args.input, args.out, settings=settings, workers=args.workers, dask=args.dask,
                           chunk_size=args.chunk_size, progress=progress)
    except OSError as exc:
        print(f"cannot read or write: {exc}", file=sys.stderr)
        return 2
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in the rule files; {args.out} is incomplete", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a worker failed or was lost: the output is incomplete
        print(f"batch failed: {type(exc).__name__}: {exc}; {args.out} is incomplete", file=sys.stderr)
        return 2
    print(batch.summary(report.tally, report.seconds))
    mib = 1 << 20
    print(f"{report.workers} worker process(es); peak memory: coordinator {report.coordinator_rss / mib:.0f} MiB, "
          f"largest worker {report.worker_rss / mib:.0f} MiB")
    if len(report.tally.revisions) > 1:
        print(f"warning: the workers scrubbed with different rule sets: {', '.join(sorted(report.tally.revisions))}",
              file=sys.stderr)
    return 1 if report.tally.failed else 0


def _print_result(name: str, index: int, result: ScrubResult) -> None:
    print(f"{name} #{index}  claim {result.claim_id or '(no id)'}: {result.status.upper()}")
    if result.findings:
        rows = [[f.severity, f.rule_id, ",".join(map(str, f.lines)) or "-", f.carc or "-", f.message]
                for f in result.findings]
        print("  " + _table(rows, ["severity", "rule", "lines", "carc", "message"]).replace("\n", "\n  "))
    print()


def _deployment(args: argparse.Namespace):
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.workflows.batch import payers_beside
    from scrubber.ruleset.payers import load_deployment

    return load_deployment(args.path, payers_beside(args.path, args.payers))


def cmd_rules_lint(args: argparse.Namespace) -> int:
    try:
        deployment = _deployment(args)
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) found")
        return 1
    base = deployment.base
    payers = f" and {len(deployment.payers)} payer profile(s) ({', '.join(sorted(deployment.payers))})" \
        if deployment.payers else ""
    print(f"{len(base.files)} file(s), {len(base.program.rules)} rule(s){payers}: no problems "
          f"(revision {deployment.revision})")
    return 0


def cmd_rules_test(args: argparse.Namespace) -> int:
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.workflows.examples import run_examples

    try:
        deployment = _deployment(args)
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in the rule files; nothing was loaded", file=sys.stderr)
        return 2
    results = run_examples(deployment)
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"FAIL {r.where}: {r.rule_id}: example '{r.name}': {r.why}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def cmd_rules_impact(args: argparse.Namespace) -> int:
    """Candidate files (DIR/rules and DIR/payers; either may be missing: the running ones are
    used) against the running ones, on the stored claims or an NDJSON corpus."""
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.audit.store import AuditStore
    from scrubber.workflows.impact import format_report, measure
    from scrubber.intake.items import file_items
    from scrubber.ruleset.payers import load_deployment
    from scrubber.refdata.baseline import open_reference

    candidate_dir = Path(args.candidate)
    rules_dir = candidate_dir / "rules" if (candidate_dir / "rules").is_dir() else Path(settings().rules_dir)
    payers_dir = candidate_dir / "payers" if (candidate_dir / "payers").is_dir() else Path(settings().payers_dir)
    if rules_dir == Path(settings().rules_dir) and payers_dir == Path(settings().payers_dir):
        print(f"{candidate_dir} holds neither rules/ nor payers/: nothing to compare", file=sys.stderr)
        return 2
    try:
        current = load_deployment(settings().rules_dir, settings().payers_dir)
        candidate = load_deployment(rules_dir, payers_dir)
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); nothing was compared", file=sys.stderr)
        return 2
    store: AuditStore | None = None
    if args.corpus:
        corpus = [(item.claim.claim_id or f"#{item.index}", item.claim) for item in file_items(args.corpus)
                  if item.claim is not None]
    else:
        store = AuditStore()
        since = _date_or_exit(args.since) if args.since else None
        corpus = [(claim.claim_id or scrub_id, claim) for scrub_id, claim in store.stored_claims(
            since=since, limit=args.limit)]
    try:
        report = measure(current, candidate, corpus, reference=open_reference(settings().data_dir), history=store)
    finally:
        if store is not None:
            store.close()
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return 0


def _date_or_exit(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        print(f"'{text}' is not a date (YYYY-MM-DD)", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:

    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.audit.store import AuditStore
    from scrubber.service.observability import configure_logging
    from scrubber.service.server import serve, server_config

    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print("give both --ssl-certfile and --ssl-keyfile (or neither)", file=sys.stderr)
        return 2
    for option, path in (("--ssl-certfile", args.ssl_certfile), ("--ssl-keyfile", args.ssl_keyfile)):
        if path and not Path(path).is_file():
            print(f"{option}: no such file: {path}", file=sys.stderr)
            return 2
    bootstrap_key = settings().bootstrap_key
    if bootstrap_key:  # the workers would each refuse it: say so once, before they start
        # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
        from scrubber.audit.keys import check_secret

        try:
            check_secret(bootstrap_key)
        except ValueError as exc:
            print(f"SCRUBBER_BOOTSTRAP_KEY is too weak: {exc}", file=sys.stderr)
            return 2
    configure_logging()
    log = logging.getLogger("scrubber.serve")
    store = AuditStore()  # creates or migrates the database before the workers start
    keyless = not store.has_keys() and not settings().bootstrap_key
    store.close()
    host = args.host
    if keyless and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(f"no API key exists: binding to 127.0.0.1 instead of {host}; create one with "
                    "`scrubber keys create --role admin` or set SCRUBBER_BOOTSTRAP_KEY")
        host = "127.0.0.1"
    elif keyless:
        log.warning("no API key exists: serving on the loopback interface only, without authentication")
    serve(server_config(host=host, port=args.port, workers=args.workers, header_timeout=args.header_timeout,
                        ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile,
                        proxy_headers=args.proxy_headers, forwarded_allow_ips=args.forwarded_allow_ips))
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds between 0 and 3600")
    return value


def _key_expiry(args: argparse.Namespace):
    """--expires DATE (the key stops working at 00:00 UTC that day) or --days N (N days from now)."""
    now = dt.datetime.now(dt.timezone.utc)
    if args.days is not None:
        if args.days < 1:
            print("--days must be at least 1", file=sys.stderr)
            raise SystemExit(2)
        return now + dt.timedelta(days=args.days)
    if args.expires is not None:
        day = _date_or_exit(args.expires)
        expires = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
        if expires <= now:
            print("the expiry date must be in the future", file=sys.stderr)
            raise SystemExit(2)
        return expires
    return None


def cmd_keys_create(args: argparse.Namespace) -> int:
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.audit.store import AuditStore

    expires = _key_expiry(args)
    store = AuditStore()
    try:
        key_id, secret = store.create_key(args.role, label=args.label, expires_at=expires)
    finally:
        store.close()
    print(f"created {args.role} key {key_id}; the key is shown only this once:")
    print(secret)
    return 0


@overload
def _moment(value: dt.datetime, *, short: bool = False) -> str: ...
@overload
def _moment(value: None, *, short: bool = False) -> None: ...
@overload
def _moment(value: dt.datetime | None, *, short: bool = False) -> str | None: ...
def _moment(value: dt.datetime | None, *, short: bool = False) -> str | None:
    """A stored time as ISO 8601 UTC (SQLite returns it without its zone); `short`: the day, and the
    minute when it is not midnight."""
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if short:
        return value.strftime("%Y-%m-%d" if value.time() == dt.time() else "%Y-%m-%dT%H:%MZ")
    return value.isoformat()


def cmd_keys_list(args: argparse.Namespace) -> int:
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.audit.store import AuditStore

    store = AuditStore()
    try:
        keys = store.keys()
    finally:
        store.close()
    if args.json:
        for key in keys:
            print(json.dumps({"key_id": key.key_id, "role": key.role, "label": key.label,
                              "created_at": _moment(key.created_at), "expires_at": _moment(key.expires_at),
                              "revoked_at": _moment(key.revoked_at) if key.revoked else None}))
        return 0
    day = lambda value: _moment(value, short=True)[:10]  # noqa: E731
    rows = [[key.key_id, key.role, key.label or "-", day(key.created_at), _moment(key.expires_at, short=True) or "never",
             (day(key.revoked_at) if key.revoked_at else "yes") if key.revoked else "-"] for key in keys]
    print(_table(rows, ["key_id", "role", "label", "created", "expires", "revoked"]))
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.audit.store import AuditStore

    store = AuditStore()
    try:
        key, revoked_now = store.revoke_key(args.key_id)
    except KeyError:
        print(f"no API key has the id {args.key_id!r} (see `scrubber keys list`)", file=sys.stderr)
        return 1
    finally:
        store.close()
    if revoked_now:
        print(f"revoked key {key.key_id}")
    else:
        print(f"key {key.key_id} was already revoked on {_moment(key.revoked_at) or 'an earlier day'}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.audit.store import AuditStore

    store = AuditStore()
    try:
        new_id, secret = store.rotate_key(args.key_id)
        role = next(key.role for key in store.keys() if key.key_id == new_id)
    except KeyError:
        print(f"no API key has the id {args.key_id!r} (see `scrubber keys list`)", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"rotated key {args.key_id} (now revoked) to {role} key {new_id}; the new key is shown only this once:")
    print(secret)
    return 0


def cmd_audit_access(args: argparse.Namespace) -> int:
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.audit.store import AuditStore

    since = _date_or_exit(args.since) if args.since else None
    store = AuditStore()
    records: list[dict[str, Any]] = []
    cursor: int | None = None
    try:
        while args.limit is None or len(records) < args.limit:
            page = store.accesses(key_id=args.key, scrub_id=args.scrub, since=since, cursor=cursor,
                                  limit=500 if args.limit is None else min(500, args.limit - len(records)))
            records += page.items
            if page.next_cursor is None:
                break
            cursor = int(page.next_cursor)
    finally:
        store.close()
    if args.json:
        for record in records:
            print(json.dumps(record))
        return 0
    rows = [[r["at"], r["action"], r["key_id"] or "-", r["role"], r["scrub_id"] or "-", r["claim_id"] or "-",
             json.dumps(r["detail"]) if r["detail"] else ""] for r in records]
    print(_table(rows, ["at", "action", "key_id", "role", "scrub_id", "claim_id", "detail"]))
    return 0


def cmd_audit_purge(args: argparse.Namespace) -> int:
    """Delete the stored scrubs (claims, results, findings) created before a day; their counts stay
    in /v1/stats. The claim-line history and the access log are kept."""
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.audit.store import AuditStore

    before = _date_or_exit(args.before)
    today = dt.datetime.now(dt.timezone.utc).date()
    if before > today:
        print(f"--before {before.isoformat()} is after today ({today.isoformat()}, UTC): it would purge "
              "scrubs made today", file=sys.stderr)
        return 2
    store = AuditStore()
    try:
        purged = store.purge(before=before)
    finally:
        store.close()
    print(f"purged {purged.scrubs} scrub(s) and {purged.findings} finding(s) created before {before.isoformat()}")
    print("their counts stay in /v1/stats; the claim-line history and the access log are kept")
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.refdata.importers import DataImportError, import_files
    from scrubber.refdata.update import whole_table_rows

    try:
        whole = whole_table_rows(args.kind)
        report = import_files(args.kind, args.files, args.data_dir, setting=args.setting,
                              effective=args.effective, version=args.version, release=args.release,
                              excerpt=args.excerpt, whole_rows=whole)
    except DataImportError as exc:
        print(exc, file=sys.stderr)
        print("nothing was loaded", file=sys.stderr)
        return 1
    print(f"{report.dataset}: {report.rows} rows from {', '.join(report.files)}"
          + (f" ({report.detail})" if report.detail else ""))
    if report.excerpt:
        why = "as you said (--excerpt)" if args.excerpt else f"a whole CMS table of this kind has at least {whole:,} rows"
        print(f"{report.dataset}: recorded as an excerpt, {why}: a code or NPI it does not list is not checked "
              "against it (its silence is not a pass)")
    return 0


def cmd_data_status(args: argparse.Namespace) -> int:

    # imported here: each command loads only what it needs (the service, database and batch modules cost ~0.8 s)
    from scrubber.refdata.store import database_path, datasets, hcpcs_earliest_termination
    # imported when run: freshness reads the catalogue (pydantic, yaml), which the other commands do not need
    from scrubber.refdata.freshness import report
    # imported when run, with freshness (which it imports): the dates of service each code set judges
    from scrubber.refdata.coverage import describe_dates, hcpcs_history_start, spans

    path = database_path(args.data_dir)
    loaded = []
    earliest = None
    if path.exists():
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            loaded = datasets(conn)
            earliest = hcpcs_earliest_termination(conn) if any(d.kind == "hcpcs" for d in loaded) else None
        except sqlite3.OperationalError:  # a database without the dataset table yet
            loaded = []
        finally:
            conn.close()
    if not loaded:
        print(f"no reference data loaded in {path}")
        return 0
    fresh = {f.name: f for f in report(args.data_dir, loaded)}
    dates = spans(loaded, hcpcs_history_start(earliest))
    rows = [[d.name, d.source, str(d.rows), d.files, d.loaded_at, fresh[d.name].release,
             str(fresh[d.name].age_days), _stale_cell(fresh[d.name]), "excerpt" if d.excerpt else "complete",
             describe_dates(dates.get(d.name)), d.detail] for d in loaded]
    print(_table(rows, ["dataset", "source", "rows", "files", "loaded_at", "release", "age_days", "stale", "coverage",
                        "dates", "detail"]))
    for f in fresh.values():
        if f.source == "update":
            print(f"{f.name}: updated from {', '.join(f.urls)}")
    return 0


def _stale_cell(f: Freshness) -> str:
    return f"yes (since {f.stale_since})" if f.stale else "no"


def cmd_data_update(args: argparse.Namespace) -> int:
    """Download, check and import the current CMS release of each dataset in the catalogue
    (scrubber.refdata.update); a dataset that fails keeps its previous data, the others still update."""
    # imported when run: the other commands need neither pydantic's catalogue model nor urllib
    from scrubber.refdata.update import CatalogueError, load_catalogue, update

    as_of = _date_or_exit(args.as_of) if args.as_of else None
    try:
        catalogue = load_catalogue(args.catalogue)
        outcomes = update(args.data_dir, names=args.dataset, catalogue=catalogue, as_of=as_of, mirror=args.mirror,
                          from_dir=args.from_dir, dry_run=args.dry_run, accept_drop=args.accept_drop,
                          timeout=args.timeout, say=lambda line: print(line, file=sys.stderr, flush=True))
    except CatalogueError as exc:
        print(exc, file=sys.stderr)
        return 2
    for o in outcomes:
        if o.failed:
            print(f"{o.name} {o.release}: FAILED: {o.message}; the previous data stays in force", file=sys.stderr)
        else:
            print(f"{o.name} {o.release}: {o.status}: {o.message}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("updated", "would update", "current", "skipped", "failed")}
    print(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing to do")
    return 1 if counts["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scrubber", description="Check medical claims before submission.")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="scrub claim files (JSON, JSON array, NDJSON, X12 837, FHIR)")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--json", action="store_true", help="print one contract result (JSON) per claim")
    check.add_argument("--out", metavar="FILE", help="write the results there as NDJSON (one per claim, in "
                                                     "order) and print only progress and a summary")
    check.add_argument("--progress", action="store_true",
                       help="show progress on stderr (default: with --out, when stderr is a terminal)")
    check.add_argument("--rules", default=settings().rules_dir, help="rule directory (default: shipped rules/)")
    check.set_defaults(func=cmd_check)

    batch = sub.add_parser("batch", help="scrub a large file with several processes or on a Dask cluster")
    batch.add_argument("input", metavar="IN", help="NDJSON, X12 837, or a JSON / FHIR file")
    batch.add_argument("--out", required=True, metavar="OUT", help="NDJSON results, one per claim, in order")
    batch.add_argument("--workers", type=int, metavar="N",
                       help="worker processes (default: the number of CPUs); with --dask, of the LocalCluster")
    batch.add_argument("--dask", nargs="?", const="", metavar="ADDRESS",
                       help="run on the Dask scheduler at ADDRESS (tcp://host:8786), or without ADDRESS "
                            "on a LocalCluster of N worker processes")
    batch.add_argument("--chunk-size", type=int, default=1000, metavar="K",
                       help="records per chunk handed to a worker (X12: whole transaction sets of at "
                            "least K claims); default 1000")
    batch.add_argument("--rules", help="rule directory (default: $SCRUBBER_RULES_DIR or the shipped rules/, "
                                       "as each worker sees it)")
    batch.add_argument("--data-dir", help="reference data directory (default: $SCRUBBER_DATA_DIR or ./var, "
                                          "as each worker sees it)")
    batch.add_argument("--progress", action="store_true",
                       help="show progress on stderr (default: when stderr is a terminal)")
    batch.set_defaults(func=cmd_batch)

    rules = sub.add_parser("rules", help="lint and test rule files").add_subparsers(dest="rules_command",
                                                                                   required=True)
    lint = rules.add_parser("lint", help="check rule files; prints file:line:column for each problem")
    lint.add_argument("path", nargs="?", default=settings().rules_dir)
    lint.add_argument("--payers", default=None,
                      help="payer profile directory (default: the payers/ beside the rules; '' for none)")
    lint.set_defaults(func=cmd_rules_lint)
    test = rules.add_parser("test", help="run every rule's example claims")
    test.add_argument("path", nargs="?", default=settings().rules_dir)
    test.add_argument("--payers", default=None,
                      help="payer profile directory (default: the payers/ beside the rules; '' for none)")
    test.set_defaults(func=cmd_rules_test)
    impact = rules.add_parser("impact", help="what a change would do: re-scrub stored claims (or a corpus) with "
                                             "candidate files and with the running ones, per rule")
    impact.add_argument("--candidate", required=True, metavar="DIR",
                        help="a directory holding the candidate rules/ and/or payers/")
    where = impact.add_mutually_exclusive_group()
    where.add_argument("--since", metavar="DATE", help="stored claims scrubbed since this date")
    where.add_argument("--corpus", metavar="FILE", help="claims to use instead (NDJSON, JSON, X12 or FHIR)")
    impact.add_argument("--limit", type=int, default=10000, help="at most this many stored claims (newest first)")
    impact.add_argument("--json", action="store_true", help="the report as JSON")
    impact.set_defaults(func=cmd_rules_impact)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create an API key (printed once, stored hashed)")
    create.add_argument("--role", required=True, choices=["submitter", "coder", "compliance", "admin"])
    create.add_argument("--label", help="what the key is for, e.g. the billing system's name")
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires", metavar="YYYY-MM-DD", help="the key stops working at 00:00 UTC that day")
    expiry.add_argument("--days", type=int, metavar="N", help="the key stops working N days from now")
    create.set_defaults(func=cmd_keys_create)
    listing = keys.add_parser("list", help="every key: id, role, label, created, expires, revoked (never a secret)")
    listing.add_argument("--json", action="store_true", help="one JSON object per key")
    listing.set_defaults(func=cmd_keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key: refused from the next request on, in every worker")
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.set_defaults(func=cmd_keys_revoke)
    rotate = keys.add_parser("rotate", help="a new secret and key id with the same role, label and expiry; "
                                            "the old key is revoked at once; the new secret is printed once")
    rotate.add_argument("key_id", metavar="KEY_ID")
    rotate.set_defaults(func=cmd_keys_rotate)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(dest="audit_command", required=True)
    access = audit.add_parser("access", help="who read which stored claim, and when (newest first)")
    access.add_argument("--key", metavar="KEY_ID", help="reads by this key only")
    access.add_argument("--scrub", metavar="SCRUB_ID", help="reads of this stored scrub only")
    access.add_argument("--since", metavar="DATE", help="reads on or after this day (UTC)")
    access.add_argument("--limit", type=int, metavar="N", help="at most N records (default: all)")
    access.add_argument("--json", action="store_true", help="one JSON object per record")
    access.set_defaults(func=cmd_audit_access)
    purge = audit.add_parser("purge", help="delete the stored claims, results and findings of scrubs made before a "
                                           "day; /v1/stats keeps their counts")
    purge.add_argument("--before", required=True, metavar="YYYY-MM-DD",
                       help="scrubs created before this day (00:00 UTC) are purged")
    purge.set_defaults(func=cmd_audit_purge)

    data = sub.add_parser("data", help="reference data (CMS code sets and edit tables)").add_subparsers(
        dest="data_command", required=True)
    load = data.add_parser("import", help="load CMS files (or the zips as downloaded) into the reference "
                                          "database; prints file:line for a bad row and loads nothing")
    load.add_argument("kind", choices=KINDS, metavar="KIND", help=f"one of: {', '.join(KINDS)}")
    load.add_argument("files", nargs="+", metavar="FILE")
    load.add_argument("--setting", choices=["practitioner", "hospital", "dme"],
                      help="ncci-ptp and mue: the setting (default: from the file name)")
    load.add_argument("--effective", metavar="DATE",
                      help="mue: the table's effective date (default: from the file name); pprrvu: the "
                           "release's first day (default: its quarter's, A = Jan 1 ... D = Oct 1)")
    load.add_argument("--release", metavar="RVUyyX",
                      help="pprrvu: the release, e.g. RVU25D (default: from the file name)")
    load.add_argument("--version", type=int, metavar="N", help="mce: the MCE version; icd10cm: the fiscal year")
    load.add_argument("--excerpt", action="store_true",
                      help="the files are part of the table (some codes or NPIs only): what they do not list is not "
                           "checked against them. A file with fewer rows than a whole table has is an excerpt anyway")
    load.add_argument("--data-dir", default=settings().data_dir, help="default: $SCRUBBER_DATA_DIR or ./var")
    load.set_defaults(func=cmd_data_import)
    status = data.add_parser("status", help="list the loaded datasets: release, age, stale or not")
    status.add_argument("--data-dir", default=settings().data_dir, help="default: $SCRUBBER_DATA_DIR or ./var")
    status.set_defaults(func=cmd_data_status)
    refresh = data.add_parser("update", help="download the current CMS release of each dataset (catalogue: "
                                             "scrubber/data/catalogue.yaml), check it and import it; a dataset "
                                             "that fails keeps its previous data")
    refresh.add_argument("--dataset", action="append", metavar="NAME",
                         help="only this catalogue dataset (repeatable; default: all)")
    refresh.add_argument("--dry-run", action="store_true",
                         help="download and check, import nothing; print the rows before and after")
    mirror = refresh.add_mutually_exclusive_group()
    mirror.add_argument("--from", dest="from_dir", metavar="DIR",
                        help="take the files from this folder (named as the URL's last path segment)")
    mirror.add_argument("--mirror", default=os.environ.get("SCRUBBER_DATA_MIRROR_URL") or None, metavar="URL",
                        help="fetch URL/<file name> instead of cms.gov (default: $SCRUBBER_DATA_MIRROR_URL)")
    refresh.add_argument("--accept-drop", action="store_true",
                         help="import a release with more than 10%% fewer rows than the loaded one (else refused)")
    refresh.add_argument("--as-of", metavar="DATE", help="the release in force on this day (default: today)")
    refresh.add_argument("--catalogue", metavar="FILE", help="a catalogue to use instead of the shipped one")
    refresh.add_argument("--timeout", type=_seconds, default=60.0, metavar="SECONDS",
                         help="network timeout per read (default 60)")
    refresh.add_argument("--data-dir", default=settings().data_dir, help="default: $SCRUBBER_DATA_DIR or ./var")
    refresh.set_defaults(func=cmd_data_update)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--header-timeout", type=_seconds, default=limits.REQUEST_HEADER_TIMEOUT_S, metavar="SECONDS",
                       help="close a connection that has not sent a whole request line and headers in this "
                            f"time (default {limits.REQUEST_HEADER_TIMEOUT_S:g})")
    serve.add_argument("--ssl-certfile", metavar="FILE", help="serve HTTPS with this certificate (PEM; with the chain)")
    serve.add_argument("--ssl-keyfile", metavar="FILE", help="the certificate's private key (PEM)")
    serve.add_argument("--proxy-headers", action=argparse.BooleanOptionalAction, default=True,
                       help="take the client address and scheme from X-Forwarded-For/-Proto sent by a trusted "
                            "proxy (default: on)")
    serve.add_argument("--forwarded-allow-ips", metavar="IPS",
                       help="comma-separated addresses (or networks) of the proxies whose forwarded headers are "
                            "trusted (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1,::1)")
    serve.set_defaults(func=cmd_serve)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
