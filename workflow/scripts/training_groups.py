"""Sample training groups: each judged positive with hard negatives from the BM25 run."""

from slimrank.logs import setup
from slimrank.pairs import sample_training_groups, write_groups
from slimrank.trec import read_ids, read_qrels, read_run

log = setup(snakemake.log[0])
groups = sample_training_groups(
    read_qrels(snakemake.input.qrels),
    read_run(snakemake.input.run),
    negatives_per_positive=snakemake.params.pairs["negatives_per_positive"],
    negative_depth=snakemake.params.pairs["negative_depth"],
    seed=snakemake.params.seed,
    collection_ids=set(read_ids(snakemake.input.collection)),
    log=log.info,
)
log.info("%d training groups", len(groups))
write_groups(groups, snakemake.output[0])
