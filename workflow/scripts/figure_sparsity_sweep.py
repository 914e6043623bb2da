"""Effectiveness against encoder sparsity, per pruning schedule."""

from pathlib import Path

import pandas as pd

from slimrank.figures import plot_sparsity_sweep

plot_sparsity_sweep(
    pd.read_csv(snakemake.input.metrics, sep="\t"),
    pd.read_csv(snakemake.input.params, sep="\t"),
    Path(snakemake.output.pdf).with_suffix(""),
    split=snakemake.params.split,
    metrics_list=snakemake.params.metrics,
)
