"""Dry runs of the workflow on a tiny copy of the data folder: the source files are inputs of
the data jobs, and broken configs stop the workflow before any job, naming the key."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from .conftest import REPO, run_snakemake, tiny_workflow_config
from .test_workflow import planned_jobs

SUBSETS = ("dl19", "dev600", "train", "devsmall-rest")
SPLIT_FILES = ("queries.tsv", "qrels.txt", "stats.json")
DATA_OUTPUTS = [
    "results/data/collection.tsv",
    *(f"results/data/{s}/{f}" for s in ("dl19", "valid", "train") for f in SPLIT_FILES),
]


@pytest.fixture
def data_copy(tmp_path):
    """A folder with every file the default config names (content is never read by -n)."""
    folder = tmp_path / "data"
    (folder / "runs").mkdir(parents=True)
    (folder / "collection.tsv.gz").write_bytes(b"")
    for subset in SUBSETS:
        (folder / f"queries.{subset}.tsv").write_text("1\tq\n")
        (folder / f"qrels.{subset}.txt").write_text("1 0 1 1\n")
    (folder / "runs/dl19.bm25.top100.trec").write_text("1 Q0 1 1 1.0 x\n")
    return folder


def config_for(folder):
    config = tiny_workflow_config()
    config["local_datasets"]["msmarco-passage-mini"]["dir"] = str(folder)
    return config


def dry_run(workdir, config, *targets):
    # The outputs below are made by hand, without Snakemake's metadata (which would trigger
    # "code has changed"): only modification times decide here.
    done = run_snakemake(workdir, config, "--dry-run", *targets, "--rerun-triggers", "mtime")
    return done, done.stdout + done.stderr


def touch(path, when):
    os.utime(path, (when, when))


def test_editing_a_source_file_plans_exactly_the_jobs_reading_it(tmp_path, data_copy):
    workdir, config = tmp_path / "work", config_for(data_copy)
    for file in data_copy.rglob("*"):
        touch(file, 1_000_000)
    for output in DATA_OUTPUTS:  # the data jobs' outputs, newer than every source file
        (workdir / output).parent.mkdir(parents=True, exist_ok=True)
        (workdir / output).write_text("x\n")
        touch(workdir / output, 2_000_000)
    done, output = dry_run(workdir, config, *DATA_OUTPUTS)
    assert done.returncode == 0, output[-3000:]
    assert "Nothing to be done" in output, output[-3000:]

    touch(data_copy / "queries.train.tsv", 3_000_000)  # train is built last: only its job
    done, output = dry_run(workdir, config, *DATA_OUTPUTS)
    assert planned_jobs(output) == {"split": 1}, output[-3000:]
    assert "results/data/train/stats.json" in output

    touch(data_copy / "queries.train.tsv", 1_000_000)
    touch(data_copy / "qrels.dl19.txt", 3_000_000)  # dl19, and the splits checked against it
    done, output = dry_run(workdir, config, *DATA_OUTPUTS)
    assert planned_jobs(output) == {"split": 3}, output[-3000:]

    touch(data_copy / "qrels.dl19.txt", 1_000_000)
    touch(data_copy / "collection.tsv.gz", 3_000_000)  # everything downstream of the docs
    done, output = dry_run(workdir, config, *DATA_OUTPUTS)
    assert planned_jobs(output) == {"collection": 1, "split": 3}, output[-3000:]


def test_official_ids_are_inputs_through_a_stamp(tmp_path, data_copy):
    config = config_for(data_copy)
    config["splits"]["dl19"]["sources"] = ["msmarco-passage/trec-dl-2019/judged"]
    done, output = dry_run(tmp_path / "work", config, "results/data/dl19/stats.json")
    assert done.returncode == 0, output[-3000:]
    assert planned_jobs(output) == {"ir_dataset_stamp": 1, "collection": 1, "split": 1}
    assert "results/data/sources/msmarco-passage/trec-dl-2019/judged.json" in output


# Three of the parse-time checks through Snakemake itself (the others: tests/test_config.py).
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["splits"]["valid"].update(sources=["msmarco-passage/dev/smal"]),
            "splits.valid.sources[0]: 'msmarco-passage/dev/smal' is neither an ir_datasets id",
        ),
        (
            lambda c: c["compression"].update(layers=[2, 7]),
            "compression.layers: [7] exceed the 6 layers of model.base",
        ),
        (
            lambda c: c.update(colour="red"),
            "config (top level): Additional properties are not allowed ('colour' was unexpected)",
        ),
    ],
    ids=["ir-datasets-id", "layers", "top-level-key"],
)
def test_broken_config_stops_the_dry_run_naming_the_key(tmp_path, data_copy, edit, message):
    config = config_for(data_copy)
    edit(config)
    done, output = dry_run(tmp_path / "work", config)
    assert done.returncode != 0
    assert message in output, output[-3000:]
    assert len(output.splitlines()) < 30, output  # a message, not the schema
    assert not (tmp_path / "work/results").exists()


def test_invalid_default_config_names_file_and_line(tmp_path):
    copy = tmp_path / "repo"
    for folder in ("workflow", "src", "profiles", "config"):
        shutil.copytree(REPO / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "Snakefile", copy / "Snakefile")
    text = (copy / "config/config.yaml").read_text().replace("seed: 13", "seed: [13", 1)
    (copy / "config/config.yaml").write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--dry-run"],
        cwd=copy, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "config/config.yaml:" in output and "invalid YAML" in output, output[-3000:]
    line = text.splitlines().index("seed: [13") + 1
    assert any(f"config.yaml:{n}:" in output for n in range(line, line + 12)), output[-3000:]


def test_config_file_is_valid_yaml():
    # The tests above edit a copy of it; the original stays loadable.
    assert yaml.safe_load((REPO / "config/config.yaml").read_text())["seed"] == 13
