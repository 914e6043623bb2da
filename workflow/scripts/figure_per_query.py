"""Per-query nDCG@10 of the best compressed model against the full model."""

from pathlib import Path

import pandas as pd

from slimrank.evaluation import per_query_scores
from slimrank.figures import plot_per_query
from slimrank.report import best_compressed_run
from slimrank.trec import read_qrels, read_run

split = snakemake.params.split
metrics = pd.read_csv(snakemake.input.metrics, sep="\t")
best = best_compressed_run(metrics, split, "ndcg@10")
qrels = read_qrels(snakemake.input.qrels)
paths = dict(zip(snakemake.params.models, snakemake.input.runs, strict=True))
scores = {
    name: per_query_scores(qrels, read_run(paths[name]), "ndcg@10", 2) for name in ("full", best)
}
plot_per_query(scores[best], scores["full"], Path(snakemake.output.pdf).with_suffix(""), label=best)
