"""Reference data at full size: memory per worker, cold start, enrichment cost, claims/s.

Builds (once, cached under bench/out/) a reference database with synthetic tables of the real
size beside the shipped ICD-10-CM FY2025 + FY2026 and MCE baseline:

- NCCI PTP: 4,000,000 rows (2,000,000 practitioner + 2,000,000 hospital, with history rows);
- MUE: 20,000 codes in each of the practitioner, hospital and DME tables;
- add-on codes: 3,000 edits.

Then, each in a fresh worker process (as `scrubber serve --workers N` starts them):

- cold start: import, open the reference data, load and compile the rules, first claim scrubbed;
- resident memory (RSS) and private memory (USS: what the worker does not share with others
  through the page cache) after scrubbing the corpus;
- enrichment cost per claim (the CodingEdits enricher alone) and claims/s with all rules.

Targets: RSS < 300 MB per worker, cold start < 5 s.

    python bench/reference.py [--claims 5000] [--ptp-rows 4000000] [--workers 2]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
TODAY = dt.date(2026, 3, 20)


def cpt_codes(n: int) -> list[str]:
    rng = random.Random(7)
    return sorted({f"{rng.randrange(10000, 99999):05d}" for _ in range(n * 2)})[:n]


def build(data_dir: Path, ptp_rows: int) -> None:
    from scrubber.refdata.store import Writer, database_path, datasets
    from scrubber.refdata.baseline import ensure_baseline

    ensure_baseline(data_dir)
    writer = Writer(database_path(data_dir))
    with writer.connect() as conn:
        have = {d.name: d.rows for d in datasets(conn)}
    codes = cpt_codes(20000)
    per_setting = ptp_rows // 2
    rng = random.Random(11)
    with writer.connect() as conn:
        conn.execute("INSERT OR IGNORE INTO ptp_rationale VALUES (1, 'Misuse of Column Two code with Column One code')")
        for setting in ("practitioner", "hospital"):
            if have.get(f"ncci-ptp:{setting}") == per_setting:
                continue
            t0 = time.perf_counter()

            def rows():
                # column two codes in order; ~100 column-one codes each; 1 in 5 with a deleted
                # earlier version of the edit (history), as in the real files
                count = 0
                per_code = per_setting // len(codes)
                for c2 in codes:
                    partners = sorted(rng.sample(codes, per_code + 1))
                    for c1 in partners:
                        if c1 == c2 or count >= per_setting:
                            continue
                        if rng.random() < 0.2 and count + 1 < per_setting:
                            yield (setting, c1, c2, 20100101, 20151231, 0, 1)
                            count += 1
                        yield (setting, c1, c2, 20160101, None, rng.choice((0, 1, 1, 1, 9)), 1)
                        count += 1
            n = writer.replace(conn, "ncci-ptp", setting, "import", "synthetic", {"ptp": rows()})
            print(f"  built ncci-ptp:{setting}: {n:,} rows in {time.perf_counter() - t0:.1f} s", flush=True)
        for setting in ("practitioner", "hospital", "dme"):
            if have.get(f"mue:{setting}") == len(codes):
                continue
            writer.replace(conn, "mue", setting, "import", "synthetic", {"mue": (
                (setting, c, rng.choice((1, 1, 2, 3, 4, 6)), rng.choice((1, 2, 3)), "synthetic") for c in codes)})
        if have.get("aoc", 0) < 3000:
            writer.replace(conn, "aoc", None, "import", "synthetic", {"aoc": sorted({
                (rng.choice(codes), rng.choice(codes), rng.choice((1, 1, 2, 3)), 20100101, None)
                for _ in range(3000)})})
    print(f"  database: {database_path(data_dir).stat().st_size / 1e6:,.0f} MB", flush=True)


def corpus(n: int):
    """Realistic claims whose procedure codes come from the synthetic tables' code range."""
    from scrubber.contract.claim import Claim
    from tests.generators import realistic_claims

    codes = cpt_codes(20000)
    rng = random.Random(5)
    out = []
    for claim in realistic_claims(9, n):
        data = claim.model_dump(mode="json", exclude_none=True)
        for line in data["lines"]:
            if rng.random() < 0.6:
                line["procedure_code"] = rng.choice(codes[:400])  # common codes meet often
        out.append(Claim.model_validate(data))
    return out


