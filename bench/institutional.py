"""Hospital claims (issue 14, item 5): `scrubber check` claims/s on an institutional corpus and the
enrichment cost per claim, enricher by enricher, for one checkout of the project.

    git archive HEAD | tar -x -C /tmp/before14          # a tree without the institutional work
    python bench/institutional.py --root /tmp/before14 --label before
    python bench/institutional.py --label after          # this tree; compares with the 'before' results

The corpus is `tests.generators.realistic_institutional_claims` of THIS tree (outpatient 0131 and
inpatient 0111 bills with revenue codes, HCPCS and ICD-10-PCS codes from the shipped data, 15% with a
typical defect), written once as NDJSON, so both trees read the same claims. Each tree runs with its own
package, rules, payers and reference database (built from its shipped baseline on the first run, not
timed), pinned to CPU 0 when taskset is there.

- `scrubber check` claims/s: bench/check_throughput.py's run, the best of --runs (wall time, read from
  the summary that `check --out` writes; the figure includes reading NDJSON and writing results), and
  claims per CPU second of the whole `check` process (start-up included; steadier when the cores are
  shared).
- Enrichment µs/claim: in a child process with the tree's package, the enrichers of
  `standard_enrichers(reference)` (no claim history) run one after the other on each normalised claim's
  base facts; CPU time (thread_time) of each, per claim, first pass (cold caches) and the best of two
  warm passes, by claim kind (outpatient 13x, inpatient 11x). The before tree has no `Institutional`
  enricher; its row is then empty.

Writes bench/results/institutional-LABEL.{json,md}; the markdown has a column for the other label when
its json is there. The machine has 2 cores shared with other work: the load average is recorded.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
RESULTS = HERE / "bench" / "results"
TODAY = dt.date(2026, 4, 15)
KINDS = {"0131": "outpatient 13x", "0111": "inpatient 11x"}


def phase_enrich(corpus: Path, data_dir: Path, root: Path) -> dict:
    """In the child (PYTHONPATH is the measured tree): each enricher's CPU µs per claim."""
    os.sched_setaffinity(0, {0})
    import scrubber  # imported here: the child measures the tree on its PYTHONPATH
    from scrubber.contract.claim import Claim  # imported here: the same
    from scrubber.pipeline.enrich.facts import FactBuilder  # imported here: the same
    from scrubber.pipeline.normalise import normalise  # imported here: the same
    from scrubber.pipeline.scrubber import standard_enrichers  # imported here: the same
    from scrubber.refdata.baseline import open_reference  # imported here: the same
    from scrubber.ruleset.payers import load_deployment  # imported here: the same

    reference = open_reference(str(data_dir))
    deployment = load_deployment(str(root / "rules"), str(root / "payers"))
    claims = [Claim.model_validate(json.loads(line)) for line in corpus.read_text().splitlines()]
    normalised = [normalise(c, today=TODAY) for c in claims]
    enrichers = standard_enrichers(reference)
    names = [type(e).__name__ for e in enrichers]
    bare = FactBuilder(deployment.base.program)  # base facts only; the enrichers are timed one by one
    passes = []
    for _ in range(3):  # cold caches, then two warm passes (a running service): the best of the two
        spent = {name: {kind: 0.0 for kind in KINDS.values()} for name in names}
        counted = {kind: 0 for kind in KINDS.values()}
        for claim in normalised:
            kind = KINDS.get(claim.type_of_bill or "", "other")
            counted[kind] = counted.get(kind, 0) + 1
            facts = bare.build(claim)
            for name, enricher in zip(names, enrichers):
                started = time.thread_time()
                enricher.enrich(claim, facts)
                spent[name][kind] = spent[name].get(kind, 0.0) + time.thread_time() - started
        passes.append({name: {kind: spent[name].get(kind, 0.0) / n * 1e6 for kind, n in counted.items() if n}
                       for name in names})
    total = len(normalised)

    def overall(one: dict, name: str) -> float:
        return sum(one[name][KINDS.get(c.type_of_bill or "", "other")] for c in normalised) / total

    cold = passes[0]
    warm = min(passes[1:], key=lambda p: sum(overall(p, n) for n in names))
    return {"package": scrubber.__file__, "claims": total, "enrichers": names,
            "us_per_claim_cold": {n: round(overall(cold, n), 1) for n in names},
            "us_per_claim_warm": {n: round(overall(warm, n), 1) for n in names},
            "us_per_claim_warm_by_kind": {n: {k: round(v, 1) for k, v in warm[n].items()} for n in names}}


