"""Evaluate every run (each seed's) of one split and test each against the baselines."""

import pandas as pd

from slimrank.evaluation import evaluate_runs, seeded_paired_tests
from slimrank.logs import setup
from slimrank.study import METRICS, SIGNIFICANCE
from slimrank.trec import atomic_output, read_qrels, read_run

log = setup(snakemake.log[0])
split = snakemake.wildcards.split
qrels = read_qrels(snakemake.input.qrels)
# name -> seed -> run; seed None for BM25 and reference runs, which have none.
runs = {}
for name, seed, path in snakemake.params.runs:
    runs.setdefault(name, {})[seed] = read_run(path)
level = snakemake.params.relevance_level
metrics = pd.concat(
    (
        evaluate_runs(qrels, {name: run}, snakemake.params.metrics, level).assign(
            **{METRICS.seed: seed}
        )
        for name, by_seed in runs.items()
        for seed, run in by_seed.items()
    ),
    ignore_index=True,
)
metrics[METRICS.seed] = metrics[METRICS.seed].astype("Int64")
metrics.insert(0, METRICS.split, split)
metrics = metrics[list(METRICS)].sort_values([METRICS.run, METRICS.seed], kind="stable")
tests = [
    seeded_paired_tests(qrels, runs, snakemake.params.metrics, level, baseline)
    for baseline in snakemake.params.baselines
]
significance = pd.concat(tests, ignore_index=True)
significance.insert(0, SIGNIFICANCE.split, split)
log.info("%s:\n%s", split, metrics.to_string(index=False))
with atomic_output(snakemake.output.metrics) as out:
    metrics.to_csv(out, sep="\t", index=False, float_format="%.6f")
with atomic_output(snakemake.output.significance) as out:
    significance.to_csv(out, sep="\t", index=False, float_format="%.6g")
