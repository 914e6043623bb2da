"""Training recipes compared on the valid split: the table behind config/config.yaml's `training`.

Each recipe is the config's `training` section (as the workflow's train_model rule gets it: seed,
model.max_length and precision added) with some keys overridden. The full model is fine-tuned from
`model.base` with each recipe, validated every `--eval-every` steps on the valid split (never a
test split), and the script prints one row per recipe: the valid score at each validation, the
best one, the precision used and the minutes of training and of validation.

`negatives_per_positive=N` or `negative_depth=N` in a recipe rebuild the training groups from the
train split's BM25 run (as the training_groups rule does); every other key is a TrainSettings field.

Run after the workflow has written the data, the BM25 runs and the training groups
(`snakemake --cores 2 results/training/groups.jsonl results/runs/valid/bm25.trec`):

    python tools/recipe_compare.py --eval-every 40 \\
        --recipe lr=5e-5,max_steps=160 --recipe lr=1.5e-4 --recipe lr=3e-4

Models and checkpoints go to a temporary folder (`--work`), removed unless `--keep`. One recipe
takes as long as the full model's training job; run it alone (it uses every torch thread).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from slimrank.pairs import read_groups, sample_training_groups
from slimrank.training import TrainSettings, train_cross_encoder
from slimrank.trec import read_qrels, read_run, read_tsv_pairs

GROUP_KEYS = ("negatives_per_positive", "negative_depth")


def parse_recipe(text: str) -> dict:
    """``lr=1.5e-4,loss=bce`` -> {"lr": 1.5e-4, "loss": "bce"} (values read as YAML)."""
    recipe = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"recipe item {item!r} is not key=value")
        recipe[key.strip()] = yaml.safe_load(value)
    return recipe


def base_settings(config: dict) -> dict:
    """The training settings the workflow gives the full model (workflow/rules/common.smk)."""
    settings = dict(config["training"])
    settings.setdefault("seed", config["seed"])
    settings["max_length"] = config["model"]["max_length"]
    settings["precision"] = config["precision"]
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--recipe", action="append", default=[], help="key=value,... (repeat)")
    parser.add_argument("--eval-every", type=int, default=40)
    parser.add_argument("--work", default=None, help="folder for models (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the trained models")
    parser.add_argument("--out", default=None, help="also write the table as TSV here")
    args = parser.parse_args()

    config = yaml.safe_load(Path(args.config).read_text())
    splits = config["splits"]
    train_split = next(s for s, spec in splits.items() if spec["role"] == "train")
    valid_split = next(s for s, spec in splits.items() if spec["role"] == "valid")
    queries = read_tsv_pairs(f"results/data/{train_split}/queries.tsv")
    collection = read_tsv_pairs("results/data/collection.tsv")
    valid = (
        read_tsv_pairs(f"results/data/{valid_split}/queries.tsv"),
        read_qrels(f"results/data/{valid_split}/qrels.txt"),
        read_run(f"results/runs/{valid_split}/bm25.trec"),
    )
    workflow_groups = read_groups("results/training/groups.jsonl")
    work = Path(args.work or tempfile.mkdtemp(prefix="recipes-"))
    rows = []
    for number, text in enumerate(args.recipe or [""]):
        recipe = parse_recipe(text)
        groups = workflow_groups
        if any(key in recipe for key in GROUP_KEYS):
            pairs = {**config["pairs"], **{k: recipe.pop(k) for k in GROUP_KEYS if k in recipe}}
            groups = sample_training_groups(
                read_qrels(f"results/data/{train_split}/qrels.txt"),
                read_run(f"results/runs/{train_split}/bm25.trec"),
                negatives_per_positive=pairs["negatives_per_positive"],
                negative_depth=pairs["negative_depth"],
                seed=config["seed"],
                collection_ids=collection.keys(),
            )
        settings = TrainSettings(
            **{**base_settings(config), **recipe, "eval_every": args.eval_every}
        )
        start = time.perf_counter()
        summary = train_cross_encoder(
            config["model"]["base"], groups, queries, collection, *valid, settings,
            work / f"recipe{number}", work / f"recipe{number}.work", log=lambda _: None,
        )  # fmt: skip
        rows.append(
            {
                "recipe": text or "(config)",
                "precision": summary["precision"],
                "groups": len(groups),
                **{f"step{step}": round(score, 3) for step, score in summary["history"]},
                "best_step": summary["best_step"],
                "best": round(summary["best_score"], 3),
                "train_min": round(summary["train_seconds"] / 60, 1),
                "valid_min": round(summary["eval_seconds"] / 60, 1),
                "total_min": round((time.perf_counter() - start) / 60, 1),
            }
        )
        print("\t".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)

    import pandas as pd  # only for the table

    table = pd.DataFrame(rows)
    print(f"\nvalid {settings.select_metric} ({valid_split}, top {settings.eval_depth} reranked):")
    print(table.to_string(index=False))
    if args.out:
        table.to_csv(args.out, sep="\t", index=False)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
