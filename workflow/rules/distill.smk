# Distillation: each seed's fine-tuned full model scores, once, every training pair the distilled
# students draw; each student of that seed reads the scores from this one file.


rule teacher_scores:
    input:
        teacher="results/models/seed{seed}/full",
        groups="results/training/groups.jsonl",
        queries=f"results/data/{TRAIN_SPLIT}/queries.tsv",
        collection="results/data/collection.tsv",
    output:
        "results/distill/seed{seed}/teacher_scores.tsv",
    log:
        "logs/distill/seed{seed}/teacher_scores.log",
    conda:
        "../../envs/model.yaml"
    threads: TORCH_JOB_CORES
    resources:
        gpu=config["gpus_per_job"],
        mem_mb=8000,
    params:
        # What the students draw (steps, batch, seed), not how they learn from it.
        draws=lambda wc: teacher_draws(wc.seed),
        max_length=config["model"]["max_length"],
        device=config["training"]["device"],
        precision=config["precision"],
        batch_size=config["rerank"]["batch_size"],
    script:
        "../scripts/teacher_scores.py"
