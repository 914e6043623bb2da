"""Main table (LaTeX, Markdown) and the numbers the manuscript quotes, from the result tables."""

import json

import pandas as pd

from slimrank.logs import setup
from slimrank.report import main_table, main_table_caption, numbers_macros, to_latex, to_markdown
from slimrank.trec import atomic_output

log = setup(snakemake.log[0])
split = snakemake.params.split
paper = snakemake.params.paper
metrics = pd.read_csv(snakemake.input.metrics, sep="\t")
significance = pd.read_csv(snakemake.input.significance, sep="\t")
params = pd.read_csv(snakemake.input.params, sep="\t")
efficiency = pd.read_csv(snakemake.input.efficiency, sep="\t")
table = main_table(metrics, significance, params, split, paper["table_metrics"], paper["alpha"])
queries = int(metrics[metrics.split == split]["queries"].iloc[0])
caption = main_table_caption(table, split, queries, paper["alpha"])
stats = {json.load(open(p))["split"]: json.load(open(p)) for p in snakemake.input.stats}
counts = {f"{name} queries": s["queries"] for name, s in stats.items()}
with atomic_output(snakemake.output.latex) as out:
    out.write(to_latex(table, caption, "tab:main"))
with atomic_output(snakemake.output.markdown) as out:
    out.write(to_markdown(table))
with atomic_output(snakemake.output.numbers) as out:
    out.write(numbers_macros(metrics, params, significance, efficiency, paper["alpha"], counts))
log.info("main table (%s):\n%s", split, to_markdown(table))
