"""Effectiveness against measured throughput relative to the full model."""

from pathlib import Path

import pandas as pd

from slimrank.figures import plot_speed

plot_speed(
    pd.read_csv(snakemake.input.metrics, sep="\t"),
    pd.read_csv(snakemake.input.efficiency, sep="\t"),
    Path(snakemake.output.pdf).with_suffix(""),
    split=snakemake.params.split,
    metric=snakemake.params.metrics[0],
)
