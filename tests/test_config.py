"""The config schema and the cross-reference checks reject bad configs, naming the key."""

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from slimrank.config import (
    RANX_METRICS,
    ConfigError,
    check_config,
    check_model_layers,
    check_references,
    check_yaml_file,
    data_job_entries,
    schema_error_message,
)

from .conftest import MINI, REPO, TINY_CONFIG, tiny_workflow_config

SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")


def default_config():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


@pytest.mark.parametrize("name", ["config.yaml", "msmarco.yaml"])
def test_shipped_configs_are_valid(name):
    config = yaml.safe_load((REPO / "config" / name).read_text())
    validate(config, SCHEMA)
    check_config(config)


def test_gpu_overlay_merges_into_a_valid_config():
    config = default_config()
    update_config(config, yaml.safe_load((REPO / "config/mini-gpu.yaml").read_text()))
    validate(config, SCHEMA)
    check_config(config)
    # Laid over the default key by key: the overlay's keys change, its neighbours stay.
    assert config["training"]["max_steps"] == 1000 and config["training"]["forward_pairs"] is None
    assert config["training"]["head_lr"] == default_config()["training"]["head_lr"]
    assert config["pairs"]["negative_depth"] == default_config()["pairs"]["negative_depth"]


def test_extended_overlay_adds_the_fuller_study_to_the_default():
    from slimrank.study import check_variants, precision_runs, variant_table

    default = default_config()
    config = default_config()
    update_config(config, yaml.safe_load((REPO / "config/extended.yaml").read_text()))
    validate(config, SCHEMA)
    validate(default, SCHEMA)
    check_config(config)
    check_variants(config)
    names = {variant.name for variant in variant_table(config)}
    base = {variant.name for variant in variant_table(default)}
    assert base < names
    assert names - base == {
        "drop-L4", "oneshot-match-L4", "structured-match-L4", "gmp-match-L3",
        "lottery-match-L3", "oneshot-s80", "oneshot-s90", "oneshot-s95",
        "structured-match-L3-kd", "structured-w10-kd",
    }  # fmt: skip
    # Only what it names changes: the seeds, the recipe and the distillation loss stay, and the
    # default's students are still students.
    for key in ("seeds", "seeded_variants", "training"):
        assert config[key] == default[key]
    loss = {k: v for k, v in config["distillation"].items() if k != "students"}
    assert loss == {k: v for k, v in default["distillation"].items() if k != "students"}
    assert set(default["distillation"]["students"]) < set(config["distillation"]["students"])
    assert config["rerank"]["depth"] == 100 and default["rerank"]["depth"] == 50
    assert set(precision_runs(default)) < set(precision_runs(config))


def test_schema_fills_defaults():
    config = {"collection": "c", "splits": {"t": {"role": "test", "sources": ["c/t"]}}}
    validate(config, SCHEMA)
    assert config["bm25"] == {
        "k1": 0.9,
        "b": 0.4,
        "analyzer": "lucene",
        "stemmer": "porter",
        "stopwords": "lucene",
        "depth": 1000,
        "threads": 1,
    }
    assert config["splits"]["t"]["relevance_level"] == 1


def schema_error(config) -> str:
    with pytest.raises(WorkflowError) as info:
        validate(config, SCHEMA)
    return str(info.value) + str(getattr(info.value, "args", ""))


def test_unknown_key_is_rejected_by_name():
    config = default_config()
    config["bm25"]["k3"] = 1.2
    assert "'k3' was unexpected" in schema_error(config)


def test_precision_defaults_to_auto_and_rejects_other_values():
    config = default_config()
    config.pop("precision", None)
    validate(config, SCHEMA)
    assert config["precision"] == "auto"
    config["precision"] = "fp16"
    assert "'fp16' is not one of ['auto', 'fp32', 'bf16']" in schema_error(config)


def test_wrong_type_is_rejected_naming_the_key():
    config = default_config()
    config["bm25"]["k1"] = "high"
    message = schema_error(config)
    assert "'high' is not of type 'number'" in message
    assert "['bm25']['k1']" in message


def test_unknown_bm25_analyzer_is_rejected():
    config = default_config()
    config["bm25"]["analyzer"] = "icu"
    assert "'icu' is not one of ['lucene', 'regex']" in schema_error(config)


def test_both_configs_use_the_lucene_analyzer():
    for name in ("config.yaml", "msmarco.yaml"):
        assert yaml.safe_load((REPO / "config" / name).read_text())["bm25"]["analyzer"] == "lucene"


def test_unknown_split_role_is_rejected():
    config = default_config()
    config["splits"]["dl19"]["role"] = "testing"
    assert "'testing' is not one of" in schema_error(config)


def checked(edit):
    config = default_config()
    validate(config, SCHEMA)
    edit(config)
    with pytest.raises(ConfigError) as info:
        check_config(copy.deepcopy(config))
    return str(info.value)