def measure(args) -> dict:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE / "bench"))
    from check_throughput import corpus, run  # imported here: the sibling script, once sys.path has it

    root = args.root.resolve()
    out = HERE / "bench" / "out" / f"institutional-{args.label}"
    out.mkdir(parents=True, exist_ok=True)
    corpus_file = out / f"corpus-{args.claims}-{args.seed}.ndjson"
    corpus(corpus_file, args.seed, args.claims, "institutional")
    data_dir = out / "data"
    load_before = os.getloadavg()
    started = time.perf_counter()
    run(root, data_dir, corpus_file, out / "warmup.ndjson")  # builds the reference database
    built = time.perf_counter() - started
    rates, per_cpu = [], []
    for i in range(args.runs):
        before = os.times()
        rates.append(run(root, data_dir, corpus_file, out / f"run-{i}.ndjson"))
        after = os.times()
        cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
        per_cpu.append(round(args.claims / cpu))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRUBBER_")}
    env.update(PYTHONPATH=str(root), SCRUBBER_DATA_DIR=str(data_dir), PYTHONDONTWRITEBYTECODE="1")
    child = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--phase", "enrich",
                            "--corpus-file", str(corpus_file), "--data-dir", str(data_dir), "--root", str(root)],
                           env=env, cwd=root, capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(f"the enrichment phase failed:\n{child.stderr[-3000:]}")
    enrich = json.loads(child.stdout.strip().splitlines()[-1])
    kinds: dict[str, int] = {}
    for line in corpus_file.read_text().splitlines():
        kind = KINDS.get(json.loads(line).get("type_of_bill"), "other (a defective type of bill)")
        kinds[kind] = kinds.get(kind, 0) + 1
    return {"label": args.label, "root": str(root), "measured_at": dt.datetime.now().isoformat(timespec="seconds"),
            "claims": args.claims, "seed": args.seed, "corpus_kinds": kinds, "first_run_s": round(built, 1),
            "check_claims_per_s": rates, "check_claims_per_s_best": max(rates),
            "check_claims_per_cpu_s": per_cpu, "enrichment": enrich,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()]}


def _rows(result: dict) -> dict[str, str]:
    enrich = result["enrichment"]
    rows = {"`scrubber check` claims/s (best of runs)": f"{result['check_claims_per_s_best']:,.0f}",
            "  every run": ", ".join(f"{r:,.0f}" for r in result["check_claims_per_s"]),
            "`scrubber check` claims per CPU s (whole process, best)": f"{max(result['check_claims_per_cpu_s']):,}",
            "enrichment CPU µs/claim, all enrichers, cold": f"{sum(enrich['us_per_claim_cold'].values()):.1f}",
            "enrichment CPU µs/claim, all enrichers, warm": f"{sum(enrich['us_per_claim_warm'].values()):.1f}"}
    for name in sorted({*enrich["enrichers"], "Institutional"}):
        if name in enrich["us_per_claim_warm"]:
            rows[f"  {name}, cold"] = f"{enrich['us_per_claim_cold'][name]:.1f}"
            rows[f"  {name}, warm"] = f"{enrich['us_per_claim_warm'][name]:.1f}"
            for kind, value in enrich["us_per_claim_warm_by_kind"][name].items():
                rows[f"    {name}, warm, {kind}"] = f"{value:.1f}"
        else:
            rows[f"  {name}"] = "(none in this tree)"
    return rows


def markdown(result: dict, other: dict | None) -> str:
    columns = [result] if other is None else sorted([result, other], key=lambda r: r["label"] != "before")
    rows = [_rows(r) for r in columns]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    head = "| figure | " + " | ".join(r["label"] for r in columns) + " |\n|---|" + "---:|" * len(columns) + "\n"
    body = "".join(f"| {k} | " + " | ".join(r.get(k, "") for r in rows) + " |\n" for k in keys)
    return (f"# Hospital claims: `scrubber check` and enrichment on an institutional corpus: {result['label']}\n\n"
            f"`python bench/institutional.py --root {result['root']} --label {result['label']}`, "
            f"{result['measured_at']}; {result['claims']:,} claims of "
            f"`tests.generators.realistic_institutional_claims` (seed {result['seed']}: "
            + ", ".join(f"{n:,} {k}" for k, n in result["corpus_kinds"].items())
            + f"); load average {result['load_average_before']} before, {result['load_average_after']} after "
            "(2 cores shared with other work; the enrichment figures are CPU time, one core).\n\n"
            + head + body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout to measure (default: this one)")
    parser.add_argument("--label", default="after")
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--phase", choices=["enrich"], help=argparse.SUPPRESS)
    parser.add_argument("--corpus-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "enrich":
        print(json.dumps(phase_enrich(args.corpus_file, args.data_dir, args.root.resolve())))
        return
    result = measure(args)
    other_label = "after" if args.label == "before" else "before"
    other_file = RESULTS / f"institutional-{other_label}.json"
    other = json.loads(other_file.read_text()) if other_file.exists() else None
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"institutional-{args.label}.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result, other)
    (RESULTS / f"institutional-{args.label}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
