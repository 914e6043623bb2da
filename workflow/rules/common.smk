# Shared helpers: config checks, split and run tables, input functions.

from importlib.metadata import version
from types import SimpleNamespace

from slimrank.config import (
    ConfigError,
    check_config,
    check_model_layers,
    check_references,
    data_job_entries,
    local_datasets,
    splits_with_role,
)
from slimrank.cores import job_cores
from slimrank.data import DataError
from slimrank.study import (
    check_seeds,
    check_variants,
    distinct_draws,
    model_seeds,
    peer_name,
    precision_runs,
    recovery_overrides,
    seed_dir,
    split_precision,
    training_seeds,
    variant_seeds,
    variant_table,
)


def _fail(message):
    raise WorkflowError(message)


try:
    check_config(config)
    check_variants(config)
    check_seeds(config)
    # Names that must exist (ir_datasets ids, the paper split, variants, metrics) and the
    # model's layer count: checked before any job runs.
    check_references(config)
    check_model_layers(config)
    LOCAL_DATASETS = local_datasets(config, REPO)
    # A missing data folder or file stops the workflow before any job runs.
    for _dataset in LOCAL_DATASETS.values():
        _dataset.check_files()
except (ConfigError, DataError, ValueError) as error:
    _fail(f"configuration error: {error}")

# The local dataset entries with their folders resolved, as the data jobs receive them: a
# job's parameters then do not depend on where the checkout lives.
LOCAL_DATASET_ENTRIES = {
    name: {**entry, "dir": str(LOCAL_DATASETS[name].dir)}
    for name, entry in config["local_datasets"].items()
}
# Official ir_datasets ids the data jobs read: each is an input through a stamp of the id and
# the ir_datasets version (results/data/sources/<id>.json), so upgrading ir_datasets reruns
# the jobs that read them; local datasets are inputs through their files.
IR_DATASETS_IDS = sorted(
    {
        dataset_id
        for dataset_id in [
            config["collection"],
            *(s for split in config["splits"].values() for s in split["sources"]),
        ]
        if dataset_id.partition("/")[0] not in LOCAL_DATASETS
    }
)

if config.get("ir_datasets_home"):
    os.environ.update(IR_DATASETS_HOME=str(REPO / config["ir_datasets_home"]))

# Training and scoring jobs claim their share of the real machine (`--cores 8` on 2 cores with
# one thread per job: two at a time, not eight); a cluster profile sets threads per rule with
# set-threads, and each job caps its torch threads itself (job_threads).
TORCH_JOB_CORES = job_cores(workflow.cores, config["threads_per_job"])

SPLITS = list(config["splits"])
TRAIN_SPLIT = splits_with_role(config, "train")[0]
VALID_SPLIT = splits_with_role(config, "valid")[0]
EVAL_SPLITS = [s for s in SPLITS if config["splits"][s]["role"] in ("test", "valid")]
TEST_SPLITS = [s for s in SPLITS if config["splits"][s]["role"] == "test"]
REFERENCE_RUNS = config["reference_runs"]
RERANKED_REFERENCES = [name for name, ref in REFERENCE_RUNS.items() if ref["rerank"]]
VARIANTS = {v.name: v for v in variant_table(config)}
# Training seeds: seeded variants run each, the others (and int8, efficiency) SEEDS[0] only.
SEEDS = training_seeds(config)
FIRST_SEED = SEEDS[0]
# "" (BM25 candidates) or "+<reference>" in a reranked run's name; a non-capturing group, so
# that the constraint still matches the empty string when no reference run is reranked.
ON_CONSTRAINT = "(?:{})".format(
    "|".join(["", *(re.escape(f"+{r}") for r in RERANKED_REFERENCES)])
)
# The efficiency stage's precision rows (<variant>-fp32, -bf16, -int8), reranked like variants.
PRECISION_RUNS = precision_runs(config)
# Every model that reranks: the trained variants and their precision rows.
MODELS = [*VARIANTS, *PRECISION_RUNS]
# Distilled students share their partner's architecture and size: they are not benchmarked.
BENCHMARKED = [m for m in MODELS if not VARIANTS.get(m) or not VARIANTS[m].distill]
# The peer row (sentence-transformers CrossEncoder on the full model), timed, not reranked.
PEERS = [peer_name("full")] if config["efficiency"]["peer"] else []
KD_STUDENTS = [name for name, v in VARIANTS.items() if v.distill]
PAPER_SPLIT = config["paper"]["split"] or TEST_SPLITS[0]
_clash = sorted(set(MODELS) & set(REFERENCE_RUNS))
if _clash:
    _fail(
        f"configuration error: reference_runs {_clash} share a name with model variants"
    )


wildcard_constraints:
    split="|".join(map(re.escape, SPLITS)),
    variant="|".join(map(re.escape, VARIANTS)),
    model="|".join(map(re.escape, MODELS)),
    seed=r"\d+",


