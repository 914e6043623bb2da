# Evaluation with ranx: metrics of every run on every test and valid split, and paired
# t-tests against BM25 and the full model with Holm's correction.


rule evaluate_split:
    input:
        qrels="results/data/{split}/qrels.txt",
        runs=lambda wc: [file for _, _, file in runs_of_split(wc.split)],
    output:
        metrics="results/metrics/{split}/metrics.tsv",
        significance="results/metrics/{split}/significance.tsv",
    log:
        "logs/evaluate/{split}.log",
    conda:
        "../../envs/ir.yaml"
    params:
        runs=lambda wc: runs_of_split(wc.split),
        metrics=config["evaluation"]["metrics"],
        relevance_level=lambda wc: config["splits"][wc.split]["relevance_level"],
        baselines=["bm25", "full"],
    script:
        "../scripts/evaluate_split.py"


rule metrics_table:
    input:
        metrics=expand("results/metrics/{split}/metrics.tsv", split=EVAL_SPLITS),
        significance=expand(
            "results/metrics/{split}/significance.tsv", split=EVAL_SPLITS
        ),
    output:
        metrics=report(
            "results/metrics/metrics.tsv",
            caption="../report/metrics.rst",
            category="Metrics",
        ),
        significance="results/metrics/significance.tsv",
    log:
        "logs/evaluate/metrics_table.log",
    conda:
        "../../envs/ir.yaml"
    script:
        "../scripts/metrics_table.py"
