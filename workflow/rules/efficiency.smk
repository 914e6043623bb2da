# Efficiency: speed, memory, size and FLOPs of every model, each timed in alternation with the
# full model in the same job, so the throughput ratio is measured under the same load. Only
# seeds[0]'s models are timed: the architecture does not depend on the seed.


rule benchmark_model:
    input:
        model=first_seed_model_dir,
        full=f"results/models/{seed_dir(FIRST_SEED)}/full",
        candidates=f"results/runs/{PAPER_SPLIT}/bm25.trec",
        queries=f"results/data/{PAPER_SPLIT}/queries.tsv",
        collection="results/data/collection.tsv",
    output:
        "results/efficiency/{model}.json",
    log:
        "logs/efficiency/{model}.log",
    conda:
        "../../envs/model.yaml"
    # Every core: nothing runs beside a timing job, whatever `threads_per_job` lets the
    # training and scoring jobs share.
    threads: workflow.cores
    resources:
        gpu=config["gpus_per_job"],
        mem_mb=8000,
    params:
        # Only what the timing uses: adding a model to the int8 list must not rerun the others.
        settings={
            key: config["efficiency"][key]
            for key in ("pairs", "batch_size", "repeats", "latency_depth")
        },
        max_length=config["model"]["max_length"],
        device=config["training"]["device"],
        precision=scoring_precision,
        int8=is_int8,
        sparse_check=lambda wc: wc.model in config["efficiency"]["sparse_check"],
    script:
        "../scripts/benchmark_model.py"


rule efficiency_table:
    input:
        records=expand("results/efficiency/{model}.json", model=[*BENCHMARKED, *PEERS]),
        runs=[reranked_run_file(PAPER_SPLIT, m, FIRST_SEED) for m in BENCHMARKED],
    output:
        report(
            "results/efficiency/efficiency.tsv",
            caption="../report/efficiency.rst",
            category="Efficiency",
        ),
    log:
        "logs/efficiency/efficiency_table.log",
    conda:
        "../../envs/model.yaml"
    params:
        runs=BENCHMARKED,
    script:
        "../scripts/efficiency_table.py"


rule benchmark_peer:
    input:
        full=f"results/models/{seed_dir(FIRST_SEED)}/full",
        candidates=f"results/runs/{PAPER_SPLIT}/bm25.trec",
        queries=f"results/data/{PAPER_SPLIT}/queries.tsv",
        collection="results/data/collection.tsv",
    output:
        "results/efficiency/{peer}.json",
    log:
        "logs/efficiency/{peer}.log",
    wildcard_constraints:
        peer="|".join(map(re.escape, PEERS)) or "(?!)",
    conda:
        "../../envs/model.yaml"
    threads: workflow.cores
    resources:
        gpu=config["gpus_per_job"],
        mem_mb=8000,
    params:
        settings={
            key: config["efficiency"][key]
            for key in ("pairs", "batch_size", "repeats", "latency_depth")
        },
        max_length=config["model"]["max_length"],
        device=config["training"]["device"],
        precision=config["precision"],  # the plain runs' arithmetic, timed beside the peer
    script:
        "../scripts/benchmark_peer.py"
