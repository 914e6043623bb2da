# Data: the collection and the query splits, loaded through ir_datasets.


rule collection:
    output:
        "results/data/collection.tsv",
    log:
        "logs/data/collection.log",
    conda:
        "../../envs/ir.yaml"
    resources:
        mem_mb=4000,
    params:
        collection=config["collection"],
        local_datasets=LOCAL_DATASET_ENTRIES,
    script:
        "../scripts/prepare_collection.py"


rule split:
    input:
        collection="results/data/collection.tsv",
        earlier=lambda wc: expand(
            "results/data/{split}/queries.tsv", split=earlier_splits(wc.split)
        ),
    output:
        queries="results/data/{split}/queries.tsv",
        qrels="results/data/{split}/qrels.txt",
        stats="results/data/{split}/stats.json",
    log:
        "logs/data/{split}.log",
    conda:
        "../../envs/ir.yaml"
    params:
        settings=lambda wc: config["splits"][wc.split],
        earlier=lambda wc: earlier_splits(wc.split),
        local_datasets=LOCAL_DATASET_ENTRIES,
        seed=config["seed"],
    script:
        "../scripts/prepare_split.py"
