# Shared helpers: config checks, split and run tables, input functions.

from slimrank.config import (
    ConfigError,
    check_config,
    local_datasets,
    splits_with_role,
)
from slimrank.data import DataError


def _fail(message):
    raise WorkflowError(message)


try:
    check_config(config)
    LOCAL_DATASETS = local_datasets(config, REPO)
    # A missing data folder or file stops the workflow before any job runs.
    for _dataset in LOCAL_DATASETS.values():
        _dataset.check_files()
except (ConfigError, DataError) as error:
    _fail(f"configuration error: {error}")

if config.get("ir_datasets_home"):
    os.environ.update(IR_DATASETS_HOME=str(REPO / config["ir_datasets_home"]))

SPLITS = list(config["splits"])
TRAIN_SPLIT = splits_with_role(config, "train")[0]
VALID_SPLIT = splits_with_role(config, "valid")[0]
EVAL_SPLITS = [s for s in SPLITS if config["splits"][s]["role"] in ("test", "valid")]
REFERENCE_RUNS = config["reference_runs"]


wildcard_constraints:
    split="|".join(map(re.escape, SPLITS)),


def earlier_splits(split):
    """Splits built before ``split``: it excludes their queries where asked and must not
    share a query with any of them."""
    return SPLITS[: SPLITS.index(split)]


def reference_run_file(name):
    entry = REFERENCE_RUNS[name]
    if entry["dataset"]:
        return str(LOCAL_DATASETS[entry["dataset"]].dir / entry["file"])
    return str(REPO / entry["file"])


def runs_of_split(split):
    """Every run evaluated on ``split``, by name: BM25 and the reference runs."""
    runs = {"bm25": f"results/runs/{split}/bm25.trec"}
    for name, entry in REFERENCE_RUNS.items():
        if entry["split"] == split:
            runs[name] = f"results/runs/{split}/{name}.trec"
    return runs
