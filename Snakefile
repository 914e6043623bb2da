# SlimRank: layer dropping vs unstructured pruning of a BERT cross-encoder reranker.
# `snakemake --cores 8 all` rebuilds everything on the embedded default (config/config.yaml);
# `--configfile config/msmarco.yaml` selects paper scale. See README.md.

import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")

REPO = Path(workflow.basedir)
# The library lives in src/; the workflow finds it without an install, and so do its scripts.
sys.path.insert(0, str(REPO / "src"))
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p
    )
)
# ranx compiles its metrics with numba; caching them inside the environment avoids a minute
# of compilation in every evaluation job.
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(sys.prefix, "numba-cache"))

from slimrank.config import ConfigError, check_yaml_file, schema_error_message

# The embedded default, unless a config file is named on the command line: a paper-scale config
# replaces it whole rather than being merged into it key by key.
# (A file named with --configfile is read by Snakemake before this code runs; its YAML errors
# are Snakemake's own message.)
if not workflow.overwrite_configfiles:
    try:
        check_yaml_file(REPO / "config/config.yaml")
    except ConfigError as error:
        raise WorkflowError(str(error)) from None

    configfile: "config/config.yaml"


# A schema error names the key and the offending value, not the whole schema.
try:
    validate(config, "workflow/schemas/config.schema.yaml")
except WorkflowError as error:
    raise WorkflowError(schema_error_message(error)) from None


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/retrieve.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/compress.smk"
include: "workflow/rules/rerank.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/efficiency.smk"
include: "workflow/rules/paper.smk"


rule all:
    default_target: True
    input:
        expand("results/runs/{split}/bm25.trec", split=SPLITS),
        "results/metrics/metrics.tsv",
        "results/metrics/significance.tsv",
        "results/params/params.tsv",
        "results/efficiency/efficiency.tsv",
        PAPER_FILES,
