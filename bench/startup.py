"""Start-up, memory and throughput with the full shipped baseline (issue 11, item 2).

Measures the code under `--root DIR` (a checkout: the working tree, or an older revision extracted
with `git archive REV | tar -x -C DIR`) with the reference data that code ships, no synthetic
tables. Every figure comes from a fresh Python process (PYTHONPATH=DIR) started by this script:

1. first start after install: `ensure_baseline` on an empty data directory, pinned to one core;
   wall time (process start to exit) and the progress lines it prints on stderr. Target < 60 s.
2. later start (the database built): import the service's app factory, open the reference data,
   load and compile the rules and payer profiles (the service's start-up, its lifespan), scrub a
   first claim; wall time, three times, pinned to one core. Target < 5 s.
3. memory per worker: a worker started as in 2 scrubs the corpus through the service's router
   (payer rule sets, claim history), then reads /proc/self/smaps_rollup: RSS, USS (private) and PSS.
   One worker alone, then two at once (PSS shows what they share through the page cache). Target RSS
   < 300 MB.
4. throughput on one core: the CodingEdits enricher alone (us/claim, first pass with cold caches and
   the best of two warm ones) and claims/s through all rules and payer profiles, with the durable-rules
   engine and with the reference evaluator.

The corpus: `--claims` realistic claims (tests/generators.py), every other one turned into an
institutional hospital outpatient claim (type of bill 0131, revenue codes), so that the hospital
NCCI table is used. It is written once to bench/out/ and reused, so every root scrubs the same claims.

    python bench/startup.py --root /tmp/before --label before
    python bench/startup.py --root . --label after        # prints the comparison with `before`

Results: bench/results/startup-LABEL.{json,md}. Memory is read from /proc (Linux).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
PROJECT = HERE.parent.parent
OUT = PROJECT / "bench" / "out"
RESULTS = PROJECT / "bench" / "results"
TODAY = dt.date(2026, 3, 20)
CORPUS_SEED = 9
LATER_STARTS = 3

# Revenue codes for the institutional copies of the realistic claims' procedures (UB-04 FL 42).
REVENUE = {"80053": "0301", "85025": "0305", "36415": "0300", "71046": "0324", "73560": "0320",
           "93000": "0730", "97110": "0420", "97140": "0420", "20610": "0510", "11042": "0510"}


# ---------------------------------------------------------------------------------------------
# The phases, each run in a fresh process with the measured code on sys.path

def _memory() -> dict[str, float]:
    """RSS, USS (private clean + dirty) and PSS of this process, in MB."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0]) / 1024
    return {"rss_mb": round(fields["Rss"], 1), "uss_mb": round(fields["Private_Clean"] + fields["Private_Dirty"], 1),
            "pss_mb": round(fields["Pss"], 1)}


def _claims(corpus: Path):
    from scrubber.contract.claim import Claim  # the measured root's, imported once it is on sys.path

    with corpus.open(encoding="utf-8") as f:
        return [Claim.model_validate_json(line) for line in f]


def phase_corpus(args) -> dict:
    """Write the corpus: realistic claims, every other one institutional outpatient (type of bill 0131)."""
    from tests.generators import realistic_claims  # the measured root's generator

    lines = []
    for i, claim in enumerate(realistic_claims(CORPUS_SEED, args.claims)):
        data = claim.model_dump(mode="json", exclude_none=True)
        if i % 2:
            data["claim_type"] = "institutional"
            data["type_of_bill"] = "0131"
            data.pop("place_of_service", None)
            data["billing_provider"]["taxonomy"] = "282N00000X"  # general acute care hospital
            for line in data["lines"]:
                line["revenue_code"] = REVENUE.get(line["procedure_code"], "0510")
        lines.append(json.dumps(data, separators=(",", ":")) + "\n")
    Path(args.corpus).write_text("".join(lines), encoding="utf-8")
    return {"claims": len(lines)}


