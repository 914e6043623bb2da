"""Time one model against the full model; record sizes, FLOPs and (for pruned ones) CSR speed."""

import json

import torch

from slimrank.efficiency import (
    compare_throughput,
    effective_flops,
    flops_per_pair,
    sparse_linear_speed,
)
from slimrank.logs import setup
from slimrank.models import load_cross_encoder, pick_device
from slimrank.params import count_parameters
from slimrank.quantize import load_quantized
from slimrank.sparse import checkpoint_sizes
from slimrank.trec import atomic_output, ranked, read_run, read_tsv_pairs

log = setup(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = snakemake.params.settings
int8 = snakemake.params.int8
device = pick_device("cpu" if int8 else snakemake.params.device)
load = load_quantized if int8 else load_cross_encoder
model, tokenizer = load(snakemake.input.model)
full, _ = load_cross_encoder(snakemake.input.full)
model.to(device)
full.to(device)

# The first test split's BM25 candidates, query by query: the latency call scores the
# first query's top latency_depth, as one reranking request would.
queries = read_tsv_pairs(snakemake.input.queries)
collection = read_tsv_pairs(snakemake.input.collection)
run = read_run(snakemake.input.candidates)
pairs = [
    (queries[qid], collection[doc])
    for qid in sorted(run)
    for doc, _ in ranked(run[qid])[: settings["latency_depth"]]
][: settings["pairs"]]

record = compare_throughput(
    model,
    full,
    tokenizer,
    pairs,
    batch_size=settings["batch_size"],
    max_length=snakemake.params.max_length,
    repeats=settings["repeats"],
    latency_depth=settings["latency_depth"],
)
fp32, _ = load_cross_encoder(snakemake.input.model)
seq_len = round(record["mean_tokens"])
record.update(
    model=snakemake.wildcards.model,
    int8=int8,
    **checkpoint_sizes(snakemake.input.model),
    nonzero=count_parameters(fp32)["nonzero"],
    flops_per_pair=flops_per_pair(fp32.config, seq_len),
    effective_flops_per_pair=effective_flops(fp32, seq_len),
)
if snakemake.params.sparse_check:
    csr = sparse_linear_speed(
        fp32,
        tokenizer,
        pairs,
        batch_size=settings["batch_size"],
        max_length=snakemake.params.max_length,
        repeats=settings["repeats"],
    )
    record.update({f"csr_{key}": value for key, value in csr.items()})
log.info(
    "%s: %.1f pairs/s (full %.1f, ratio %.2f), latency %.0f ms",
    record["model"],
    record["throughput_pairs_per_s"],
    record["reference_pairs_per_s"],
    record["pairs_per_s_ratio"],
    record["latency_ms"],
)
with atomic_output(snakemake.output[0]) as out:
    json.dump(record, out, indent=2)
