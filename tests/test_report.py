"""Tables and quoted numbers: exact LaTeX/Markdown on a hand-made frame, macros that round-trip
to the table's values, and a paper whose every macro the generator produces."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from slimrank import report
from slimrank.report import (
    best_compressed_run,
    latex_escape,
    macro_name,
    main_table,
    number_words,
    numbers_macros,
    parse_macros,
    parse_run,
    per_query_comparison,
    to_latex,
    to_markdown,
    win_tie_loss,
)
from slimrank.trec import write_run

PAPER = Path(__file__).resolve().parents[1] / "paper" / "paper.tex"

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


@pytest.fixture
def metrics() -> pd.DataFrame:
    rows = [
        {"split": "dl19", "run": run, "metric": metric, "value": v, "queries": 43}
        for run, pair in VALUES.items()
        for metric, v in zip(("ndcg@10", "mrr@10"), pair, strict=True)
    ]
    rows += [
        {"split": "valid", "run": "full", "metric": "ndcg@10", "value": 0.31, "queries": 100},
        {"split": "valid", "run": "bm25", "metric": "ndcg@10", "value": 0.2, "queries": 100},
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def significance() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"split": "dl19", "run": r, "baseline": b, "metric": m, "p_value": p / 10, "p_holm": p}
            for r, b, m, p in TESTS
        ]
    )


@pytest.fixture
def params() -> pd.DataFrame:
    full = 22_713_985
    return pd.DataFrame(
        [
            ("full", "full", "finetune", 6, None, full, full, 0.0, 90_900_000),
            ("drop-L3", "drop", "finetune", 3, None, 17_390_000, 17_390_000, 0.0, 69_600_000),
            ("oneshot-match-L3", "prune", "oneshot", 6, 0.41234, full, 17_390_000, 0.41234, 90.9e6),
            ("oneshot-s90", "prune", "oneshot", 6, 0.9, full, 13_000_000, 0.9, 90_900_000),
        ],
        columns=[
            "variant", "family", "schedule", "layers", "target_sparsity", "total_params",
            "nonzero_params", "encoder_sparsity", "size_bytes",
        ],
    )  # fmt: skip


def test_parse_run_names():
    assert parse_run("drop-L3").kind == "drop" and parse_run("drop-L3").matched_layers == 3
    info = parse_run("gmp-match-L2-int8")
    assert (info.kind, info.schedule, info.matched_layers, info.int8) == ("prune", "gmp", 2, True)
    assert parse_run("oneshot-s87.5").sweep_pct == 87.5
    assert parse_run("bm25-fullcollection").kind == "first-stage"
    assert parse_run("mystery").kind == "other"


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


def test_main_table_accepts_workflow_params_names(metrics, significance, params):
    renamed = params.rename(
        columns={"variant": "name", "total_params": "total", "nonzero_params": "nonzero"}
    )
    a = main_table(metrics, significance, params, "dl19", ["ndcg@10"])
    b = main_table(metrics, significance, renamed, "dl19", ["ndcg@10"])
    pd.testing.assert_frame_equal(a, b)


def test_main_table_rejects_unknown_metric_and_split(metrics, params):
    with pytest.raises(ValueError, match="map@1000"):
        main_table(metrics, None, params, "dl19", ["map@1000"])
    with pytest.raises(ValueError, match="dl20"):
        main_table(metrics, None, params, "dl20", ["ndcg@10"])


def test_macro_names():
    assert macro_name("dl19", "drop-L3", "ndcg@10") == "dlNineteenDropLThreeNdcgTen"
    assert (
        macro_name("dl19", "oneshot-s95", "map@1000")
        == "dlNineteenOneshotSNinetyFiveMapOneThousand"
    )
    assert macro_name("bm25-fullcollection") == "bmTwentyFiveFullcollection"
    assert number_words("0") == "Zero"
    assert number_words("100") == "OneHundred"
    assert number_words("1234") == "OneThousandTwoHundredThirtyFour"
    assert number_words("87.5") == "EightySevenPointFive"


def test_numbers_equal_table_values(metrics, significance, params):
    text = numbers_macros(metrics, params, significance)
    macros = parse_macros(text)
    assert len(macros) == text.count(r"\newcommand")  # every line parsed, names letters only
    assert text == numbers_macros(metrics, params, significance)  # deterministic
    for split in ("dl19", "valid"):
        table = main_table(metrics, significance, params, split, ["ndcg@10"])
        for run, value in zip(table["run"], table["ndcg@10"], strict=True):
            assert macros[macro_name(split, run, "ndcg@10")] == f"{value:.3f}"
    for row in metrics.itertuples():
        assert float(macros[macro_name(row.split, row.run, row.metric)]) == round(row.value, 3)
    assert macros["dlNineteenQueries"] == "43" and macros["validQueries"] == "100"


def test_numbers_derived_values(metrics, significance, params):
    macros = parse_macros(numbers_macros(metrics, params, significance, counts={"passages": 51128}))
    expected = {
        "dlNineteenFullNdcgTen": "0.700",
        "paramsFull": "22.7",
        "paramsExactFull": "22,713,985",
        "nonzerosDropLThree": "17.4",
        "nonzerosPctDropLThree": "76.6",
        "sparsityOneshotMatchLThree": "41.2",
        "targetSparsityOneshotSNinety": "90.0",
        "layersDropLThree": "3",
        "sizeFull": "90.9",
        "dlNineteenDropLThreeNdcgTenDeltaFull": r"\ensuremath{-}0.050",
        "dlNineteenDropLThreeMrrTenDeltaFull": "+0.010",
        "dlNineteenDropLThreeNdcgTenRetainedFull": "92.9",
        "dlNineteenDropLThreeNdcgTenVsFull": "significantly lower than",
        "dlNineteenDropLThreeMrrTenVsFull": "significantly higher than",
        "dlNineteenDropLThreeNdcgTenPFull": "0.010",
        "dlNineteenDropLThreeNdcgTenPBmTwentyFive": "0.001",
        "dlNineteenBmTwentyFiveNdcgTenPFull": r"\ensuremath{<}0.001",
        "dlNineteenOneshotMatchLThreeNdcgTenVsFull": "not significantly different from",
        "dlNineteenOneshotSNinetyNdcgTenVsBmTwentyFive": "not significantly different from",
        "dlNineteenOneshotSNinetyNdcgTenVsFull": "not tested against",
        "dlNineteenOneshotSNinetyNdcgTenPFull": "n/a",
        "dlNineteenOneshotMinusDropLThreeNdcgTen": "+0.040",
        "dlNineteenOneshotMinusDropLThreeMrrTen": r"\ensuremath{-}0.035",
        "dlNineteenOneshotMatchedSizes": "1",
        "dlNineteenOneshotWinsNdcgTen": "1",
        "dlNineteenOneshotLossesMrrTen": "1",
        "dlNineteenLThreeBestNdcgTen": "one-shot pruning",
        "dlNineteenLThreeBestMrrTen": "layer dropping",
        "dlNineteenBestRunNdcgTen": r"\texttt{oneshot-match-L3}",
        "dlNineteenBestRunNdcgTenValue": "0.690",
        "countPassages": "51,128",
    }
    assert {k: macros.get(k) for k in expected} == expected


def test_numbers_refuse_colliding_names(metrics, params):
    clash = pd.concat([metrics, metrics[metrics["run"] == "drop-L3"].assign(run="drop-l3")])
    with pytest.raises(ValueError, match="twice"):
        numbers_macros(clash, params)


def test_best_run_and_win_tie_loss(metrics):
    assert best_compressed_run(metrics, "dl19", "ndcg@10") == "oneshot-match-L3"
    assert best_compressed_run(metrics, "dl19", "mrr@10") == "drop-L3"
    # c is missing from the baseline and d from the scores: each counts as 0 there.
    scores, baseline = {"a": 0.5, "b": 0.2, "c": 0.1}, {"a": 0.4, "b": 0.2, "d": 0.3}
    assert win_tie_loss(scores, baseline) == (2, 1, 1)


def test_per_query_comparison_reads_the_best_run_against_full(metrics, tmp_path):
    qrels = {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 2}}
    rankings = {  # run: q1's ranking; every run puts d3 first for q2
        "full": {"d1": 2.0, "d2": 1.0},
        "oneshot-match-L3": {"d2": 2.0, "d1": 1.0},  # the best compressed run by nDCG@10
    }
    files = {}
    for name, q1 in rankings.items():
        files[name] = tmp_path / f"{name}.trec"
        write_run({"q1": q1, "q2": {"d3": 1.0}}, files[name], tag=name)
    files["drop-L3"] = tmp_path / "absent.trec"  # not compared, so never read
    scores, full, label = per_query_comparison(metrics, "dl19", qrels, files, 2)
    assert label == "oneshot-match-L3"
    assert full == {"q1": 1.0, "q2": 1.0}
    # the one relevant passage at rank 2: 1 / log2(3)
    assert scores == pytest.approx({"q1": 1 / math.log2(3), "q2": 1.0})
    only_full = metrics[metrics["run"].isin(["bm25", "full"])]
    assert per_query_comparison(only_full, "dl19", qrels, files, 2) == (
        {},
        {},
        "no compressed model",
    )


# ----------------------------------------------------------------------------- the paper
DEFAULT_RUNS = [
    "bm25", "bm25-fullcollection", "full", "drop-L2", "drop-L3", "drop-L4",
    "oneshot-match-L2", "oneshot-match-L3", "oneshot-match-L4",
    "oneshot-s80", "oneshot-s90", "oneshot-s95", "gmp-match-L3", "lottery-match-L3",
]  # fmt: skip
MACRO_PREFIXES = (
    "dlNineteen", "valid", "params", "nonzeros", "sparsity", "targetSparsity", "layers", "size",
    "speedup", "throughput", "latency", "count",
)  # fmt: skip


def default_frames():
    """Frames shaped like the embedded default's outputs (values are arbitrary)."""
    metric_names = ["ndcg@10", "mrr@10", "recall@100", "recall@1000", "map@1000"]
    metrics = pd.DataFrame(
        [
            {"split": s, "run": r, "metric": m, "value": 0.3 + 0.01 * i + 0.001 * j, "queries": q}
            for s, q in (("dl19", 43), ("valid", 100))
            for i, r in enumerate(DEFAULT_RUNS)
            for j, m in enumerate(metric_names)
        ]
    )
    significance = pd.DataFrame(
        [
            {"split": s, "run": r, "baseline": b, "metric": m, "p_value": 0.01, "p_holm": 0.03}
            for s in ("dl19", "valid")
            for b in ("bm25", "full")
            for r in DEFAULT_RUNS
            if r != b
            for m in metric_names
        ]
    )

    def total(layers: int) -> int:
        return 11_868_289 + 1_774_464 * layers

    rows = [("full", "full", "finetune", 6, None, total(6), total(6), 0.0)]
    for layers in (2, 3, 4):
        rows.append((f"drop-L{layers}", "drop", "finetune", layers, None, total(layers),
                     total(layers), 0.0))  # fmt: skip
        sparsity = (total(6) - total(layers)) / (6 * 1_769_472)
        for schedule in ("oneshot", "gmp", "lottery"):
            if schedule == "oneshot" or layers == 3:
                rows.append((f"{schedule}-match-L{layers}", "prune", schedule, 6, sparsity,
                             total(6), total(layers), sparsity))  # fmt: skip
    for pct in (80, 90, 95):
        nonzero = int(total(6) - pct / 100 * 6 * 1_769_472)
        rows.append((f"oneshot-s{pct}", "prune", "oneshot", 6, pct / 100, total(6), nonzero,
                     pct / 100))  # fmt: skip
    params = pd.DataFrame(
        rows,
        columns=[
            "variant", "family", "schedule", "layers", "target_sparsity", "total_params",
            "nonzero_params", "encoder_sparsity",
        ],
    )  # fmt: skip
    params["size_bytes"] = params["total_params"] * 4
    efficiency = pd.DataFrame(
        {
            "variant": ["full", "drop-L2", "drop-L3", "drop-L4", "oneshot-match-L3"],
            "pairs_per_s": [42.0, 120.0, 84.0, 63.0, 41.0],
        }  # fmt: skip
    )
    return metrics, significance, params, efficiency


