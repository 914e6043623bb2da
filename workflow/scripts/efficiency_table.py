"""One row per model: throughput and its ratio to the full model, latency, memory, sizes."""

import json

import pandas as pd

from slimrank.logs import setup
from slimrank.study import EFFICIENCY_FIRST
from slimrank.trec import atomic_output

log = setup(snakemake.log[0])
records = [json.loads(open(path).read()) for path in snakemake.input]
table = pd.DataFrame(
    [{k: v for k, v in r.items() if not isinstance(v, list | dict)} for r in records]
)
first = list(EFFICIENCY_FIRST)
table = table[first + [c for c in table.columns if c not in first]]
log.info("\n%s", table[first].to_string(index=False))
with atomic_output(snakemake.output[0]) as out:
    table.to_csv(out, sep="\t", index=False, float_format="%.6g")
