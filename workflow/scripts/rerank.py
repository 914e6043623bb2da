"""Rerank one shard of a split's candidates with one model; documents below the depth keep
their first-stage order."""

import torch

from slimrank.cores import job_threads
from slimrank.logs import setup
from slimrank.rerank import Reranker, append_first_stage_tail, shard_of
from slimrank.trec import read_run, read_tsv_pairs, write_run

log = setup(snakemake.log[0])
# Read from the config, not a param: a thread count must not make Snakemake redo finished jobs.
torch.set_num_threads(job_threads(snakemake.threads, snakemake.config["threads_per_job"]))
reranker = Reranker.load(
    snakemake.input.model,
    max_length=snakemake.params.max_length,
    device=snakemake.params.device,
    precision=snakemake.params.precision,
    int8=snakemake.params.int8,
)
candidates = read_run(snakemake.input.candidates)
queries = read_tsv_pairs(snakemake.input.queries)
candidates = {qid: docs for qid, docs in candidates.items() if qid in queries}
candidates = shard_of(candidates, int(snakemake.wildcards.shard), snakemake.params.shards)
reranked = reranker.rerank(
    candidates,
    queries,
    read_tsv_pairs(snakemake.input.collection),
    depth=snakemake.params.depth,
    batch_size=snakemake.params.batch_size,
)
log.info(
    "reranked the top %d of %d queries on %s in %s",
    snakemake.params.depth,
    len(reranked),
    reranker.device,
    reranker.precision,
)
name = snakemake.wildcards.model + snakemake.wildcards.on
write_run(append_first_stage_tail(reranked, candidates), snakemake.output[0], tag=name)
