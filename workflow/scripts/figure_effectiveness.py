"""Effectiveness against non-zero parameters: layer drop vs each pruning schedule."""

from pathlib import Path

import pandas as pd

from slimrank.figures import plot_effectiveness

plot_effectiveness(
    pd.read_csv(snakemake.input.metrics, sep="\t"),
    pd.read_csv(snakemake.input.params, sep="\t"),
    Path(snakemake.output.pdf).with_suffix(""),
    split=snakemake.params.split,
    metrics_list=snakemake.params.metrics,
)
