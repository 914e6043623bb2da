"""One row per variant: parameters, non-zeros, sparsity, size; matched models' deviation."""

import json

from slimrank.logs import setup
from slimrank.params import params_table
from slimrank.trec import atomic_output

log = setup(snakemake.log[0])
table = params_table([json.loads(open(path).read()) for path in snakemake.input])
log.info("\n%s", table.to_string(index=False))
with atomic_output(snakemake.output[0]) as out:
    table.to_csv(out, sep="\t", index=False)
