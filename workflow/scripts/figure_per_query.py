"""Per-query nDCG@10 of the best compressed model against the full model."""

from pathlib import Path

import pandas as pd

from slimrank.figures import plot_per_query
from slimrank.report import per_query_comparison
from slimrank.trec import read_qrels

scores, full, label = per_query_comparison(
    pd.read_csv(snakemake.input.metrics, sep="\t"),
    snakemake.params.split,
    read_qrels(snakemake.input.qrels),
    dict(zip(snakemake.params.models, snakemake.input.runs, strict=True)),
    snakemake.params.relevance_level,
)
plot_per_query(scores, full, Path(snakemake.output.pdf).with_suffix(""), label=label)