def test_exclude_must_name_an_earlier_split():
    def edit(c):
        c["splits"]["valid"]["exclude"] = ["train"]

    assert "splits.valid.exclude: 'train' is not a split defined before 'valid'" in checked(edit)


def test_exactly_one_train_split():
    def edit(c):
        c["splits"]["dl19"]["role"] = "train"

    assert "exactly one split needs role 'train', found 2" in checked(edit)


def test_source_must_name_a_defined_local_subset():
    def edit(c):
        c["splits"]["dl19"]["sources"] = ["msmarco-passage-mini/dl20"]

    assert "splits.dl19.sources[0]" in checked(edit)


def test_reference_run_split_must_exist():
    def edit(c):
        c["reference_runs"]["bm25-fullcollection"]["split"] = "dl20"

    assert "reference_runs.bm25-fullcollection.split" in checked(edit)


# --------------------------------------------------------------------- names that must exist
def referenced(edit):
    """The ConfigError message of check_references on the default config after ``edit``."""
    config = default_config()
    validate(config, SCHEMA)
    edit(config)
    with pytest.raises(ConfigError) as info:
        check_references(copy.deepcopy(config))
    return str(info.value)


@pytest.mark.parametrize("name", ["config.yaml", "msmarco.yaml"])
def test_shipped_configs_name_only_things_that_exist(name):
    config = yaml.safe_load((REPO / "config" / name).read_text())
    validate(config, SCHEMA)
    check_references(config)
    check_model_layers(config)  # msmarco.yaml: bert-base-uncased, checked only when cached


def test_unknown_ir_datasets_id_is_rejected_naming_the_source_key():
    def edit(c):
        c["splits"]["valid"]["sources"] = ["msmarco-passage/trec-dl-2031/judged"]

    message = referenced(edit)
    assert "splits.valid.sources[0]: 'msmarco-passage/trec-dl-2031/judged' is neither" in message


def test_local_dataset_without_subset_is_no_split_source():
    def edit(c):
        c["splits"]["dl19"]["sources"] = ["msmarco-passage-mini"]

    assert "splits.dl19.sources[0]: 'msmarco-passage-mini' is the documents" in referenced(edit)


@pytest.mark.parametrize("split", ["dl20", "valid"])
def test_paper_split_must_be_a_test_split(split):
    def edit(c):
        c["paper"]["split"] = split

    assert f"paper.split: {split!r} is not a test split (test splits: ['dl19'])" in referenced(edit)


@pytest.mark.parametrize("key", ["int8", "sparse_check"])
def test_efficiency_lists_must_name_variants(key):
    def edit(c):
        c["efficiency"][key] = ["drop-L3", "drop-L7"]

    assert f"efficiency.{key}: ['drop-L7'] name no model variant" in referenced(edit)


def test_metric_names_must_be_known_to_ranx():
    def edit(c):
        c["evaluation"]["metrics"].append("precison@5")

    assert "evaluation.metrics[5]: ranx has no metric 'precison@5'" in referenced(edit)


def test_figure_and_table_metrics_must_be_evaluated():
    def no_mrr(c):
        c["evaluation"]["metrics"] = ["ndcg@10", "map@1000"]
        c["paper"]["table_metrics"] = ["ndcg@10"]
        c["paper"]["figure_metrics"] = ["ndcg@10", "mrr@10"]

    message = "paper.figure_metrics[1]: 'mrr@10' is not in evaluation.metrics"
    assert message in referenced(no_mrr)

    def table(c):
        c["paper"]["table_metrics"] = ["ndcg@10", "recall@10"]

    assert "paper.table_metrics[1]: 'recall@10' is not in evaluation.metrics" in referenced(table)


def test_metric_list_matches_ranx():
    from ranx.metrics import metric_switch

    for name in RANX_METRICS:
        metric_switch(name)  # raises ValueError for a name ranx does not know
    with pytest.raises(ValueError):
        metric_switch("precison")


def test_layer_counts_above_the_base_model_are_rejected():
    config = default_config()
    validate(config, SCHEMA)
    check_model_layers(config)  # the packaged 6-layer MiniLM: 2, 3, 4 are fine
    config["compression"]["layers"] = [2, 8]
    with pytest.raises(ConfigError) as info:
        check_model_layers(config)
    message = str(info.value)
    assert "compression.layers: [8] exceed the 6 layers of model.base" in message
    assert "config.json" in message


