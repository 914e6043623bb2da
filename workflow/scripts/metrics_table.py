"""Concatenate the per-split metrics and significance tables."""

import pandas as pd

from slimrank.logs import setup
from slimrank.study import METRICS
from slimrank.trec import atomic_output

log = setup(snakemake.log[0])
for key in ("metrics", "significance"):
    table = pd.concat(
        (
            pd.read_csv(path, sep="\t", dtype={METRICS.run: str, METRICS.split: str})
            for path in snakemake.input[key]
        ),
        ignore_index=True,
    )
    if METRICS.seed in table:  # whole numbers, empty for runs without a seed
        table[METRICS.seed] = table[METRICS.seed].astype("Int64")
    with atomic_output(snakemake.output[key]) as out:
        table.to_csv(out, sep="\t", index=False, float_format="%.6g")
    log.info("%s: %d rows", key, len(table))
