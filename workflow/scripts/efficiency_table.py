"""One row per model: throughput and its ratio to the full model, latency, memory, sizes."""

import json

import pandas as pd

from slimrank.efficiency import overlap_reference, top_k_overlap
from slimrank.logs import setup
from slimrank.study import EFFICIENCY, EFFICIENCY_FIRST
from slimrank.trec import atomic_output, read_run

log = setup(snakemake.log[0])
records = [json.loads(open(path).read()) for path in snakemake.input.records]
# Top-10 overlap of each row's reranking of the paper split with its fp32 model's (seeds[0]).
runs = dict(zip(snakemake.params.runs, snakemake.input.runs, strict=True))
for record in records:
    reference = overlap_reference(record[EFFICIENCY.model], list(runs))
    record[EFFICIENCY.overlap_reference] = reference
    record[EFFICIENCY.top10_overlap] = (
        top_k_overlap(read_run(runs[record[EFFICIENCY.model]]), read_run(runs[reference]))
        if reference is not None
        else None
    )
table = pd.DataFrame(
    [{k: v for k, v in r.items() if not isinstance(v, list | dict)} for r in records]
)
first = list(EFFICIENCY_FIRST)
table = table[first + [c for c in table.columns if c not in first]]
shown = first + [EFFICIENCY.top10_overlap, EFFICIENCY.overlap_reference]
log.info("\n%s", table[shown].to_string(index=False))
with atomic_output(snakemake.output[0]) as out:
    table.to_csv(out, sep="\t", index=False, float_format="%.6g")
