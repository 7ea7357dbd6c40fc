"""The `scrubber` command line: check claims, lint and test rule files, serve the API."""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from scrubber import config
from scrubber.claim import ScrubResult
from scrubber.parse import ClaimError
from scrubber.refdata import KINDS
from scrubber.ruleset import RuleSetError

if TYPE_CHECKING:
    from scrubber.intake import Item


def _deployment_or_exit(path: str):
    from scrubber.batch import payers_beside
    from scrubber.payers import load_deployment

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
    import contextlib
    import datetime as dt
    import time

    from scrubber.batch import Progress, Tally, file_records, make_scrubber, summary
    from scrubber.intake import output_line, scrub_item

    scrubber = make_scrubber(_deployment_or_exit(args.rules), config.data_dir())
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
    """Scrub one large file with several processes or on Dask (scrubber.batch)."""
    import datetime as dt

    from scrubber import batch

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
    from scrubber.batch import payers_beside
    from scrubber.payers import load_deployment

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
    from scrubber.examples import run_examples

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
    from scrubber.audit import AuditStore
    from scrubber.impact import format_report, measure
    from scrubber.intake import file_items
    from scrubber.payers import load_deployment
    from scrubber.refdata import open_reference

    candidate_dir = Path(args.candidate)
    rules_dir = candidate_dir / "rules" if (candidate_dir / "rules").is_dir() else Path(config.rules_dir())
    payers_dir = candidate_dir / "payers" if (candidate_dir / "payers").is_dir() else Path(config.payers_dir())
    if rules_dir == Path(config.rules_dir()) and payers_dir == Path(config.payers_dir()):
        print(f"{candidate_dir} holds neither rules/ nor payers/: nothing to compare", file=sys.stderr)
        return 2
    try:
        current = load_deployment(config.rules_dir(), config.payers_dir())
        candidate = load_deployment(rules_dir, payers_dir)
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); nothing was compared", file=sys.stderr)
        return 2
    store = None
    if args.corpus:
        corpus = [(item.claim.claim_id or f"#{item.index}", item.claim) for item in file_items(args.corpus)
                  if item.claim is not None]
    else:
        store = AuditStore()
        since = _date_or_exit(args.since) if args.since else None
        corpus = [(claim.claim_id or scrub_id, claim) for scrub_id, claim in store.stored_claims(
            since=since, limit=args.limit)]
    try:
        report = measure(current, candidate, corpus, reference=open_reference(config.data_dir()), history=store)
    finally:
        if store is not None:
            store.close()
    print(json.dumps(report.as_dict(), indent=2) if args.json else format_report(report))
    return 0


def _date_or_exit(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        print(f"'{text}' is not a date (YYYY-MM-DD)", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    import logging
    import tempfile

    import uvicorn

    from scrubber.audit import AuditStore
    from scrubber.observability import configure_logging

    configure_logging()
    log = logging.getLogger("scrubber.serve")
    store = AuditStore()  # creates or migrates the database before the workers start
    keyless = not store.has_keys() and not config.bootstrap_key()
    store.close()
    host = args.host
    if keyless and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(f"no API key exists: binding to 127.0.0.1 instead of {host}; create one with "
                    "`scrubber keys create --role admin` or set SCRUBBER_BOOTSTRAP_KEY")
        host = "127.0.0.1"
    elif keyless:
        log.warning("no API key exists: serving on the loopback interface only, without authentication")
    options = dict(factory=True, host=host, port=args.port, workers=args.workers, log_config=None, access_log=False)
    if args.workers == 1:
        uvicorn.run("scrubber.api:create_app", **options)
        return 0
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="scrubber-metrics-")
    # uvicorn binds the shared socket of several workers without IPPROTO_TCP, so asyncio never sets
    # TCP_NODELAY on its connections and every answer waits ~40 ms for a delayed ACK
    # (Kludex/uvicorn#3149): bind it here, as a TCP socket.
    from uvicorn.supervisors import Multiprocess

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, args.port))
    sock.set_inheritable(True)
    log.info(f"serving on http://{host}:{args.port} with {args.workers} workers")
    Multiprocess(uvicorn.Config("scrubber.api:create_app", **options), sockets=[sock]).run()
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from scrubber.audit import AuditStore

    store = AuditStore()
    try:
        key_id, secret = store.create_key(args.role, label=args.label)
    finally:
        store.close()
    print(f"created {args.role} key {key_id}; the key is shown only this once:")
    print(secret)
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from scrubber.importers import DataImportError, import_files

    try:
        report = import_files(args.kind, args.files, args.data_dir, setting=args.setting,
                              effective=args.effective, version=args.version)
    except DataImportError as exc:
        print(exc, file=sys.stderr)
        print("nothing was loaded", file=sys.stderr)
        return 1
    print(f"{report.dataset}: {report.rows} rows from {', '.join(report.files)}"
          + (f" ({report.detail})" if report.detail else ""))
    return 0


def cmd_data_status(args: argparse.Namespace) -> int:
    import sqlite3

    from scrubber.refdata import database_path, datasets

    path = database_path(args.data_dir)
    loaded = []
    if path.exists():
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            loaded = datasets(conn)
        except sqlite3.OperationalError:  # a database without the dataset table yet
            loaded = []
        finally:
            conn.close()
    if not loaded:
        print(f"no reference data loaded in {path}")
        return 0
    rows = [[d.name, d.source, str(d.rows), d.files, d.loaded_at, d.detail] for d in loaded]
    print(_table(rows, ["dataset", "source", "rows", "files", "loaded_at", "detail"]))
    return 0


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
    check.add_argument("--rules", default=config.rules_dir(), help="rule directory (default: shipped rules/)")
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
    lint.add_argument("path", nargs="?", default=config.rules_dir())
    lint.add_argument("--payers", default=None,
                      help="payer profile directory (default: the payers/ beside the rules; '' for none)")
    lint.set_defaults(func=cmd_rules_lint)
    test = rules.add_parser("test", help="run every rule's example claims")
    test.add_argument("path", nargs="?", default=config.rules_dir())
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
    create.set_defaults(func=cmd_keys_create)

    data = sub.add_parser("data", help="reference data (CMS code sets and edit tables)").add_subparsers(
        dest="data_command", required=True)
    load = data.add_parser("import", help="load CMS files (or the zips as downloaded) into the reference "
                                          "database; prints file:line for a bad row and loads nothing")
    load.add_argument("kind", choices=KINDS, metavar="KIND", help=f"one of: {', '.join(KINDS)}")
    load.add_argument("files", nargs="+", metavar="FILE")
    load.add_argument("--setting", choices=["practitioner", "hospital", "dme"],
                      help="ncci-ptp and mue: the setting (default: from the file name)")
    load.add_argument("--effective", metavar="DATE",
                      help="mue: the table's effective date (default: from the file name)")
    load.add_argument("--version", type=int, metavar="N", help="mce: the MCE version; icd10cm: the fiscal year")
    load.add_argument("--data-dir", default=config.data_dir(), help="default: $SCRUBBER_DATA_DIR or ./var")
    load.set_defaults(func=cmd_data_import)
    status = data.add_parser("status", help="list the loaded datasets")
    status.add_argument("--data-dir", default=config.data_dir(), help="default: $SCRUBBER_DATA_DIR or ./var")
    status.set_defaults(func=cmd_data_status)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
