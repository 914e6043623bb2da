# Reranking: every model scores the BM25 top-k of every test split; the full model also
# reranks the reference runs marked `rerank: true` (candidates from the full collection).
# A split's queries are scored in `rerank.shards` jobs (a cluster runs them in parallel) and
# merged; each query is scored on its own, so the merged run equals an unsharded one. A
# model's runs are per training seed: results/runs/<split>/seed<seed>/<model>.trec.

RERANK_SHARDS = list(range(config["rerank"]["shards"]))


rule rerank_shard:
    input:
        model=model_dir,
        candidates=rerank_candidates,
        queries="results/data/{split}/queries.tsv",
        collection="results/data/collection.tsv",
    output:
        temp("results/runs/{split}/shards/seed{seed}/{model}{on}/{shard}.trec"),
    log:
        "logs/rerank/{split}/seed{seed}/{model}{on}.{shard}.log",
    benchmark:
        "benchmarks/rerank/{split}/seed{seed}/{model}{on}.{shard}.tsv"
    wildcard_constraints:
        on=ON_CONSTRAINT,
        shard=r"\d+",
    conda:
        "../../envs/model.yaml"
    threads: TORCH_JOB_CORES
    resources:
        gpu=config["gpus_per_job"],
        mem_mb=8000,
    params:
        depth=config["rerank"]["depth"],
        batch_size=config["rerank"]["batch_size"],
        shards=config["rerank"]["shards"],
        max_length=config["model"]["max_length"],
        device=config["training"]["device"],
        precision=scoring_precision,
        int8=is_int8,
    script:
        "../scripts/rerank.py"


rule merge_run:
    input:
        expand(
            "results/runs/{{split}}/shards/seed{{seed}}/{{model}}{{on}}/{shard}.trec",
            shard=RERANK_SHARDS,
        ),
    output:
        "results/runs/{split}/seed{seed}/{model}{on}.trec",
    log:
        "logs/rerank/{split}/seed{seed}/{model}{on}.merge.log",
    wildcard_constraints:
        on=ON_CONSTRAINT,
    # merge_shards is in slimrank.trec, which imports no torch: a merge starts in a fraction
    # of a second, and there is one per reranked run.
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/merge_run.py"
