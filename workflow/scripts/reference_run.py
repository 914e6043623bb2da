"""Validate a published run and keep the queries of its split."""

from slimrank.data import restrict_run
from slimrank.logs import setup
from slimrank.trec import read_run, read_tsv_pairs, write_run

log = setup(snakemake.log[0])
run = read_run(snakemake.input.run)
queries = read_tsv_pairs(snakemake.input.queries)
reference = snakemake.wildcards.reference
kept = restrict_run(run, queries, snakemake.input.run, f"reference_runs.{reference}.split")
log.info(
    "%s: %d of %d queries are in split %s",
    snakemake.input.run,
    len(kept),
    len(run),
    snakemake.wildcards.split,
)
write_run(kept, snakemake.output[0], tag=reference)