def test_layer_count_is_read_from_a_local_model_folder(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert", "num_hidden_layers": 2}')
    config = {"model": {"base": str(tmp_path)}, "compression": {"layers": [3]}}
    with pytest.raises(ConfigError, match="exceed the 2 layers"):
        check_model_layers(config)
    # A hub id without a cached config.json is not checked.
    check_model_layers({"model": {"base": "nobody/no-such-model"}, "compression": {"layers": [99]}})


def test_data_jobs_get_only_the_entries_they_read():
    local = default_config()["local_datasets"]
    local["msmarco-passage-mini"]["dir"] = "/data/mini"
    assert data_job_entries(local, ["msmarco-passage-mini"], docs_only=True) == {
        "msmarco-passage-mini": {
            "dir": "/data/mini",
            "docs": "collection.tsv.gz",
            "expected_docs": 51128,
            "subsets": {},
        }
    }
    entries = data_job_entries(
        local, ["msmarco-passage-mini/dl19", "msmarco-passage/dev/small"], docs_only=False
    )
    assert entries == {
        "msmarco-passage-mini": {
            "dir": "/data/mini",
            "docs": "collection.tsv.gz",
            "subsets": {"dl19": {"queries": "queries.dl19.tsv", "qrels": "qrels.dl19.txt"}},
        }
    }


# ----------------------------------------------------------------------------- short messages
def short_schema_error(config) -> str:
    with pytest.raises(WorkflowError) as info:
        validate(config, SCHEMA)
    return schema_error_message(info.value)


def test_unknown_top_level_key_gives_a_one_line_message():
    config = default_config()
    config["colour"] = "red"
    message = short_schema_error(config)
    assert message == (
        "invalid config: config (top level): Additional properties are not allowed "
        "('colour' was unexpected)"
    )


def test_schema_error_names_the_key_and_the_value():
    config = default_config()
    config["splits"]["dl19"]["sample"] = "all"
    message = short_schema_error(config)
    assert message.startswith("invalid config: config key splits.dl19.sample: ")
    assert "(value: 'all')" in message and len(message) < 300
    config = default_config()
    config["efficiency"]["int8"] = ["full", 3]
    assert "config key efficiency.int8[1]: 3 is not of type 'string'" in short_schema_error(config)


def test_schema_rejects_a_bad_structured_row():
    config = default_config()
    config["compression"]["structured"]["ffn_keep"] = [0.1, 1.5]
    message = short_schema_error(config)
    assert message.startswith("invalid config: config key compression.structured.ffn_keep[1]: ")
    assert "(value: 1.5)" in message
    config = default_config()
    config["compression"]["structured"]["heads"] = [6]
    assert "('heads' was unexpected)" in short_schema_error(config)
    config = default_config()
    config["compression"]["structured"]["matched"] = ["L3"]
    assert "compression.structured.matched[0]: 'L3' is not of type 'integer'" in (
        short_schema_error(config)
    )


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("seed: 13\nsplits:\n  dl19: {role: test\n  valid: x\n")
    with pytest.raises(ConfigError, match=r"config\.yaml:4:\d+: invalid YAML"):
        check_yaml_file(path)
    check_yaml_file(REPO / "config/config.yaml")


# The sizes the tiny integration config shrinks; any other difference from the embedded
# default (a loss, an analyzer, a model) means the tests no longer run the default's recipe.
TINY_SIZES = {
    "bm25.depth",
    "pairs.negative_depth",
    "rerank.depth",
    "rerank.shards",
    *(f"splits.{split}.sample" for split in ("dl19", "valid", "train")),
    *(f"training.{key}" for key in ("batch_size", "max_steps", "checkpoint_every", "eval_depth")),
    "training.log_every",
    *(f"efficiency.{key}" for key in ("pairs", "batch_size", "repeats", "latency_depth")),
    "efficiency.int8",
    "efficiency.bf16",  # drop-L2-bf16: a forced-precision row end to end
    "seeds",  # two seeds of full and one student: the seed wildcard end to end
    "seeded_variants",
    "compression.layers",
    *(f"compression.matched.{schedule}" for schedule in ("oneshot", "gmp", "lottery")),
    "compression.sweep.schedules",
    "compression.sweep.sparsities",
    "compression.structured.matched",
    "compression.structured.ffn_keep",
    "compression.structured.recovery.max_steps",
    "compression.gmp.end",
    "compression.gmp.frequency",
    # recovery: 2 steps at the training settings (no lr, no validation in between)
    "compression.recovery.max_steps",
    "compression.recovery.lr",
    "compression.recovery.eval_every",
    "distillation.students",
}


def test_tiny_config_is_the_default_with_smaller_sizes():
    def leaves(value, path=()):
        if isinstance(value, dict):
            for key, item in value.items():
                yield from leaves(item, (*path, key))
        else:
            yield ".".join(path), value

    default, tiny = default_config(), yaml.safe_load(TINY_CONFIG.read_text())
    for config in (default, tiny):
        validate(config, SCHEMA)  # fills the schema's defaults, as the workflow does
    default_leaves, tiny_leaves = dict(leaves(default)), dict(leaves(tiny))
    differ = {
        key
        for key in default_leaves.keys() | tiny_leaves.keys()
        if default_leaves.get(key, "absent") != tiny_leaves.get(key, "absent")
    }
    assert differ == TINY_SIZES
    assert tiny_workflow_config()["local_datasets"]["msmarco-passage-mini"]["dir"] == str(MINI)
