"""Merge the shards of a reranked run into one TREC run."""

from slimrank.logs import setup
from slimrank.trec import merge_shards, read_run, write_run

log = setup(snakemake.log[0])
run = merge_shards([read_run(path, allow_empty=True) for path in snakemake.input])
log.info("%d queries from %d shards", len(run), len(snakemake.input))
write_run(run, snakemake.output[0], tag=snakemake.wildcards.model + snakemake.wildcards.on)
