# Fine-tuning: training groups from the train split's BM25 run, then one fine-tuning job per
# model variant and training seed (the full model first). Checkpoints live in
# results/training/seed<seed>/<variant>/work,
# which is not an output: a failed or killed job keeps it and the rerun resumes from it.


rule training_groups:
    input:
        qrels=f"results/data/{TRAIN_SPLIT}/qrels.txt",
        run=f"results/runs/{TRAIN_SPLIT}/bm25.trec",
        collection="results/data/collection.tsv",
    output:
        "results/training/groups.jsonl",
    log:
        "logs/train/groups.log",
    conda:
        "../../envs/model.yaml"
    params:
        pairs=config["pairs"],
        seed=config["seed"],
    script:
        "../scripts/training_groups.py"


rule train_model:
    input:
        unpack(training_inputs),
        groups="results/training/groups.jsonl",
        queries=f"results/data/{TRAIN_SPLIT}/queries.tsv",
        collection="results/data/collection.tsv",
        valid_queries=f"results/data/{VALID_SPLIT}/queries.tsv",
        valid_qrels=f"results/data/{VALID_SPLIT}/qrels.txt",
        valid_run=f"results/runs/{VALID_SPLIT}/bm25.trec",
    output:
        model=directory("results/models/seed{seed}/{variant}"),
        summary="results/training/seed{seed}/{variant}/summary.json",
    log:
        "logs/train/seed{seed}/{variant}.log",
    benchmark:
        "benchmarks/train/seed{seed}/{variant}.tsv"
    # The full model is on the critical path (the pruned variants start from it): run it before
    # the layer-drop and gmp models, which are ready at the same time.
    priority: lambda wildcards: 1 if wildcards.variant == "full" else 0
    conda:
        "../../envs/model.yaml"
    threads: TORCH_JOB_CORES
    resources:
        gpu=config["gpus_per_job"],
        mem_mb=16000,
    params:
        variant=variant_row,
        start=lambda wc, input: input.get("init", config["model"]["base"]),
        settings=training_settings,
        gmp=config["compression"]["gmp"],
        distill=distill_settings,
        work_dir="results/training/seed{seed}/{variant}/work",
    script:
        "../scripts/train_model.py"
