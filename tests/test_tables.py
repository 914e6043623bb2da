"""The main table: exact LaTeX/Markdown on hand-made frames in the vocabulary the workflow
writes (slimrank.study's column names), and the per-query comparison."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from slimrank.study import METRICS, PARAMS, SIGNIFICANCE
from slimrank.tables import (
    best_compressed_run,
    latex_escape,
    main_table,
    main_table_caption,
    per_query_comparison,
    split_tables,
    to_latex,
    to_markdown,
    win_tie_loss,
)
from slimrank.trec import read_run, write_run

VALUES = {  # run: (ndcg@10, mrr@10)
    "bm25": (0.5012, 0.7003),
    "bm25-fullcollection": (0.5058, 0.9000),  # beats every reranker on MRR: must not be bold
    "full": (0.7004, 0.8501),
    "drop-L3": (0.6501, 0.8600),
    "oneshot-match-L3": (0.6904, 0.8250),
    "oneshot-s90": (0.6004, 0.8000),
}
# (run, baseline, metric, p_holm); p_value is set below p_holm to prove p_holm decides.
TESTS = [
    ("bm25", "full", "ndcg@10", 0.0001),
    ("drop-L3", "full", "ndcg@10", 0.010),
    ("drop-L3", "bm25", "ndcg@10", 0.001),
    ("drop-L3", "full", "mrr@10", 0.020),
    ("oneshot-match-L3", "full", "ndcg@10", 0.300),
    ("oneshot-match-L3", "bm25", "ndcg@10", 0.049),
    ("oneshot-s90", "bm25", "ndcg@10", 0.050),  # not < 0.05: no mark
    ("oneshot-s90", "full", "mrr@10", 0.700),
]


def metrics_frame() -> pd.DataFrame:
    rows = [
        ("dl19", run, metric, v, 43)
        for run, pair in VALUES.items()
        for metric, v in zip(("ndcg@10", "mrr@10"), pair, strict=True)
    ]
    rows += [("valid", "full", "ndcg@10", 0.31, 100), ("valid", "bm25", "ndcg@10", 0.2, 100)]
    return pd.DataFrame(rows, columns=[c for c in METRICS if c != METRICS.seed])


def significance_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [("dl19", r, b, m, p / 10, p) for r, b, m, p in TESTS], columns=list(SIGNIFICANCE)[:6]
    )


def params_frame() -> pd.DataFrame:
    full = 22_713_985
    return pd.DataFrame(
        [
            ("full", "full", "finetune", 6, None, full, full, 0.0, 90_900_000),
            ("drop-L3", "drop", "finetune", 3, None, 17_390_000, 17_390_000, 0.0, 69_600_000),
            ("oneshot-match-L3", "prune", "oneshot", 6, 0.41234, full, 17_390_000, 0.41234, 90.9e6),
            ("oneshot-s90", "prune", "oneshot", 6, 0.9, full, 13_000_000, 0.9, 90_900_000),
        ],
        columns=[
            PARAMS.name, PARAMS.family, PARAMS.schedule, PARAMS.layers, PARAMS.target_sparsity,
            PARAMS.total, PARAMS.nonzero, PARAMS.encoder_sparsity, PARAMS.size_bytes,
        ],
    )  # fmt: skip


def test_main_table_rows_and_marks(metrics, significance, params):
    table = main_table(metrics, significance, params, "dl19", ["ndcg@10", "mrr@10"])
    assert list(table["run"]) == list(VALUES)  # BM25 runs, full, then non-zeros descending
    marks = dict(zip(table["run"], table["ndcg@10 marks"], strict=True))
    assert marks == {
        "bm25": "†↓",
        "bm25-fullcollection": "",
        "full": "",
        "drop-L3": "†↓‡↑",
        "oneshot-match-L3": "‡↑",
        "oneshot-s90": "",
    }
    assert dict(zip(table["run"], table["mrr@10 marks"], strict=True))["drop-L3"] == "†↑"
    row = table.set_index("run").loc["oneshot-match-L3"]
    assert row["non-zeros (M)"] == pytest.approx(17.39)
    assert row["sparsity %"] == pytest.approx(41.234)
    assert row["family"] == "prune" and row["layers"] == 6


def test_to_latex_exact_rows(metrics, significance, params):
    table = main_table(metrics, significance, params, "dl19", ["ndcg@10", "mrr@10"])
    tex = to_latex(table, "Caption with $p<0.05$.", "tab:main")
    expected_rows = [
        r"\texttt{bm25} & -- & -- & -- & -- & 0.501$^{\dagger\downarrow}$ & 0.700 \\",
        r"\texttt{bm25-fullcollection} & -- & -- & -- & -- & 0.506 & 0.900 \\",
        r"\texttt{full} & 6 & 22.7 & 22.7 & 0.0 & \textbf{0.700} & 0.850 \\",
        r"\texttt{drop-L3} & 3 & 17.4 & 17.4 & 0.0 & 0.650$^{\dagger\downarrow\ddagger\uparrow}$"
        r" & \textbf{0.860}$^{\dagger\uparrow}$ \\",
        r"\texttt{oneshot-match-L3} & 6 & 22.7 & 17.4 & 41.2 & 0.690$^{\ddagger\uparrow}$"
        r" & 0.825 \\",
        r"\texttt{oneshot-s90} & 6 & 22.7 & 13.0 & 90.0 & 0.600 & 0.800 \\",
    ]
    lines = tex.splitlines()
    for row in expected_rows:
        assert row in lines, row
    assert tex.count(r"\textbf{") == 2  # one per metric column; BM25's 0.900 is not bold
    assert r"\caption{Caption with $p<0.05$.}" in tex and r"\label{tab:main}" in tex
    assert r"\toprule" in tex and r"\bottomrule" in tex and tex.count(r"\midrule") == 3
    assert r"Run & Layers & Params (M) & Non-zeros (M) & Sparsity (\%) & nDCG@10 & MRR@10 \\" in tex


def test_to_latex_ties_and_escaping():
    metrics = pd.DataFrame(
        [
            {"split": "s", "run": "a_b", "metric": "ndcg@10", "value": 0.5004, "queries": 2},
            {"split": "s", "run": "c", "metric": "ndcg@10", "value": 0.4996, "queries": 2},
        ]
    )
    tex = to_latex(main_table(metrics, None, None, "s", ["ndcg@10"]), "c", "l")
    assert r"\texttt{a\_b}" in tex
    assert tex.count(r"\textbf{0.500}") == 2  # equal after rounding: both bold
    assert latex_escape("50% & $x_1#") == r"50\% \& \$x\_1\#"


def test_to_markdown(metrics, significance, params):
    table = main_table(metrics, significance, params, "dl19", ["ndcg@10", "mrr@10"])
    md = to_markdown(table)
    assert md.splitlines()[0] == (
        "| Run | Layers | Params (M) | Non-zeros (M) | Sparsity (%) | nDCG@10 | MRR@10 |"
    )
    assert "| drop-L3 | 3 | 17.4 | 17.4 | 0.0 | 0.650†↓‡↑ | **0.860**†↑ |" in md
    assert "| full | 6 | 22.7 | 22.7 | 0.0 | **0.700** | 0.850 |" in md
    assert "| bm25-fullcollection | – | – | – | – | 0.506 | 0.900 |" in md


def test_main_table_rejects_unknown_metric_and_split(metrics, params):
    with pytest.raises(ValueError, match="map@1000"):
        main_table(metrics, None, params, "dl19", ["map@1000"])
    with pytest.raises(ValueError, match="dl20"):
        main_table(metrics, None, params, "dl20", ["ndcg@10"])


def test_best_run_and_win_tie_loss(metrics):
    assert best_compressed_run(metrics, "dl19", "ndcg@10") == "oneshot-match-L3"
    assert best_compressed_run(metrics, "dl19", "mrr@10") == "drop-L3"
    # c is missing from the baseline and d from the scores: each counts as 0 there.
    scores, baseline = {"a": 0.5, "b": 0.2, "c": 0.1}, {"a": 0.4, "b": 0.2, "d": 0.3}
    assert win_tie_loss(scores, baseline) == (2, 1, 1)


def test_per_query_comparison_of_the_best_run_against_full(metrics, tmp_path):
    qrels = {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 2}}
    rankings = {  # run: q1's ranking; every run puts d3 first for q2
        "full": {"d1": 2.0, "d2": 1.0},
        "oneshot-match-L3": {"d2": 2.0, "d1": 1.0},  # the best compressed run by nDCG@10
    }
    runs = {}
    for name, q1 in rankings.items():  # through TREC files, as the figure script reads them
        write_run({"q1": q1, "q2": {"d3": 1.0}}, tmp_path / f"{name}.trec", tag=name)
        runs[name] = read_run(tmp_path / f"{name}.trec")
    best = best_compressed_run(metrics, "dl19", "ndcg@10")
    scores, full, label = per_query_comparison(qrels, runs, best, 2, "ndcg@10")
    assert label == "oneshot-match-L3"
    assert full == {"q1": 1.0, "q2": 1.0}
    # the one relevant passage at rank 2: 1 / log2(3)
    assert scores == pytest.approx({"q1": 1 / math.log2(3), "q2": 1.0})
    only_full = metrics[metrics["run"].isin(["bm25", "full"])]
    assert best_compressed_run(only_full, "dl19", "ndcg@10") is None
    assert per_query_comparison(qrels, runs, None, 2, "ndcg@10") == ({}, {}, "no compressed model")


def test_split_tables_hold_every_test_split_but_the_main_one(metrics, significance, params):
    two = pd.concat([metrics, metrics[metrics["split"] == "dl19"].assign(split="dl20")])
    tex = split_tables(two, significance, params, ["dl19", "dl20"], "dl19", ["ndcg@10"])
    assert tex.count(r"\begin{table}") == 1 and r"\label{tab:split-2}" in tex
    assert r"Effectiveness on \texttt{dl20}" in tex
    one = split_tables(metrics, significance, params, ["dl19"], "dl19", ["ndcg@10"])
    assert r"\begin{table}" not in one and one.startswith("%")


def test_caption_explains_marks(metrics, significance, params):
    table = main_table(metrics, significance, params, "dl19", ["ndcg@10"])
    caption = main_table_caption(table, "dl19", 43)
    assert r"$^{\dagger}$" in caption and r"$^{\ddagger}$" in caption
    assert "Holm-corrected $p<0.05$" in caption and "bm25-fullcollection" in caption


def test_structured_models_sort_after_the_pruned_models_of_their_size():
    from slimrank.tables import order_runs

    runs = ["structured-w10", "structured-match-L3", "oneshot-match-L3", "drop-L3", "full",
            "structured-match-L3-kd", "oneshot-s90", "bm25"]  # fmt: skip
    params = pd.DataFrame(
        {PARAMS.name: ["full", "drop-L3", "oneshot-s90", "structured-w10"],
         PARAMS.nonzero: [22.7e6, 17.4e6, 13.0e6, 14.0e6]}
    )  # fmt: skip
    assert order_runs(runs, params) == [
        "bm25", "full", "drop-L3", "oneshot-match-L3", "structured-match-L3",
        "structured-match-L3-kd", "structured-w10", "oneshot-s90",
    ]  # fmt: skip
