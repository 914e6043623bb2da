# First stage: BM25 over the collection, top-k for every split (train included: its run
# supplies hard negatives), and the published reference runs.


rule bm25_index:
    input:
        "results/data/collection.tsv",
    output:
        directory("results/index/bm25"),
    log:
        "logs/retrieve/bm25_index.log",
    benchmark:
        "benchmarks/retrieve/bm25_index.tsv"
    conda:
        "../../envs/ir.yaml"
    resources:
        mem_mb=8000,
    params:
        bm25={
            k: config["bm25"][k]
            for k in ("k1", "b", "analyzer", "stemmer", "stopwords")
        },
    script:
        "../scripts/bm25_index.py"


rule bm25_retrieve:
    input:
        index="results/index/bm25",
        queries="results/data/{split}/queries.tsv",
    output:
        "results/runs/{split}/bm25.trec",
    log:
        "logs/retrieve/{split}/bm25.log",
    benchmark:
        "benchmarks/retrieve/{split}/bm25.tsv"
    conda:
        "../../envs/ir.yaml"
    threads: config["bm25"]["threads"]
    resources:
        mem_mb=8000,
    params:
        depth=config["bm25"]["depth"],
    script:
        "../scripts/bm25_retrieve.py"


rule reference_run:
    input:
        run=lambda wc: reference_run_file(wc.reference),
        queries="results/data/{split}/queries.tsv",
    output:
        "results/runs/{split}/{reference}.trec",
    log:
        "logs/retrieve/{split}/{reference}.log",
    wildcard_constraints:
        reference="|".join(map(re.escape, REFERENCE_RUNS)) or "^$",
    conda:
        "../../envs/ir.yaml"
    script:
        "../scripts/reference_run.py"
