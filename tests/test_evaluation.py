"""ranx evaluation against values computed by hand, and the published BM25 reference run."""

import math

import pytest
import ranx
from scipy import stats

from slimrank.evaluation import evaluate_runs, holm, paired_tests
from slimrank.trec import read_qrels, read_run

# Graded judgements as TREC DL: grade >= 2 relevant for binary metrics.
QRELS = {"q1": {"a": 3, "b": 1, "c": 0, "d": 2}, "q2": {"x": 2}}
RUN = {
    "q1": {"c": 0.9, "a": 0.8, "b": 0.7, "e": 0.6, "d": 0.5},
    "q2": {"y": 0.9, "x": 0.8},
}


def values(frame):
    return dict(zip(frame.metric, frame.value, strict=True))


def test_metrics_match_hand_computation():
    got = values(evaluate_runs(QRELS, {"r": RUN}, ["ndcg@3", "mrr@10", "recall@3", "map@10"], 2))
    # nDCG@3 uses the grades themselves (linear gain, log2 discount).
    ndcg_q1 = (3 / math.log2(3) + 1 / 2) / (3 + 2 / math.log2(3) + 1 / 2)
    ndcg_q2 = (2 / math.log2(3)) / 2
    assert got["ndcg@3"] == pytest.approx((ndcg_q1 + ndcg_q2) / 2, abs=1e-9)
    # Binary metrics: q1's relevant are a (rank 2) and d (rank 5); b (grade 1) is not.
    assert got["mrr@10"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert got["recall@3"] == pytest.approx((1 / 2 + 1) / 2)
    assert got["map@10"] == pytest.approx(((1 / 2 + 2 / 5) / 2 + 1 / 2) / 2)


def test_relevance_level_one_counts_grade_one():
    got = values(evaluate_runs(QRELS, {"r": RUN}, ["mrr@10", "recall@3"], 1))
    assert got["recall@3"] == pytest.approx((2 / 3 + 1) / 2)  # a, b of a, b, d
    assert got["mrr@10"] == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_missing_query_counts_as_zero():
    got = values(evaluate_runs(QRELS, {"r": {"q1": RUN["q1"]}}, ["mrr@10"], 2))
    assert got["mrr@10"] == pytest.approx(0.5 / 2)


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_reference_bm25_run_reproduces_anserini(mini_dir):
    """Full-collection BM25 on DL19: Anserini's published nDCG@10 0.5058 (MRR@10 0.7024)."""
    qrels = read_qrels(mini_dir / "qrels.dl19.txt")
    run = read_run(mini_dir / "runs/dl19.bm25.top100.trec")
    got = values(evaluate_runs(qrels, {"bm25": run}, ["ndcg@10", "mrr@10", "recall@100"], 2))
    assert round(got["ndcg@10"], 4) == 0.5058
    assert round(got["mrr@10"], 4) == 0.7024
    assert round(got["recall@100"], 4) == 0.4910


def test_paired_t_test_matches_scipy_on_per_query_scores(mini_dir):
    qrels = read_qrels(mini_dir / "qrels.dl19.txt")
    runs = {
        "bm25": read_run(mini_dir / "runs/dl19.bm25.top100.trec"),
        "tasb": read_run(mini_dir / "runs/dl19.tasb.top100.trec"),
        "rm3": read_run(mini_dir / "runs/dl19.bm25-rm3.top100.trec"),
    }
    table = paired_tests(qrels, runs, ["ndcg@10"], 2, baseline="bm25").set_index("run")
    q = ranx.Qrels(qrels)
    per_query = {
        name: ranx.evaluate(q, ranx.Run(run), "ndcg@10", return_mean=False)
        for name, run in runs.items()
    }
    for name in ("tasb", "rm3"):
        expected = stats.ttest_rel(per_query["bm25"], per_query[name]).pvalue
        assert table.loc[name, "p_value"] == pytest.approx(expected, rel=1e-6)
    assert table.loc["tasb", "p_value"] < 0.001
    assert list(table["p_holm"]) == pytest.approx(holm(list(table["p_value"])))
