"""Evaluate every run of one split and test each against the baselines."""

import pandas as pd

from slimrank.evaluation import evaluate_runs, paired_tests
from slimrank.logs import setup
from slimrank.study import METRICS, SIGNIFICANCE
from slimrank.trec import atomic_output, read_qrels, read_run

log = setup(snakemake.log[0])
split = snakemake.wildcards.split
qrels = read_qrels(snakemake.input.qrels)
runs = {name: read_run(path) for name, path in snakemake.params.runs.items()}
metrics = evaluate_runs(qrels, runs, snakemake.params.metrics, snakemake.params.relevance_level)
metrics.insert(0, METRICS.split, split)
tests = [
    paired_tests(qrels, runs, snakemake.params.metrics, snakemake.params.relevance_level, baseline)
    for baseline in snakemake.params.baselines
]
significance = pd.concat(tests, ignore_index=True)
significance.insert(0, SIGNIFICANCE.split, split)
log.info("%s:\n%s", split, metrics.to_string(index=False))
with atomic_output(snakemake.output.metrics) as out:
    metrics.to_csv(out, sep="\t", index=False, float_format="%.6f")
with atomic_output(snakemake.output.significance) as out:
    significance.to_csv(out, sep="\t", index=False, float_format="%.6g")
