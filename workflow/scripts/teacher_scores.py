"""Score the training pairs the distilled students draw with the fine-tuned full model."""

import torch

from slimrank.cores import job_threads
from slimrank.distill import drawn_pairs, score_teacher, write_teacher_scores
from slimrank.logs import setup
from slimrank.pairs import read_groups
from slimrank.rerank import Reranker
from slimrank.training import TrainSettings
from slimrank.trec import read_tsv_pairs

log = setup(snakemake.log[0])
torch.set_num_threads(job_threads(snakemake.threads, snakemake.config["threads_per_job"]))
groups = read_groups(snakemake.input.groups)
pairs = drawn_pairs(groups, [TrainSettings(**s) for s in snakemake.params.draws])
reranker = Reranker.load(
    snakemake.input.teacher,
    max_length=snakemake.params.max_length,
    device=snakemake.params.device,
    precision=snakemake.params.precision,
)
log.info("teacher on %s (%s): %d pairs", reranker.device, reranker.precision, len(pairs))
scores = score_teacher(
    reranker,
    pairs,
    read_tsv_pairs(snakemake.input.queries),
    read_tsv_pairs(snakemake.input.collection),
    snakemake.params.batch_size,
)
write_teacher_scores(scores, snakemake.output[0])
