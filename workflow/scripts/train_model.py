"""Fine-tune one model variant (resuming from its checkpoint if a previous run was cut off)."""

import json

import torch

from slimrank.cores import job_threads
from slimrank.distill import read_teacher_scores
from slimrank.logs import setup
from slimrank.losses import Distillation
from slimrank.pairs import read_groups
from slimrank.study import Variant
from slimrank.training import TrainSettings, train_cross_encoder
from slimrank.trec import atomic_output, read_qrels, read_run, read_tsv_pairs
from slimrank.variant_models import training_callbacks

log = setup(snakemake.log[0])
# Read from the config, not a param: a thread count must not make Snakemake redo finished jobs.
torch.set_num_threads(job_threads(snakemake.threads, snakemake.config["threads_per_job"]))
variant = Variant(**snakemake.params.variant)
settings = TrainSettings(**snakemake.params.settings)
groups = read_groups(snakemake.input.groups)
info = {}
if "init_info" in snakemake.input.keys():
    info = json.loads(open(snakemake.input.init_info).read())
callbacks, select_after = training_callbacks(
    variant, info, settings.total_steps(len(groups)), snakemake.params.gmp
)
if select_after:
    settings.select_after_step = select_after
distill = None
if snakemake.params.distill:
    distill = Distillation(
        read_teacher_scores(snakemake.input.teacher_scores), **snakemake.params.distill
    )
log.info(
    "training %s from %s: %d groups, %s",
    variant.name,
    snakemake.params.start,
    len(groups),
    settings,
)
summary = train_cross_encoder(
    snakemake.params.start,
    groups,
    read_tsv_pairs(snakemake.input.queries),
    read_tsv_pairs(snakemake.input.collection),
    read_tsv_pairs(snakemake.input.valid_queries),
    read_qrels(snakemake.input.valid_qrels),
    read_run(snakemake.input.valid_run),
    settings,
    snakemake.output.model,
    snakemake.params.work_dir,
    callbacks=callbacks,
    log=log.info,
    distill=distill,
)
with atomic_output(snakemake.output.summary) as out:
    json.dump(
        {"variant": variant.name, "start": str(snakemake.params.start), **summary}, out, indent=2
    )
