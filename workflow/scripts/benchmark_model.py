"""Time one model against the full model; record sizes, FLOPs and (for pruned ones) CSR speed."""

import json

import torch

from slimrank.cores import job_threads
from slimrank.efficiency import benchmark_variant, load_benchmark_pairs
from slimrank.logs import setup
from slimrank.study import EFFICIENCY
from slimrank.trec import atomic_output

log = setup(snakemake.log[0])
torch.set_num_threads(job_threads(snakemake.threads))  # every core: timing runs alone
settings = snakemake.params.settings
pairs = load_benchmark_pairs(
    snakemake.input.queries,
    snakemake.input.collection,
    snakemake.input.candidates,
    depth=settings["latency_depth"],
    n_pairs=settings["pairs"],
)
record = benchmark_variant(
    snakemake.input.model,
    snakemake.input.full,
    pairs,
    int8=snakemake.params.int8,
    device=snakemake.params.device,
    batch_size=settings["batch_size"],
    max_length=snakemake.params.max_length,
    repeats=settings["repeats"],
    latency_depth=settings["latency_depth"],
    sparse_check=snakemake.params.sparse_check,
    precision=snakemake.params.precision,
)
record = {EFFICIENCY.model: snakemake.wildcards.model, **record}
log.info(
    "%s: %.1f pairs/s (full %.1f, ratio %.2f), latency %.0f ms",
    record[EFFICIENCY.model],
    record[EFFICIENCY.throughput_pairs_per_s],
    record["reference_pairs_per_s"],
    record[EFFICIENCY.pairs_per_s_ratio],
    record[EFFICIENCY.latency_ms],
)
with atomic_output(snakemake.output[0]) as out:
    json.dump(record, out, indent=2)
