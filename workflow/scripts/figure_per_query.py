"""Per-query primary metric of the best compressed model against the full model."""

from pathlib import Path

import pandas as pd

from slimrank.figures import plot_per_query
from slimrank.study import FULL, METRICS
from slimrank.tables import best_compressed_run, per_query_comparison
from slimrank.trec import read_qrels, read_run

metric = snakemake.params.metrics[0]
metrics = pd.read_csv(snakemake.input.metrics, sep="\t", dtype={METRICS.run: str})
best = best_compressed_run(metrics, snakemake.params.split, metric)
files = dict(zip(snakemake.params.models, snakemake.input.runs, strict=True))
runs = {name: read_run(files[name]) for name in (best, FULL) if name is not None}
scores, full, label = per_query_comparison(
    read_qrels(snakemake.input.qrels), runs, best, snakemake.params.relevance_level, metric
)
plot_per_query(scores, full, Path(snakemake.output.pdf).with_suffix(""), label, metric)
