# Data: the collection and the query splits, loaded through ir_datasets. The files each job
# reads are its inputs (an official ir_datasets id: a stamp of the id and the ir_datasets
# version), so editing a data file reruns exactly the jobs downstream of it.


rule collection:
    input:
        source_inputs([config["collection"]], ["docs"]),
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
        local_datasets=data_job_entries(
            LOCAL_DATASET_ENTRIES, [config["collection"]], docs_only=True
        ),
        expected_docs=LOCAL_DATASET_ENTRIES.get(
            config["collection"].partition("/")[0], {}
        ).get("expected_docs"),
        expected_key="local_datasets.{}.expected_docs".format(
            config["collection"].partition("/")[0]
        ),
    script:
        "../scripts/prepare_collection.py"


rule split:
    input:
        sources=lambda wc: source_inputs(
            config["splits"][wc.split]["sources"], ["queries", "qrels"]
        ),
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
        local_datasets=lambda wc: data_job_entries(
            LOCAL_DATASET_ENTRIES,
            config["splits"][wc.split]["sources"],
            docs_only=False,
        ),
        seed=config["seed"],
    script:
        "../scripts/prepare_split.py"


rule ir_dataset_stamp:
    output:
        "results/data/sources/{dataset}.json",
    log:
        "logs/data/sources/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(map(re.escape, IR_DATASETS_IDS)) or "^$",
    localrule: True
    conda:
        "../../envs/ir.yaml"
    params:
        ir_datasets_version=version("ir_datasets"),
    script:
        "../scripts/ir_dataset_stamp.py"
