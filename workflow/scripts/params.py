"""Parameter accounting of one finished model: counts, sparsity, size on disk."""

import json

from slimrank.logs import setup
from slimrank.models import load_cross_encoder
from slimrank.params import count_parameters, mask_statistics, size_on_disk
from slimrank.trec import atomic_output

log = setup(snakemake.log[0])
model, _ = load_cross_encoder(snakemake.input.model)
record = {
    **snakemake.params.variant,
    **count_parameters(model),
    "size_bytes": size_on_disk(snakemake.input.model),
    "matched_total": None,
    "target_sparsity": snakemake.params.variant["sparsity"],
}
if snakemake.input.init:
    info = json.loads(open(snakemake.input.init).read())
    record["matched_total"] = info.get("matched_total")
    record["target_sparsity"] = info.get("target_sparsity", record["target_sparsity"])
record["mask"] = mask_statistics(model)
log.info("%s: %d parameters, %d non-zero", record["name"], record["total"], record["nonzero"])
with atomic_output(snakemake.output[0]) as out:
    json.dump(record, out, indent=2)