def source_inputs(dataset_ids, kinds):
    """The files data jobs reading ``kinds`` of ``dataset_ids`` depend on: a local dataset's
    files, or the stamp of an ir_datasets id."""
    files = []
    for dataset_id in dataset_ids:
        name, _, subset = dataset_id.partition("/")
        if name in LOCAL_DATASETS:
            files += LOCAL_DATASETS[name].source_files(subset, kinds)
        else:
            files.append(f"results/data/sources/{dataset_id}.json")
    return files


def earlier_splits(split):
    """Splits built before ``split``: it excludes their queries where asked and must not
    share a query with any of them."""
    return SPLITS[: SPLITS.index(split)]


def reference_run_file(name):
    entry = REFERENCE_RUNS[name]
    if entry["dataset"]:
        return str(LOCAL_DATASETS[entry["dataset"]].dir / entry["file"])
    return str(REPO / entry["file"])


def reranked_run_file(split, model, seed):
    return f"results/runs/{split}/{seed_dir(seed)}/{model}.trec"


def runs_of_split(split):
    """Every run evaluated on ``split`` as [name, seed, file] (seed None for runs without
    one): BM25, the reference runs and, on test splits, every model's reranking per seed
    (and the full model's on reranked references).
    """
    runs = [["bm25", None, f"results/runs/{split}/bm25.trec"]]
    for name, entry in REFERENCE_RUNS.items():
        if entry["split"] == split:
            runs.append([name, None, f"results/runs/{split}/{name}.trec"])
            if entry["rerank"]:
                runs += [
                    [f"full+{name}", s, reranked_run_file(split, f"full+{name}", s)]
                    for s in variant_seeds(config, "full")
                ]
    if split in TEST_SPLITS:
        for model in MODELS:
            runs += [
                [model, s, reranked_run_file(split, model, s)]
                for s in model_seeds(config, model)
            ]
    return runs


def model_dir(wildcards):
    """Weights of a model: a precision row loads its variant's (int8 quantizes on loading)."""
    base = split_precision(wildcards.model)[0]
    return f"results/models/{seed_dir(wildcards.seed)}/{base}"


def first_seed_model_dir(wildcards):
    """The efficiency stage times seeds[0]'s models: the architecture is the same for all."""
    base = split_precision(wildcards.model)[0]
    return f"results/models/{seed_dir(FIRST_SEED)}/{base}"


def scoring_precision(wildcards):
    """A precision row's own arithmetic (int8 scores in fp32 activations); plain models the
    config's `precision` (so their job parameters stay what they were)."""
    precision = split_precision(wildcards.model)[1]
    if precision is None:
        return config["precision"]
    return "fp32" if precision == "int8" else precision


def is_int8(wildcards):
    return split_precision(wildcards.model)[1] == "int8"


def variant_row(wildcards):
    """The variant's table row with the training seed of this job."""
    return {**VARIANTS[wildcards.variant].row(), "seed": int(wildcards.seed)}


def training_inputs(wildcards):
    """A variant's initial model (a distilled student's is its partner's, made once), and the
    teacher's scores for a distilled student; the full model starts from the base encoder.
    """
    if wildcards.variant == "full":
        return {}
    variant = VARIANTS[wildcards.variant]
    init = f"results/init/{seed_dir(wildcards.seed)}/{variant.partner}"
    inputs = {"init": init, "init_info": f"{init}.json"}
    if variant.distill:
        inputs["teacher_scores"] = teacher_scores_file(wildcards.seed)
    return inputs


def training_settings(wildcards):
    """Training settings of a variant: `training`, with the recovery overrides of one-shot
    pruned and structured models on top (slimrank.study.recovery_overrides).
    """
    settings = dict(config["training"])
    settings.update(recovery_overrides(config, VARIANTS[wildcards.variant]))
    # The seed wildcard: with `seeds` unset it is training.seed, or else the top-level seed.
    settings["seed"] = int(wildcards.seed)
    settings["max_length"] = config["model"]["max_length"]
    settings["precision"] = config["precision"]
    return settings


def distill_settings(wildcards):
    """A distilled student's loss settings (`distillation` less its student list); None for
    every other variant, so their job parameters stay what they were."""
    if not VARIANTS[wildcards.variant].distill:
        return None
    return {k: v for k, v in config["distillation"].items() if k != "students"}


def teacher_scores_file(seed):
    """The scores of a seed's full model on the pairs that seed's distilled students draw."""
    return f"results/distill/{seed_dir(seed)}/teacher_scores.tsv"


def teacher_draws(seed):
    """What the distilled students of ``seed`` draw (slimrank.study.distinct_draws): the
    teacher scores the groups each of them draws."""
    return distinct_draws(
        training_settings(SimpleNamespace(variant=s, seed=seed))
        for s in KD_STUDENTS
        if int(seed) in variant_seeds(config, s)
    )


def rerank_candidates(wildcards):
    """BM25 candidates, or the reference run named after '+' in the output name."""
    if wildcards.on:
        return f"results/runs/{wildcards.split}/{wildcards.on[1:]}.trec"
    return f"results/runs/{wildcards.split}/bm25.trec"
