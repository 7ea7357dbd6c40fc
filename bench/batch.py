"""Intake at scale, end to end: one process beside `scrubber batch` on processes and on Dask.

Generates once, cached under bench/out/ (gitignored):

- an NDJSON file of `--claims` realistic claims (default 1,000,000; tests/generators.py:
  1-12 lines, 1-12 diagnoses, valid NPIs, 15% with one typical defect);
- an 837P file of `--x12-claims` of the same claims (default 100,000), written as X12 text:
  one interchange, transaction sets of 500 claims, each claim with its own billing provider
  and subscriber levels, diagnoses in HI, one LX/SV1/DTP per line.

Then, for each file, each run in a fresh process (so that peak memory is the run's own):

- single: `scrubber check IN --out OUT` (one process, streaming);
- batch: `scrubber batch IN --out OUT --workers 2`;
- dask: `scrubber batch IN --out OUT --dask --workers 2` (a LocalCluster of 2 worker processes).

It prints claims/s (wall clock, start-up included), peak resident memory of the coordinator and
of the largest worker, and the ratio to the single process; and checks that every run wrote the
same records (scrub_id aside). Target: >= 3,000 claims/s with both cores of a 2-core machine.

    python bench/batch.py [--claims 1000000] [--x12-claims 100000] [--workers 2] [--chunk-size 1000]
                          [--only ndjson|x12] [--modes single,batch,dask]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
SET_SIZE = 500  # claims per 837 transaction set
SCRUB_ID = re.compile(rb',"scrub_id":"[0-9A-Z]{26}"')
MODES = ("single", "batch", "dask")


# ------------------------------------------------------------------------------ corpora

def claim_dicts(count: int, seed: int = 29):
    from tests.generators import realistic_claim_dict

    rng = random.Random(seed)
    for index in range(count):
        yield realistic_claim_dict(rng, index)


def ndjson_corpus(count: int) -> Path:
    path = OUT / f"batch-{count}.ndjson"
    if not path.exists():
        started = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(claim, separators=(",", ":")) + "\n" for claim in claim_dicts(count))
        tmp.rename(path)
        print(f"generated {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - started:.0f} s")
    return path


def _d8(iso: str) -> str:
    return iso.replace("-", "")


def x12_claim(claim: dict, hl: int) -> list[str]:
    """One claim as its 2000A billing provider, 2000B subscriber and 2300/2400 loops."""
    billing, patient, payer = claim["billing_provider"], claim["patient"], claim["payer"]
    segments = [f"HL*{hl}**20*1", f"PRV*BI*PXC*{billing['taxonomy']}",
                f"NM1*85*2*NORTHSIDE CLINIC*****XX*{billing['npi']}", "N3*1 MAIN ST", "N4*MIAMI*FL*33111",
                f"REF*EI*{billing['tax_id']}",
                f"HL*{hl + 1}*{hl}*22*0", "SBR*P*18*******CI",
                f"NM1*IL*1*{patient['last_name'].upper()}*{patient['first_name'].upper()}****MI*{patient['member_id']}",
                f"DMG*D8*{_d8(patient['birth_date'])}*{patient['sex']}",
                f"NM1*PR*2*{payer['name'].upper()}*****PI*{payer['id']}",
                f"CLM*{claim['claim_id']}*{claim['total_charge']}***{claim['place_of_service']}:B:1*Y*A*Y*Y"]
    codes = [d["code"].replace(".", "") for d in claim["diagnoses"]]
    segments.append("HI*" + "*".join([f"ABK:{codes[0]}"] + [f"ABF:{c}" for c in codes[1:]]))
    segments += [f"NM1*82*1*KILDARE*BEN****XX*{claim['rendering_provider']['npi']}", "PRV*PE*PXC*207Q00000X"]
    for line in claim["lines"]:
        product = ":".join(["HC", line["procedure_code"], *line["modifiers"]])
        pointers = ":".join(str(p) for p in line["diagnosis_pointers"])
        segments += [f"LX*{line['line_number']}", f"SV1*{product}*{line['charge']}*UN*{line['units']}***{pointers}",
                     f"DTP*472*D8*{_d8(line['service_date'])}"]
    return segments


def x12_corpus(count: int) -> Path:
    path = OUT / f"batch-{count}.837"
    if path.exists():
        return path
    started = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    today = dt.date(2026, 2, 1).strftime("%Y%m%d")
    with open(tmp, "w", encoding="ascii") as out:
        out.write("ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *260201*1200*^*00501*"
                  "000000001*0*P*:~\nGS*HC*SUBMITTER*RECEIVER*20260201*1200*1*X*005010X222A1~\n")
        claims = claim_dicts(count)
        sets = 0
        for first in range(0, count, SET_SIZE):
            sets += 1
            st02 = f"{sets:04d}"
            body = [f"ST*837*{st02}*005010X222A1", f"BHT*0019*00*{st02}*{today}*1200*CH",
                    "NM1*41*2*BILLING SERVICE*****46*TGJ23", "PER*IC*ANN*TE*3055551234",
                    "NM1*40*2*CLEARINGHOUSE*****46*66783JJT"]
            for n in range(min(SET_SIZE, count - first)):
                body += x12_claim(next(claims), 1 + 2 * n)
            body.append(f"SE*{len(body) + 1}*{st02}")
            out.write("".join(segment + "~\n" for segment in body))
        out.write(f"GE*{sets}*1~\nIEA*1*000000001~\n")
    tmp.rename(path)
    print(f"generated {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - started:.0f} s")
    return path


# ------------------------------------------------------------------------------ runs

def child(mode: str, source: str, out: str, workers: int, chunk_size: int) -> None:
    """One run, in this (fresh) process; prints its figures as JSON on the last line."""
    from scrubber.workflows import batch

    started = time.perf_counter()
    if mode == "single":
        from scrubber.cli import main

        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                main(["check", source, "--out", out])
            finally:
                sys.stdout = stdout
        figures = {"workers": 1, "worker_rss": 0}
    else:
        settings = batch.Settings(today=dt.date.today())
        report = batch.run(source, out, settings=settings, workers=workers,
                           dask="" if mode == "dask" else None, chunk_size=chunk_size)
        figures = {"workers": report.workers, "worker_rss": report.worker_rss}
    seconds = time.perf_counter() - started
    with open(out, "rb") as results:
        figures.update(seconds=seconds, coordinator_rss=batch.peak_rss(), records=sum(1 for _ in results))
    print(json.dumps(figures))


def run(mode: str, source: Path, workers: int, chunk_size: int) -> dict:
    out = OUT / f"{source.name}.{mode}.out.ndjson"
    done = subprocess.run([sys.executable, __file__, "--child", mode, str(source), str(out), str(workers),
                           str(chunk_size)], check=True, capture_output=True, text=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["out"] = out
    return figures


def first_difference(a: Path, b: Path) -> str:
    """'yes' when both runs wrote the same records (scrub_id aside), else where they differ."""
    with open(a, "rb") as left, open(b, "rb") as right:
        for number, (x, y) in enumerate(zip(left, right), start=1):
            if SCRUB_ID.sub(b"", x) != SCRUB_ID.sub(b"", y):
                return f"NO, from record {number}: {x[:120]!r} / {y[:120]!r}"
        return "yes" if left.read(1) == right.read(1) == b"" else "NO: not as many records"


def report(title: str, source: Path, modes: list[str], workers: int, chunk_size: int) -> None:
    print(f"\n{title}: {source.name} ({source.stat().st_size / 2**20:.0f} MiB), {workers} workers, "
          f"chunks of {chunk_size}")
    print(f"  {'mode':8s} {'claims':>9s} {'seconds':>8s} {'claims/s':>9s} {'x single':>8s} "
          f"{'coord MiB':>9s} {'worker MiB':>10s}  same records")
    single = None
    for mode in modes:
        figures = run(mode, source, workers, chunk_size)
        rate = figures["records"] / figures["seconds"]
        if mode == "single":
            single = figures
        ratio = f"{rate / (single['records'] / single['seconds']):.2f}" if single else "-"
        same = "-" if single is None or mode == "single" else first_difference(single["out"], figures["out"])
        print(f"  {mode:8s} {figures['records']:>9d} {figures['seconds']:>8.1f} {rate:>9.0f} {ratio:>8s} "
              f"{figures['coordinator_rss'] / 2**20:>9.0f} {figures['worker_rss'] / 2**20 or 0:>10.0f}  {same}",
              flush=True)
    for mode in modes:
        (OUT / f"{source.name}.{mode}.out.ndjson").unlink(missing_ok=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, source, out, workers, chunk_size = sys.argv[2:7]
        child(mode, source, out, int(workers), int(chunk_size))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--claims", type=int, default=1_000_000, help="claims in the NDJSON file")
    parser.add_argument("--x12-claims", type=int, default=100_000, help="claims in the 837P file")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--only", choices=["ndjson", "x12"])
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, of: single, batch, dask")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SCRUBBER_DATA_DIR", str(OUT / "data"))  # the shipped baseline, built once
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} (other work on the machine slows every run)")
    if args.only != "ndjson":
        report("837P", x12_corpus(args.x12_claims), modes, args.workers, args.chunk_size)
    if args.only != "x12":
        report("NDJSON", ndjson_corpus(args.claims), modes, args.workers, args.chunk_size)


if __name__ == "__main__":
    main()
