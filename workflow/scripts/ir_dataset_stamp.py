"""Record an official ir_datasets id and the ir_datasets version the data jobs read it with."""

import json

import ir_datasets

from slimrank.logs import setup
from slimrank.trec import atomic_output

log = setup(snakemake.log[0])
dataset_id = snakemake.wildcards.dataset
ir_datasets.load(dataset_id)  # an unknown id fails here, before a data job reads it
with atomic_output(snakemake.output[0]) as out:
    json.dump({"id": dataset_id, "ir_datasets": ir_datasets.__version__}, out, indent=2)
log.info("%s: ir_datasets %s", dataset_id, ir_datasets.__version__)
