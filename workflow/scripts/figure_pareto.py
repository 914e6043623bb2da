"""Effectiveness against measured speed for every model x precision, with the Pareto frontier."""

from pathlib import Path

import pandas as pd

from slimrank.figures import plot_pareto

plot_pareto(
    pd.read_csv(snakemake.input.metrics, sep="\t"),
    pd.read_csv(snakemake.input.efficiency, sep="\t"),
    Path(snakemake.output.pdf).with_suffix(""),
    split=snakemake.params.split,
    metric=snakemake.params.metrics[0],
    seed=snakemake.params.seed,
)
