"""Main tables (LaTeX, Markdown) and the numbers the manuscript quotes, from the result tables."""

import json

import pandas as pd

from slimrank.logs import setup
from slimrank.macros import numbers_macros
from slimrank.study import METRICS
from slimrank.tables import (
    deployment_caption,
    deployment_latex,
    deployment_markdown,
    deployment_table,
    fp32_full_run,
    main_table,
    main_table_caption,
    split_tables,
    to_latex,
    to_markdown,
)
from slimrank.trec import atomic_output

log = setup(snakemake.log[0])
split = snakemake.params.split
test_splits = snakemake.params.test_splits
paper = snakemake.params.paper
metrics = pd.read_csv(snakemake.input.metrics, sep="\t", dtype={METRICS.run: str})
significance = pd.read_csv(snakemake.input.significance, sep="\t")
params = pd.read_csv(snakemake.input.params, sep="\t")
efficiency = pd.read_csv(snakemake.input.efficiency, sep="\t")
table = main_table(metrics, significance, params, split, paper["table_metrics"], paper["alpha"])
queries = int(metrics[metrics[METRICS.split] == split][METRICS.queries].iloc[0])
caption = main_table_caption(table, split, queries, paper["alpha"])
stats = {s["split"]: s for s in (json.load(open(p)) for p in snakemake.input.stats)}
counts = {
    f"{role} queries": stats[name]["queries"] for role, name in snakemake.params.roles.items()
}
with atomic_output(snakemake.output.latex) as out:
    out.write(to_latex(table, caption, "tab:main"))
with atomic_output(snakemake.output.markdown) as out:
    out.write(to_markdown(table))
with atomic_output(snakemake.output.split_tables) as out:
    out.write(
        split_tables(
            metrics,
            significance,
            params,
            test_splits,
            split,
            paper["table_metrics"],
            paper["alpha"],
        )
    )
# Every timed model x precision against the deployment target, on the timed seed's runs.
target = paper["deployment_target"]
metric = paper["figure_metrics"][0]
deployment = deployment_table(
    metrics,
    efficiency,
    split,
    metric,
    seed=snakemake.params.seed,
    target_speedup=target["speedup"],
    max_loss_pct=target["max_loss_pct"],
)
caption = deployment_caption(
    deployment,
    metric,
    split,
    seed=snakemake.params.seed,
    reference_run=fp32_full_run(metrics[METRICS.run]),
    target_speedup=target["speedup"],
    max_loss_pct=target["max_loss_pct"],
)
with atomic_output(snakemake.output.deployment_latex) as out:
    out.write(deployment_latex(deployment, caption, metric))
with atomic_output(snakemake.output.deployment_markdown) as out:
    out.write(deployment_markdown(deployment, metric))
with atomic_output(snakemake.output.numbers) as out:
    out.write(
        numbers_macros(
            metrics,
            params,
            significance,
            efficiency,
            test_splits=test_splits,
            main_split=split,
            text_metrics=paper["figure_metrics"],
            alpha=paper["alpha"],
            counts=counts,
            distillation=snakemake.params.distillation,
            deployment=deployment,
            target=target,
        )
    )
log.info("main table (%s):\n%s", split, to_markdown(table))
log.info("deployment table (%s):\n%s", split, deployment_markdown(deployment, metric))
