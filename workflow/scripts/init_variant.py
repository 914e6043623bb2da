"""Make the model a variant's fine-tuning starts from: layers dropped, pruned or rewound."""

import json

from slimrank.logs import setup
from slimrank.models import save_cross_encoder
from slimrank.params import count_parameters
from slimrank.study import Variant
from slimrank.trec import atomic_output
from slimrank.variant_models import initial_model

log = setup(snakemake.log[0])
variant = Variant(**snakemake.params.variant)
model, tokenizer, info = initial_model(
    variant,
    snakemake.params.base,
    snakemake.input.full or None,
    layer_strategy=snakemake.params.layer_strategy,
    scope=snakemake.params.scope,
)
info["params"] = count_parameters(model)
log.info("%s: %s", variant.name, info)
save_cross_encoder(model, tokenizer, snakemake.output.model)
with atomic_output(snakemake.output.info) as out:
    json.dump(info, out, indent=2)
