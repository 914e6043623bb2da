# Compression: the model each variant's fine-tuning starts from (layers dropped, weights pruned
# or rewound), and the parameter accounting of every finished model.


rule init_variant:
    input:
        full=lambda wc: (
            f"results/models/seed{wc.seed}/full"
            if VARIANTS[wc.variant].starts_from_full
            else []
        ),
    output:
        model=directory("results/init/seed{seed}/{variant}"),
        info="results/init/seed{seed}/{variant}.json",
    log:
        "logs/compress/init/seed{seed}/{variant}.log",
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
        variant=variant_row,
        base=config["model"]["base"],
        layer_strategy=config["compression"]["layer_strategy"],
        scope=config["compression"]["scope"],
    script:
        "../scripts/init_variant.py"


# Parameter accounting of seeds[0]'s models: every seed has the same architecture and size.
rule params:
    input:
        model=f"results/models/{seed_dir(FIRST_SEED)}/{{variant}}",
        init=lambda wc: (
            []
            if wc.variant == "full"
            else f"results/init/{seed_dir(FIRST_SEED)}/{VARIANTS[wc.variant].partner}.json"
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
