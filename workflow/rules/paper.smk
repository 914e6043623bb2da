# The paper: tables, quoted numbers and figures rendered from the result tables (no training
# or scoring happens here, so changing a plotting script reruns only its figure), and the PDF.

TABLE_INPUTS = {
    "metrics": "results/metrics/metrics.tsv",
    "significance": "results/metrics/significance.tsv",
    "params": "results/params/params.tsv",
    "efficiency": "results/efficiency/efficiency.tsv",
}
FIGURES = ["effectiveness", "sparsity_sweep", "speed", "pareto", "per_query"]
PAPER_FILES = [
    "results/paper/main_table.tex",
    "results/paper/split_tables.tex",
    "results/paper/main_table.md",
    "results/paper/deployment_table.tex",
    "results/paper/deployment_table.md",
    "results/paper/numbers.tex",
    *expand("results/paper/{figure}.{ext}", figure=FIGURES, ext=["pdf", "png"]),
]


rule paper_tables:
    input:
        **TABLE_INPUTS,
        stats=expand("results/data/{split}/stats.json", split=SPLITS),
    output:
        latex="results/paper/main_table.tex",
        markdown=report(
            "results/paper/main_table.md",
            caption="../report/main_table.rst",
            category="Paper",
        ),
        numbers="results/paper/numbers.tex",
        split_tables="results/paper/split_tables.tex",
        deployment_latex="results/paper/deployment_table.tex",
        deployment_markdown="results/paper/deployment_table.md",
    log:
        "logs/paper/tables.log",
    conda:
        "../../envs/paper.yaml"
    params:
        split=PAPER_SPLIT,
        test_splits=TEST_SPLITS,
        roles={"train": TRAIN_SPLIT, "valid": VALID_SPLIT},
        paper=config["paper"],
        distillation=config["distillation"],
        # the seed whose models the efficiency stage timed (the deployment table's runs)
        seed=FIRST_SEED,
    script:
        "../scripts/paper_tables.py"


rule figure:
    input:
        **TABLE_INPUTS,
        qrels=f"results/data/{PAPER_SPLIT}/qrels.txt",
        # The per-query figure compares seeds[0]'s runs.
        runs=[reranked_run_file(PAPER_SPLIT, model, FIRST_SEED) for model in MODELS],
    output:
        pdf=report(
            "results/paper/{figure}.pdf",
            # One caption for every figure: Snakemake does not expand wildcards in its path.
            caption="../report/figure.rst",
            category="Paper",
        ),
        png="results/paper/{figure}.png",
    log:
        "logs/paper/{figure}.log",
    wildcard_constraints:
        figure="|".join(FIGURES),
    conda:
        "../../envs/paper.yaml"
    params:
        split=PAPER_SPLIT,
        metrics=config["paper"]["figure_metrics"],
        relevance_level=config["splits"][PAPER_SPLIT]["relevance_level"],
        models=MODELS,
        seed=FIRST_SEED,  # the pareto figure quotes the timed seed's runs
    script:
        "../scripts/figure_{wildcards.figure}.py"


rule figures:
    input:
        expand("results/paper/{figure}.{ext}", figure=FIGURES, ext=["pdf", "png"]),


rule paper:
    input:
        PAPER_FILES,
        # The manuscript is part of the workflow, not of a working directory (--directory).
        tex=REPO / "paper/paper.tex",
        bib=REPO / "paper/references.bib",
    output:
        "results/paper/paper.pdf",
    log:
        "logs/paper/latexmk.log",
    conda:
        "../../envs/latex.yaml"
    params:
        build=lambda wc, output: os.path.join(os.path.dirname(output[0]), "build"),
    shell:
        """
        command -v latexmk >/dev/null || {{ echo "latexmk not found: install Debian's latexmk texlive-latex-extra (see README)" >&2; exit 1; }}
        rm -rf {params.build} && mkdir -p {params.build}/generated
        cp {input.tex} {input.bib} {params.build}/
        cp results/paper/*.tex results/paper/*.pdf {params.build}/generated/
        (cd {params.build} && latexmk -pdf -interaction=nonstopmode -halt-on-error paper.tex) >{log} 2>&1
        cp {params.build}/paper.pdf {output}
        """