def documented_macros(text: str, heading: str) -> set[str]:
    """Macro names listed in paper.tex's header comment under ``% HEADING``."""
    names: set[str] = set()
    for line in text.split(f"% {heading}", 1)[1].splitlines()[1:]:
        if line.startswith("%   "):
            names |= set(re.findall(r"\\([A-Za-z]+)", line))
        elif names:
            break
    return names


def test_paper_macros_exist_for_embedded_default():
    text = PAPER.read_text()
    required = documented_macros(text, "MACROS")
    optional = documented_macros(text, "OPTIONAL")
    assert required and optional
    metrics, significance, params, efficiency = default_frames()
    without = set(parse_macros(numbers_macros(metrics, params, significance)))
    assert required - without == set()
    with_eff = set(parse_macros(numbers_macros(metrics, params, significance, efficiency)))
    assert optional - with_eff == set()
    body = text.split(r"\documentclass", 1)[1]
    used = {n for n in re.findall(r"\\([A-Za-z]+)", body) if n.startswith(MACRO_PREFIXES)}
    assert used == required | optional  # the header list is complete and not stale


def test_paper_inputs_generated_files_only():
    text = PAPER.read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("%"))
    inputs = re.findall(r"\\(?:input|includegraphics)(?:\[[^]]*\])?\{([^}]*)\}", body)
    assert sorted(inputs) == sorted(
        [
            "generated/numbers.tex",
            "generated/main_table.tex",
            "generated/effectiveness.pdf",
            "generated/sparsity_sweep.pdf",
            "generated/speed.pdf",
            "generated/per_query.pdf",
        ]
    )


def test_caption_explains_marks(metrics, significance, params):
    table = main_table(metrics, significance, params, "dl19", ["ndcg@10"])
    caption = report.main_table_caption(table, "dl19", 43)
    assert r"$^{\dagger}$" in caption and r"$^{\ddagger}$" in caption
    assert "Holm-corrected $p<0.05$" in caption and "bm25-fullcollection" in caption
