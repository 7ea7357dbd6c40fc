"""Differential test of the engine against the reference evaluator, at full size.

Generated claims are scrubbed with the shipped rules by both evaluators, then generated rule
files are scrubbed against generated claims; every finding must be identical. Runs in its own
process so that a crash or hang of the C engine is seen as a failure, not lost.

    python bench/differential.py [--claims 10000] [--files 200] [--claims-per-file 50] [--seed 1]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scrubber.settings import settings  # noqa: E402
from scrubber.pipeline.enrich.history import MemoryHistory  # noqa: E402
from scrubber.pipeline.enrich.frequency import FrequencyLimits
from scrubber.ruleset.payers import load_deployment  # noqa: E402
from scrubber.pipeline.scrubber import Scrubber, standard_enrichers  # noqa: E402
from scrubber.refdata.baseline import open_reference  # noqa: E402
from scrubber.ruleset.loader import RuleSetError, load_ruleset, load_texts, read_texts  # noqa: E402
import random  # noqa: E402

from scrubber.contract.claim import Claim  # noqa: E402
from scrubber.ruleset.examples import complete_claim  # noqa: E402
from tests.generators import RuleFileGenerator, claims, realistic_institutional_claim_dict  # noqa: E402

TODAY = dt.date(2026, 1, 20)


_DATA = []


def reference_data():
    if not _DATA:
        _DATA.append(open_reference(settings().data_dir))
    return _DATA[0]


def compare(ruleset, claim_list, fired: set[str] | None = None, payer=None) -> tuple[int, int, list[dict]]:
    """(claims compared, findings seen, mismatches) of engine vs reference on these claims. Each
    evaluator has its own claim-line history, fed the same claims in the same order, so that the
    cross-claim rules are compared too."""
    histories = MemoryHistory(), MemoryHistory()
    data = reference_data()

    def enrichers(history):
        extra = (FrequencyLimits(payer.frequency, history, payer.name),) if payer is not None and payer.frequency else ()
        return standard_enrichers(data, history) + extra
    engine = Scrubber(ruleset, enrichers=enrichers(histories[0]))
    reference = Scrubber(ruleset, evaluator="reference", enrichers=enrichers(histories[1]))
    mismatches, findings = [], 0
    fired = set() if fired is None else fired
    try:
        for claim in claim_list:
            by_engine = engine.scrub(claim.model_copy(deep=True), today=TODAY).findings
            by_reference = reference.scrub(claim.model_copy(deep=True), today=TODAY).findings
            for history in histories:
                history.remember(claim)
            findings += len(by_engine)
            fired.update(f.rule_id for f in by_engine)
            if by_engine != by_reference:
                mismatches.append({"claim_id": claim.claim_id,
                                   "engine": [f.model_dump() for f in by_engine],
                                   "reference": [f.model_dump() for f in by_reference]})
    finally:
        engine.close()
    return len(claim_list), findings, mismatches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--claims-per-file", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hospital-claims", type=int, default=2_000,
                        help="realistic institutional claims (half with a typical defect) added to the shipped-rules run")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    claim_list = claims(args.seed, max(args.claims, args.claims_per_file))
    shipped_rules = load_ruleset()
    fired: set[str] = set()
    rng = random.Random(args.seed)
    hospital = [Claim.model_validate(realistic_institutional_claim_dict(rng, i, defect_rate=0.5))
                for i in range(args.hospital_claims)]
    # every rule's own example claims too (each example's earlier claims first): a rule whose
    # trigger the generators rarely produce is still compared, engine against reference
    deployment = load_deployment(settings().rules_dir, settings().payers_dir)
    examples = [Claim.model_validate(complete_claim(partial))
                for ruleset in (deployment.base, *(p.ruleset for p in deployment.payers.values()))
                for compiled in ruleset.program.rules for example in compiled.rule.examples
                for partial in (*example.history, example.claim)]
    shipped = compare(shipped_rules, claim_list[:args.claims] + hospital + examples, fired)
    payer_claims = payer_findings = 0
    payer_mismatches: list[dict] = []
    payer_fired: set[str] = set()
    for profile in deployment.payers.values():  # each payer's rule set on its share of the claims
        n, seen, mismatches = compare(profile.ruleset, claim_list[:args.claims // 5] + examples, payer_fired, profile)
        payer_claims, payer_findings = payer_claims + n, payer_findings + seen
        payer_mismatches += [dict(m, payer=profile.id) for m in mismatches]
    payer_rules = {c.rule.id for p in deployment.payers.values() for c in p.ruleset.program.rules
                   if c.source.startswith("payers/")}
    # every rule of the shipped rule files, with those off unless a payer profile switches their family
    # on (`enabled: false`, payers/*.yaml `requirements:`): those fire only through a payer's rule set
    shipped_ids = {rule["id"] for _, text in read_texts(settings().rules_dir)
                   for rule in yaml.safe_load(text).get("rules") or []}

    generator = RuleFileGenerator(args.seed)
    files = rejected = rules = file_findings = 0
    file_mismatches: list[dict] = []
    for index in range(args.files):
        text = generator.rule_file()
        try:
            ruleset = load_texts([(f"generated-{index}.yaml", text)])
        except RuleSetError as exc:
            rejected += 1
            file_mismatches.append({"file": index, "rejected": [str(p) for p in exc.problems[:3]]})
            continue
        files += 1
        rules += len(ruleset.program.rules)
        start = (index * args.claims_per_file) % max(1, len(claim_list) - args.claims_per_file)
        _, seen, mismatches = compare(ruleset, claim_list[start:start + args.claims_per_file])
        file_findings += seen
        file_mismatches += [dict(m, file=index) for m in mismatches]

    figures = {
        "shipped_rules_claims": shipped[0], "generated_claims": min(args.claims, len(claim_list)),
        "hospital_claims": len(hospital), "example_claims": len(examples), "shipped_rules_findings": shipped[1],
        "shipped_rules_mismatches": len(shipped[2]),
        "shipped_rules_that_fired": f"{len(fired)} of {len(shipped_rules.program.rules)}",
        "shipped_rules_never_fired": sorted(shipped_ids - fired - payer_fired),
        "payer_claims": payer_claims, "payer_findings": payer_findings, "payer_mismatches": len(payer_mismatches),
        "payer_rules_that_fired": f"{len(payer_rules & payer_fired)} of {len(payer_rules)}",
        "generated_files": files, "generated_rules": rules, "generated_files_rejected": rejected,
        "generated_claims_checked": files * args.claims_per_file, "generated_findings": file_findings,
        "generated_mismatches": len(file_mismatches), "seconds": round(time.perf_counter() - started, 1),
        "examples": (shipped[2] + payer_mismatches + file_mismatches)[:3],
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            if key != "examples":
                print(f"{key:28s} {value}")
        for example in figures["examples"]:
            print("MISMATCH", json.dumps(example)[:2000])
    return 0 if not shipped[2] and not payer_mismatches and not file_mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
