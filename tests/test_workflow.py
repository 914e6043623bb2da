"""Integration: the whole workflow on a tiny config (a few real queries), in a temporary folder."""

import copy
import json

import pandas as pd
import pytest

from slimrank.evaluation import evaluate_runs
from slimrank.trec import read_qrels, read_run, read_tsv_pairs

from .conftest import run_snakemake, tiny_workflow_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    done = run_snakemake(workdir, tiny_workflow_config(), "all")
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir


def test_splits_are_sampled_disjoint_and_logged(tiny_run):
    sizes = {"dl19": 5, "valid": 4, "train": 12}
    seen = set()
    for split, size in sizes.items():
        queries = read_tsv_pairs(tiny_run / f"results/data/{split}/queries.tsv")
        qrels = read_qrels(tiny_run / f"results/data/{split}/qrels.txt")
        assert len(queries) == size and set(qrels) == set(queries)
        assert not seen & set(queries)
        seen |= set(queries)
        stats = json.loads((tiny_run / f"results/data/{split}/stats.json").read_text())
        assert stats["queries"] == size
    train_stats = json.loads((tiny_run / "results/data/train/stats.json").read_text())
    assert train_stats["without_positive_in_collection"] > 0


def test_bm25_runs_for_every_split(tiny_run):
    collection = set(read_tsv_pairs(tiny_run / "results/data/collection.tsv"))
    assert len(collection) == 51128
    for split in ("dl19", "valid", "train"):
        run = read_run(tiny_run / f"results/runs/{split}/bm25.trec")
        queries = read_tsv_pairs(tiny_run / f"results/data/{split}/queries.tsv")
        assert set(run) == set(queries)
        assert all(0 < len(docs) <= 50 for docs in run.values())
        assert all(doc in collection for docs in run.values() for doc in docs)


def test_metrics_table_comes_from_the_runs(tiny_run):
    table = pd.read_csv(tiny_run / "results/metrics/metrics.tsv", sep="\t", dtype=str)
    assert set(table.split) == {"dl19", "valid"}
    assert set(table[table.split == "dl19"].run) == {"bm25", "bm25-fullcollection"}
    assert set(table.metric) == {"ndcg@10", "mrr@10", "recall@100", "recall@1000", "map@1000"}
    qrels = read_qrels(tiny_run / "results/data/dl19/qrels.txt")
    run = read_run(tiny_run / "results/runs/dl19/bm25-fullcollection.trec")
    expected = evaluate_runs(qrels, {"x": run}, ["ndcg@10"], 2).value.iloc[0]
    row = table[(table.split == "dl19") & (table.run == "bm25-fullcollection")]
    assert float(row[row.metric == "ndcg@10"].value.iloc[0]) == pytest.approx(expected, abs=1e-6)
    significance = pd.read_csv(tiny_run / "results/metrics/significance.tsv", sep="\t")
    assert set(significance.baseline) == {"bm25"}
    assert significance.p_value.between(0, 1).all()


def test_second_run_has_nothing_to_do(tiny_run):
    again = run_snakemake(tiny_run, tiny_workflow_config(), "all", "--dry-run")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Nothing to be done" in again.stdout + again.stderr


def test_missing_data_folder_fails_clearly_and_writes_nothing(tmp_path):
    config = tiny_workflow_config()
    config["local_datasets"]["msmarco-passage-mini"]["dir"] = str(tmp_path / "no-such-folder")
    done = run_snakemake(tmp_path / "work", config, "all")
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert "no-such-folder does not exist" in message
    assert "config key local_datasets.msmarco-passage-mini.dir" in message
    assert not (tmp_path / "work/results").exists()
    assert not (tmp_path / "no-such-folder").exists()


def test_overlapping_splits_fail_naming_a_query_and_leave_no_split(tmp_path):
    config = copy.deepcopy(tiny_workflow_config())
    # train takes dev600 without excluding valid, which is also drawn from dev600.
    config["splits"]["train"]["sources"] = ["msmarco-passage-mini/dev600"]
    config["splits"]["train"]["exclude"] = []
    config["splits"]["train"]["sample"] = None
    done = run_snakemake(tmp_path / "work", config, "results/data/train/queries.tsv")
    assert done.returncode != 0
    assert "is in both split train and split valid" in done.stdout + done.stderr
    assert not (tmp_path / "work/results/data/train/queries.tsv").exists()