def memory() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0]) / 1024
    return {"rss_mb": fields["Rss"], "uss_mb": fields["Private_Clean"] + fields["Private_Dirty"],
            "pss_mb": fields["Pss"]}


def worker(data_dir: str, corpus_file: str, queue) -> None:
    """One worker as the service runs it: the claims arrive one at a time (read from a file of
    JSON lines), so what it holds is the rules, the reference data and its caches."""
    t0 = time.perf_counter()
    from scrubber.contract.claim import Claim
    from scrubber.ruleset.examples import complete_claim
    from scrubber.pipeline.scrubber import Scrubber, standard_enrichers
    from scrubber.refdata.baseline import open_reference
    from scrubber.ruleset.loader import load_ruleset

    reference = open_reference(data_dir)
    scrubber = Scrubber(load_ruleset(), enrichers=standard_enrichers(reference))
    scrubber.scrub(Claim.model_validate(complete_claim({})), today=TODAY)
    cold = time.perf_counter() - t0
    started_mb = memory()["rss_mb"]

    from scrubber.pipeline.enrich.coding_edits import CodingEdits
    from scrubber.pipeline.normalise import normalise

    def claims():
        with open(corpus_file, encoding="utf-8") as f:
            for line in f:
                yield Claim.model_validate_json(line)

    enricher, builder = CodingEdits(reference), scrubber.builder
    n, enrich_s = 0, 0.0
    for claim in claims():  # the enricher alone (caches warm up here, as in a running service)
        facts = builder.build(normalise(claim, today=TODAY))
        t = time.perf_counter()
        enricher.enrich(claim, facts)
        enrich_s += time.perf_counter() - t
        n += 1
    findings: dict[str, int] = {}
    started = time.perf_counter()
    for claim in claims():
        for f in scrubber.scrub(claim, today=TODAY).findings:
            findings[f.category] = findings.get(f.category, 0) + 1
    rate = n / (time.perf_counter() - started)
    queue.put({"cold_start_s": round(cold, 2), "enrich_us_per_claim": round(enrich_s / n * 1e6, 1),
               "claims_per_s": round(rate), "rss_after_start_mb": round(started_mb),
               **{k: round(v) for k, v in memory().items()}, "findings": dict(sorted(findings.items()))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--ptp-rows", type=int, default=4_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    data_dir = OUT / f"reference-{args.ptp_rows}"
    print(f"reference data under {data_dir}", flush=True)
    build(data_dir, args.ptp_rows)
    corpus_file = OUT / f"corpus-{args.claims}.ndjson"
    if not corpus_file.exists():
        corpus_file.write_text("".join(c.model_dump_json(exclude_none=True) + "\n" for c in corpus(args.claims)))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(str(data_dir), str(corpus_file), queue))
             for _ in range(args.workers)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=900) for _ in procs]  # a worker that dies ends the run
    for p in procs:
        p.join()
    for i, r in enumerate(results):
        print(f"worker {i}: " + json.dumps(r))
    print(f"\n{args.workers} workers, {args.claims} claims each, PTP {args.ptp_rows:,} rows")
    print(f"cold start (import, open data, compile rules, first claim): max {max(r['cold_start_s'] for r in results)} s (target < 5 s)")
    print(f"resident memory per worker: max {max(r['rss_mb'] for r in results)} MB RSS (target < 300 MB), "
          f"{max(r['uss_mb'] for r in results)} MB private (USS), {max(r['pss_mb'] for r in results)} MB PSS")
    print(f"enrichment (reference lookups) per claim: {min(r['enrich_us_per_claim'] for r in results)} us")
    print(f"claims/s per worker with all rules (both workers running at once): {min(r['claims_per_s'] for r in results)}")


if __name__ == "__main__":
    main()
