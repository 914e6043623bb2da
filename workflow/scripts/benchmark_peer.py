"""Time sentence-transformers CrossEncoder.predict against the project's scoring of the full
model, in fp32 and in the plain runs' precision."""

import json

import torch

from slimrank.cores import job_threads
from slimrank.efficiency import benchmark_peer, load_benchmark_pairs
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
record = benchmark_peer(
    snakemake.input.full,
    pairs,
    batch_size=settings["batch_size"],
    max_length=snakemake.params.max_length,
    repeats=settings["repeats"],
    device=snakemake.params.device,
    precision=snakemake.params.precision,
)
record = {EFFICIENCY.model: snakemake.wildcards.peer, EFFICIENCY.int8: False, **record}
log.info(
    "%s: %.1f pairs/s, the project's fp32 %.1f (ratio %.2f), its %s %.1f (%.2fx the peer); "
    "fp32 scores max |diff| %.3g, Spearman %.4f; bf16 matmul %s float32",
    record[EFFICIENCY.model],
    record[EFFICIENCY.throughput_pairs_per_s],
    record["reference_pairs_per_s"],
    record[EFFICIENCY.pairs_per_s_ratio],
    record["scoring_precision"],
    record["scoring_pairs_per_s"],
    record[EFFICIENCY.scoring_over_peer],
    record["max_abs_diff"],
    record["spearman"],
    "n/a" if (ratio := record[EFFICIENCY.bf16_matmul_speedup]) is None else f"{ratio:.2f}x",
)
with atomic_output(snakemake.output[0]) as out:
    json.dump(record, out, indent=2)
