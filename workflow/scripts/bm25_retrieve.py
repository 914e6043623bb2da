"""Retrieve the BM25 top-k of one split's queries."""

from slimrank.bm25 import BM25Index
from slimrank.cores import job_threads
from slimrank.logs import setup
from slimrank.trec import read_tsv_pairs, write_run

log = setup(snakemake.log[0])
queries = read_tsv_pairs(snakemake.input.queries)
index = BM25Index.load(snakemake.input.index)
threads = job_threads(snakemake.threads)
log.info("%d queries, %d threads", len(queries), threads)
run = index.search(queries, snakemake.params.depth, show_progress=True, threads=threads)
short = sum(len(docs) < snakemake.params.depth for docs in run.values())
log.info(
    "%d queries, %d with fewer than %d matching documents", len(run), short, snakemake.params.depth
)
write_run(run, snakemake.output[0], tag="bm25")
