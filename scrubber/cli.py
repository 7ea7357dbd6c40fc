"""The `scrubber` command line: check claims, lint and test rule files, serve the API."""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

from scrubber import config
from scrubber.claim import ScrubResult
from scrubber.parse import ClaimError, read_claims
from scrubber.refdata import KINDS
from scrubber.ruleset import RuleSetError, load_ruleset


def _ruleset_or_exit(path: str):
    try:
        return load_ruleset(path)
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
    from scrubber import config
    from scrubber.pipeline import Scrubber, standard_enrichers
    from scrubber.refdata import open_reference

    scrubber = Scrubber(_ruleset_or_exit(args.rules),
                        enrichers=standard_enrichers(open_reference(config.data_dir())))
    failed = False
    counts = {"pass": 0, "warn": 0, "fail": 0, "error": 0}
    for name in args.files:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{name}: cannot read: {exc}", file=sys.stderr)
            failed = True
            continue
        for index, item in read_claims(text):
            if isinstance(item, ClaimError):
                failed = True
                counts["error"] += 1
                record = {"file": name, "index": index, "error": item.detail,
                          "errors": [e.as_dict() for e in item.errors]}
                if args.json:
                    print(json.dumps(record))
                else:
                    print(f"{name} #{index}: cannot be checked: {item.detail}")
                    for e in item.errors:
                        print(f"    {e.field}: {e.message}")
                continue
            result: ScrubResult = scrubber.scrub(item)
            counts[result.status] += 1
            failed |= result.status == "fail"
            if args.json:
                print(result.model_dump_json())
            else:
                _print_result(name, index, result)
    if not args.json:
        print(f"\n{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, "
              f"{counts['error']} unreadable")
    return 1 if failed else 0


def _print_result(name: str, index: int, result: ScrubResult) -> None:
    print(f"{name} #{index}  claim {result.claim_id or '(no id)'}: {result.status.upper()}")
    if result.findings:
        rows = [[f.severity, f.rule_id, ",".join(map(str, f.lines)) or "-", f.carc or "-", f.message]
                for f in result.findings]
        print("  " + _table(rows, ["severity", "rule", "lines", "carc", "message"]).replace("\n", "\n  "))
    print()


def cmd_rules_lint(args: argparse.Namespace) -> int:
    try:
        ruleset = load_ruleset(args.path)
    except RuleSetError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) found")
        return 1
    print(f"{len(ruleset.files)} file(s), {len(ruleset.program.rules)} rule(s): no problems "
          f"(revision {ruleset.revision})")
    return 0


def cmd_rules_test(args: argparse.Namespace) -> int:
    from scrubber.examples import run_examples

    ruleset = _ruleset_or_exit(args.path)
    results = run_examples(ruleset)
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"FAIL {r.where}: {r.rule_id}: example '{r.name}': {r.why}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


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

    check = sub.add_parser("check", help="scrub claim files (JSON, JSON array or NDJSON)")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--json", action="store_true", help="print one contract result (JSON) per claim")
    check.add_argument("--rules", default=config.rules_dir(), help="rule directory (default: shipped rules/)")
    check.set_defaults(func=cmd_check)

    rules = sub.add_parser("rules", help="lint and test rule files").add_subparsers(dest="rules_command",
                                                                                   required=True)
    lint = rules.add_parser("lint", help="check rule files; prints file:line:column for each problem")
    lint.add_argument("path", nargs="?", default=config.rules_dir())
    lint.set_defaults(func=cmd_rules_lint)
    test = rules.add_parser("test", help="run every rule's example claims")
    test.add_argument("path", nargs="?", default=config.rules_dir())
    test.set_defaults(func=cmd_rules_test)

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