def phase_first_start(args) -> dict:
    """ensure_baseline on an empty data directory, on one core."""
    os.sched_setaffinity(0, {0})
    started = time.perf_counter()
    from scrubber.refdata.baseline import ensure_baseline  # measured: the import is part of a start

    imported = time.perf_counter()
    path = ensure_baseline(args.data_dir)
    done = time.perf_counter()
    return {"import_s": round(imported - started, 2), "ensure_baseline_s": round(done - imported, 2),
            "database_mb": round(path.stat().st_size / 1e6, 1), **_memory()}


def _start_service(data_dir: str, corpus: Path):
    """Start as a `scrubber serve` worker does (app factory, reference data, lifespan: audit store,
    rules and payer profiles compiled) and scrub a first claim; the steps' times and the app."""
    import asyncio  # here: the phases import only what they measure

    times = {}
    t0 = time.perf_counter()
    from scrubber.refdata.baseline import open_reference
    from scrubber.service.app import create_app

    times["import_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    reference = open_reference(data_dir)
    times["open_reference_s"] = time.perf_counter() - t
    t = time.perf_counter()
    app = create_app(reference=reference)
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    times["lifespan_s"] = time.perf_counter() - t  # audit store, rules and payer profiles compiled
    t = time.perf_counter()
    from scrubber.contract.claim import Claim

    with corpus.open(encoding="utf-8") as f:
        first = Claim.model_validate_json(next(f))
    with app.state.current.use() as router:
        router.judge(first, today=TODAY)
    times["first_claim_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - t0
    return app, loop, lifespan, {k: round(v, 3) for k, v in times.items()}


def _stop_service(loop, lifespan) -> None:
    loop.run_until_complete(lifespan.__aexit__(None, None, None))
    loop.close()


def phase_later_start(args) -> dict:
    os.sched_setaffinity(0, {0})
    _app, loop, lifespan, times = _start_service(args.data_dir, Path(args.corpus))
    result = {**times, **_memory()}
    _stop_service(loop, lifespan)
    return result


def phase_worker(args) -> dict:
    """A service worker: started, the corpus scrubbed through its router, then (all workers done,
    so that PSS shows the sharing) its memory."""
    app, loop, lifespan, times = _start_service(args.data_dir, Path(args.corpus))
    after_start = _memory()
    from scrubber.contract.claim import Claim

    count, c = 0, time.thread_time()
    with app.state.current.use() as router, Path(args.corpus).open(encoding="utf-8") as corpus:
        for line in corpus:  # one at a time, as requests arrive: the worker holds no corpus
            router.judge(Claim.model_validate_json(line), today=TODAY)
            count += 1
    scrub_s = time.thread_time() - c  # CPU time: the other worker shares the cores
    barrier = Path(args.barrier)
    (barrier / f"{os.getpid()}.done").touch()
    deadline = time.monotonic() + 600
    while len(list(barrier.glob("*.done"))) < args.workers and time.monotonic() < deadline:
        time.sleep(0.05)
    memory = _memory()
    (barrier / f"{os.getpid()}.measured").touch()
    while len(list(barrier.glob("*.measured"))) < args.workers and time.monotonic() < deadline:
        time.sleep(0.05)
    _stop_service(loop, lifespan)
    return {"start_s": times["total_s"], "open_reference_s": times["open_reference_s"],
            "rss_after_start_mb": after_start["rss_mb"], "claims_per_s_service": round(count / scrub_s), **memory}


def phase_throughput(args) -> dict:
    """On one core: the CodingEdits enricher alone, then claims/s through every rule set (base and
    payer profiles) with the durable-rules engine and with the reference evaluator."""
    os.sched_setaffinity(0, {0})
    from scrubber.pipeline.enrich.coding_edits import CodingEdits
    from scrubber.pipeline.enrich.facts import FactBuilder
    from scrubber.pipeline.normalise import normalise
    from scrubber.pipeline.routing import PayerRouter
    from scrubber.refdata.baseline import open_reference
    from scrubber.ruleset.payers import load_deployment
    from scrubber.settings import settings

    reference = open_reference(args.data_dir)
    deployment = load_deployment(settings().rules_dir, settings().payers_dir)
    claims = _claims(Path(args.corpus))
    normalised = [normalise(c, today=TODAY) for c in claims]
    bare = FactBuilder(deployment.base.program)  # the facts without any enricher
    enricher = CodingEdits(reference)
    cpu, wall = [], []  # CPU time is the figure: other processes share the core, and wall time with them
    by_type: dict[str, list[float]] = {}  # claim type -> [CPU s, claims] in the last pass
    for _ in range(3):  # the first with cold caches, then warm (a running service): the best of two
        spent_cpu = spent_wall = 0.0
        by_type.clear()
        for claim in normalised:
            facts = bare.build(claim)
            t, c = time.perf_counter(), time.thread_time()
            enricher.enrich(claim, facts)
            used = time.thread_time() - c
            spent_cpu += used
            spent_wall += time.perf_counter() - t
            kind = by_type.setdefault(claim.claim_type, [0.0, 0])
            kind[0] += used
            kind[1] += 1
        cpu.append(round(spent_cpu / len(normalised) * 1e6, 1))
        wall.append(round(spent_wall / len(normalised) * 1e6, 1))
    result: dict = {"enrich_us_per_claim_cold": cpu[0], "enrich_us_per_claim_warm": min(cpu[1:]),
                    "enrich_us_per_claim_wall": wall,
                    "enrich_us_per_claim_by_type": {k: round(v[0] / v[1] * 1e6, 1) for k, v in sorted(by_type.items())}}
    for evaluator in ("engine", "reference"):
        router = PayerRouter(deployment, reference, evaluator=evaluator)
        findings: dict[str, int] = {}
        t, c = time.perf_counter(), time.thread_time()
        for claim in claims:
            for f in router.judge(claim, today=TODAY).result.findings:
                key = f"{claim.claim_type}:{f.rule_id}"
                findings[key] = findings.get(key, 0) + 1
        result[f"claims_per_s_{evaluator}"] = round(len(claims) / (time.thread_time() - c))
        result[f"claims_per_s_{evaluator}_wall"] = round(len(claims) / (time.perf_counter() - t))
        router.close()
        if evaluator == "engine":
            result["ncci_findings"] = {k: v for k, v in sorted(findings.items())
                                       if any(w in k for w in ("ncci", "mue", "add-on"))}
            result["findings"] = sum(findings.values())
    return result


PHASES = {"corpus": phase_corpus, "first-start": phase_first_start, "later-start": phase_later_start,
          "worker": phase_worker, "throughput": phase_throughput}


# ---------------------------------------------------------------------------------------------
# The driver: runs each phase in its own process and writes the results

def _environment(root: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRUBBER_")}
    env.update(PYTHONPATH=str(root), SCRUBBER_DATA_DIR=str(data_dir), PYTHONDONTWRITEBYTECODE="1")
    return env


def _command(phase: str, args, **extra) -> list[str]:
    command = [sys.executable, str(HERE), "--phase", phase, "--root", str(args.root), "--data-dir",
               str(args.data_dir), "--corpus", str(args.corpus), "--claims", str(args.claims)]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    return command


def _run(phase: str, args, **extra) -> tuple[dict, float, str]:
    """Run one phase in a fresh process: its result (with `cpu_s`, the process's user + system time),
    its wall time (process start to exit), its stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(_command(phase, args, **extra), env=_environment(args.root, args.data_dir),
                          cwd=args.data_dir.parent, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"phase {phase} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "cpu_s": round(cpu, 2)}, round(wall, 2), done.stderr


def _workers(args, n: int) -> list[dict]:
    barrier = args.data_dir.parent / f"barrier-{args.label}-{n}"
    shutil.rmtree(barrier, ignore_errors=True)
    barrier.mkdir(parents=True)
    procs = [subprocess.Popen(_command("worker", args, barrier=barrier, workers=n),
                              env=_environment(args.root, args.data_dir), cwd=args.data_dir.parent,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        if p.returncode != 0:
            sys.exit(f"worker failed ({p.returncode}):\n{err[-4000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    shutil.rmtree(barrier, ignore_errors=True)
    return results


def _reloaded(runs: list[dict]) -> bool:
    """Whether a start found the baseline out of date and loaded it again (the shipped files or the
    schema changed during the run): its figures are not those of a later start."""
    return any(r["open_reference_s"] > 2 for r in runs)


def _say(text: str) -> None:
    print(text, flush=True)


def measure(args) -> dict:
    args.data_dir.parent.mkdir(parents=True, exist_ok=True)
    if not args.corpus.exists():
        _run("corpus", args)
    _say(f"measuring {args.root} ({args.label}); data in {args.data_dir}; corpus {args.corpus}")
    result: dict = {"label": args.label, "root": str(args.root), "claims": args.claims,
                    "measured_at": dt.datetime.now().isoformat(timespec="seconds"),
                    "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    shutil.rmtree(args.data_dir, ignore_errors=True)
    first, wall, stderr = _run("first-start", args)
    result["first_start"] = {"wall_s": wall, **first,
                             "progress": [line for line in stderr.splitlines() if line.strip()][-40:]}
    _say(f"1. first start: {wall} s wall (ensure_baseline {first['ensure_baseline_s']} s), "
         f"database {first['database_mb']} MB")
    for line in result["first_start"]["progress"]:
        _say(f"     {line}")
    starts = []
    for _ in range(LATER_STARTS):
        start, wall, _ = _run("later-start", args)
        starts.append({"wall_s": wall, **start})
    result["later_start"] = {"runs": starts, "wall_s_median": statistics.median(s["wall_s"] for s in starts),
                             "wall_s_max": max(s["wall_s"] for s in starts)}
    _say(f"2. later start: {[s['wall_s'] for s in starts]} s wall; last: " + json.dumps(starts[-1]))
    result["one_worker"] = _workers(args, 1)[0]
    _say("3. one worker: " + json.dumps(result["one_worker"]))
    result["two_workers"] = _workers(args, 2)
    for i, w in enumerate(result["two_workers"]):
        _say(f"   two workers, #{i}: " + json.dumps(w))
    throughput, wall, _ = _run("throughput", args)
    result["throughput"] = throughput
    _say("4. throughput (one core): " + json.dumps(throughput))
    result["baseline_reloaded"] = _reloaded(starts + [result["one_worker"], *result["two_workers"]])
    if result["baseline_reloaded"]:
        _say("WARNING: a later start loaded the baseline again (its files changed during the run): run again")
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


# the rows of the figures table: (label, how to get the figure from a result, target)
ROWS = (
    ("first start: wall s (one core)", lambda r: r["first_start"]["wall_s"], "< 60"),
    ("  CPU s (user + system)", lambda r: r["first_start"]["cpu_s"], ""),
    ("  of which ensure_baseline s", lambda r: r["first_start"]["ensure_baseline_s"], ""),
    ("  reference database MB", lambda r: r["first_start"]["database_mb"], ""),
    ("later start: wall s, median of 3", lambda r: r["later_start"]["wall_s_median"], "< 5"),
    ("  CPU s, median", lambda r: statistics.median(s["cpu_s"] for s in r["later_start"]["runs"]), ""),
    ("  import s", lambda r: r["later_start"]["runs"][-1]["import_s"], ""),
    ("  open reference s", lambda r: r["later_start"]["runs"][-1]["open_reference_s"], ""),
    ("  lifespan (store, rules compiled) s", lambda r: r["later_start"]["runs"][-1]["lifespan_s"], ""),
    ("  first claim s", lambda r: r["later_start"]["runs"][-1]["first_claim_s"], ""),
    ("1 worker: RSS after start MB", lambda r: r["one_worker"]["rss_after_start_mb"], ""),
    ("1 worker: RSS MB after corpus", lambda r: r["one_worker"]["rss_mb"], "< 300"),
    ("1 worker: USS MB", lambda r: r["one_worker"]["uss_mb"], ""),
    ("1 worker: PSS MB", lambda r: r["one_worker"]["pss_mb"], ""),
    ("2 workers: RSS MB (max)", lambda r: max(w["rss_mb"] for w in r["two_workers"]), "< 300"),
    ("2 workers: USS MB (max)", lambda r: max(w["uss_mb"] for w in r["two_workers"]), ""),
    ("2 workers: PSS MB (max)", lambda r: max(w["pss_mb"] for w in r["two_workers"]), ""),
    ("enrichment CPU us/claim, cold caches", lambda r: r["throughput"]["enrich_us_per_claim_cold"], "<= before"),
    ("enrichment CPU us/claim, warm caches", lambda r: r["throughput"]["enrich_us_per_claim_warm"], "<= before"),
    ("  professional claims, last pass", lambda r: r["throughput"]["enrich_us_per_claim_by_type"]["professional"], ""),
    ("  institutional outpatient, last pass",
     lambda r: r["throughput"]["enrich_us_per_claim_by_type"]["institutional"], ""),
    ("claims per CPU s, durable engine", lambda r: r["throughput"]["claims_per_s_engine"], ""),
    ("claims per CPU s, reference evaluator", lambda r: r["throughput"]["claims_per_s_reference"], ""),
    ("claims per CPU s, service worker", lambda r: r["one_worker"]["claims_per_s_service"], ""),
    ("claims/s wall, durable engine", lambda r: r["throughput"]["claims_per_s_engine_wall"], ""),
)


def _figure(get, result: dict | None) -> str:
    if result is None:
        return ""
    try:
        return str(get(result))
    except (KeyError, TypeError, ValueError):
        return "n/a"


def table(results: list[dict]) -> str:
    head = "| figure | " + " | ".join(r["label"] for r in results) + " | target |"
    lines = [head, "|---|" + "---:|" * len(results) + "---|"]
    for label, get, target in ROWS:
        lines.append(f"| {label} | " + " | ".join(_figure(get, r) for r in results) + f" | {target} |")
    return "\n".join(lines)


def _in_order(result: dict, other: dict | None) -> list[dict]:
    """The results to compare, `before` first."""
    runs = [result] + ([other] if other else [])
    return sorted(runs, key=lambda r: r["label"] != "before")


def markdown(result: dict, other: dict | None) -> str:
    runs = _in_order(result, other)
    parts = [f"# Start-up, memory and throughput with the shipped baseline: {result['label']}", "",
             f"`python bench/startup.py --root {result['root']} --label {result['label']}`, "
             f"{result['measured_at']}; {result['claims']:,} claims (every other one institutional outpatient, "
             f"type of bill 0131); load average {result['load_average_before']} before, "
             f"{result['load_average_after']} after (2 cores shared with other work).", "",
             table(runs), "", "First start, progress lines (stderr):", "", "```",
             *result["first_start"]["progress"], "```", "",
             "NCCI / MUE / add-on findings on the corpus (claim type: rule): "
             + json.dumps(result["throughput"].get("ncci_findings", {})), ""]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=PROJECT, help="the checkout whose code is measured")
    parser.add_argument("--label", default="after", help="names the results: bench/results/startup-LABEL.*")
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--data-dir", type=Path, help="default: bench/out/startup-LABEL/data (emptied first)")
    parser.add_argument("--corpus", type=Path, help="default: bench/out/startup-corpus-CLAIMS.ndjson")
    parser.add_argument("--compare", default=None, help="the label to compare with (default: before/after)")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--barrier", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.root = args.root.resolve()
    args.data_dir = (args.data_dir or OUT / f"startup-{args.label}" / "data").resolve()
    args.corpus = (args.corpus or OUT / f"startup-corpus-{args.claims}.ndjson").resolve()
    if args.phase:
        sys.path.insert(0, str(args.root))
        import scrubber  # the measured root's, or the phase would measure the wrong code

        if not Path(scrubber.__file__).resolve().is_relative_to(args.root):
            sys.exit(f"scrubber imported from {scrubber.__file__}, not from {args.root}")
        print(json.dumps(PHASES[args.phase](args)))
        return
    result = measure(args)
    other_label = args.compare or ("before" if args.label != "before" else "after")
    other_file = RESULTS / f"startup-{other_label}.json"
    other = json.loads(other_file.read_text()) if other_file.exists() else None
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"startup-{args.label}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"startup-{args.label}.md").write_text(markdown(result, other))
    _say("")
    _say(table(_in_order(result, other)))


if __name__ == "__main__":
    main()
