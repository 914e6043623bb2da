"""The config schema and the cross-reference checks reject bad configs, naming the key."""

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from slimrank.config import ConfigError, check_config, job_cores, job_threads

from .conftest import REPO

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
        "threads": 2,
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


@pytest.mark.parametrize(
    ("cores", "per_job", "machine", "claimed"),
    [
        (2, 1, 2, 1),  # the measured default: two one-thread jobs at a time
        (8, 1, 2, 4),  # `--cores 8` on 2 cores: still two at a time, not eight
        (8, None, 2, 8),  # null: the whole budget, one job at a time
        (8, 1, 16, 1),  # a bigger machine than --cores: eight at a time
        (8, 2, 16, 2),
        (1, 4, 2, 1),  # more threads than granted: capped
        (16, 3, 16, 3),
    ],
)
def test_job_cores_claim_the_jobs_share_of_the_real_machine(cores, per_job, machine, claimed):
    assert job_cores(cores, per_job, machine) == claimed
    # Jobs at once times the threads each really uses: the usable machine, never more.
    usable = min(cores, machine)
    threads = min(per_job or usable, usable)
    assert (cores // claimed) * threads <= usable


def test_job_threads_never_exceed_the_job_limit_or_the_machine(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert job_threads(4, 1) == 1  # `--cores 8` on 2 cores grants 4; threads_per_job says 1
    assert job_threads(8) == 2  # granted more cores than the machine has
    assert job_threads(8, 4) == 2
    assert job_threads(1) == 1
    assert job_threads(2, 3) == 2
