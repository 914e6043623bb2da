# Compression: the model each variant's fine-tuning starts from (layers dropped, weights pruned
# or rewound), and the parameter accounting of every finished model.


rule init_variant:
    input:
        full=lambda wc: (
            "results/models/full" if VARIANTS[wc.variant].starts_from_full else []
        ),
    output:
        model=directory("results/init/{variant}"),
        info="results/init/{variant}.json",
    log:
        "logs/compress/init/{variant}.log",
    wildcard_constraints:
        # A distilled student starts from its partner's init: none of its own.
        variant="|".join(
            re.escape(name)
            for name, v in VARIANTS.items()
            if name != "full" and not v.distill
        ),
    conda:
        "../../envs/model.yaml"
    resources:
        mem_mb=8000,
    params:
        variant=lambda wc: VARIANTS[wc.variant].row(),
        base=config["model"]["base"],
        layer_strategy=config["compression"]["layer_strategy"],
        scope=config["compression"]["scope"],
    script:
        "../scripts/init_variant.py"


rule params:
    input:
        model="results/models/{variant}",
        init=lambda wc: (
            []
            if wc.variant == "full"
            else f"results/init/{VARIANTS[wc.variant].partner}.json"
        ),
    output:
        "results/params/{variant}.json",
    log:
        "logs/compress/params/{variant}.log",
    conda:
        "../../envs/model.yaml"
    params:
        variant=lambda wc: VARIANTS[wc.variant].row(),
    script:
        "../scripts/params.py"


rule params_table:
    input:
        expand("results/params/{variant}.json", variant=VARIANTS),
    output:
        report(
            "results/params/params.tsv",
            caption="../report/params.rst",
            category="Models",
        ),
    log:
        "logs/compress/params_table.log",
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/params_table.py"
