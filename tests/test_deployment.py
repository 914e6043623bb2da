"""The deployment table (every timed model x precision against the speed/loss target) and the
macros the paper reads from it, on hand-computed values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from slimrank.macro_names import parse_macros
from slimrank.macros import DEPLOYMENT_TARGET, numbers_macros
from slimrank.study import DEPLOYMENT, EFFICIENCY, METRICS
from slimrank.tables import (
    deployment_caption,
    deployment_latex,
    deployment_markdown,
    deployment_table,
    fp32_full_run,
    scored_run,
    seed_values,
)

# nDCG@10 on dl19: (run, seed, value). full has two seeds; the timed models are seed 13's.
VALUES = [
    ("bm25", None, 0.470),
    ("full", 13, 0.600),
    ("full", 14, 0.620),
    ("full-fp32", 13, 0.610),
    ("full-int8", 13, 0.590),
    ("drop-L2", 13, 0.500),
    ("structured-w10", 13, 0.600),
    ("structured-w10-int8", 13, 0.596),
]
# (model, precision column, speed ratio to fp32 full, FLOPs per pair; the peer has none)
ROWS = [
    ("full", "bf16", 1.50, 300.0),
    ("full-fp32", "fp32", 1.00, 300.0),
    ("full-int8", "fp32", 1.20, 300.0),
    ("drop-L2", "bf16", 3.10, 100.0),
    ("structured-w10", "bf16", 3.20, 129.3),
    ("structured-w10-int8", "fp32", 2.60, 129.3),
    ("full-st", "fp32", 0.85, None),
]


def frames():
    metrics = pd.DataFrame(
        [
            {
                METRICS.split: "dl19",
                METRICS.run: run,
                METRICS.seed: seed,
                METRICS.metric: "ndcg@10",
                METRICS.value: value,
                METRICS.queries: 43,
            }
            for run, seed, value in VALUES
        ]
    )
    efficiency = pd.DataFrame(
        {
            EFFICIENCY.model: [r[0] for r in ROWS],
            EFFICIENCY.precision: [r[1] for r in ROWS],
            EFFICIENCY.pairs_per_s_ratio: [r[2] for r in ROWS],
            EFFICIENCY.flops_per_pair: [r[3] for r in ROWS],
            EFFICIENCY.top10_overlap: [0.9] * (len(ROWS) - 1) + [None],
            EFFICIENCY.bf16_matmul_speedup: [None] * (len(ROWS) - 1) + [2.4],  # the peer's job
            EFFICIENCY.scoring_over_peer: [None] * (len(ROWS) - 1) + [1.9],  # the peer's job
        }
    )
    return metrics, efficiency


def table(**target):
    metrics, efficiency = frames()
    target = {**DEPLOYMENT_TARGET, **target}
    return deployment_table(
        metrics,
        efficiency,
        "dl19",
        "ndcg@10",
        seed=13,
        target_speedup=target["speedup"],
        max_loss_pct=target["max_loss_pct"],
    )


def test_seed_values_keep_one_seed_and_the_runs_without_one():
    metrics, _ = frames()
    one = seed_values(metrics, "dl19", 13)
    assert one.at["full", "ndcg@10"] == 0.600 and one.at["bm25", "ndcg@10"] == 0.470
    assert seed_values(metrics, "dl19", None).at["full", "ndcg@10"] == pytest.approx(0.610)


def test_reference_and_peer_runs():
    assert fp32_full_run(["full", "full-fp32"]) == "full-fp32"
    assert fp32_full_run(["full", "drop-L2"]) == "full"
    assert scored_run("full-st", ["full", "full-fp32"]) == "full-fp32"
    assert scored_run("full-st", ["full"]) == "full"
    assert scored_run("drop-L2-int8", ["drop-L2"]) == "drop-L2-int8"


def test_deployment_table_by_hand():
    t = table().set_index(DEPLOYMENT.run)
    # Fastest first; the peer last (0.85x).
    assert list(t.index) == [
        "structured-w10", "drop-L2", "structured-w10-int8", "full", "full-int8",
        "full-fp32", "full-st",
    ]  # fmt: skip
    # Loss against full-fp32 (0.610), from seed 13's values: 100 * 0.010 / 0.610 = 1.64.
    assert t.at["structured-w10", DEPLOYMENT.loss_pct] == 1.6
    assert t.at["full", DEPLOYMENT.loss_pct] == 1.6  # seed 13's 0.600, not the mean 0.610
    assert t.at["drop-L2", DEPLOYMENT.loss_pct] == 18.0  # 100 * 0.110 / 0.610
    assert t.at["structured-w10-int8", DEPLOYMENT.loss_pct] == 2.3  # 2.295
    assert t.at["full-st", DEPLOYMENT.loss_pct] == 0.0  # the peer scores as full-fp32
    assert t.at["full-st", DEPLOYMENT.value] == 0.610
    # FLOPs ratio: the full model's 300 over the row's; the peer takes its model's.
    assert t.at["drop-L2", DEPLOYMENT.flops_ratio] == 3.0
    assert t.at["structured-w10", DEPLOYMENT.flops_ratio] == 2.32
    assert t.at["full-st", DEPLOYMENT.flops_ratio] == 1.0
    # A precision row says its own precision (int8 activations run in fp32).
    assert t.at["full-int8", DEPLOYMENT.precision] == "int8"
    assert t.at["full", DEPLOYMENT.precision] == "bf16"
    assert math.isnan(t.at["full-st", DEPLOYMENT.top10_overlap])
    # Only structured-w10 is >= 3x with <= 2% loss; drop-L2 is fast but loses 18%.
    assert list(t.index[t[DEPLOYMENT.meets_target]]) == ["structured-w10"]
    # A looser target admits the int8 row too (2.6x, 2.3%).
    loose = table(speedup=2.5, max_loss_pct=2.5).set_index(DEPLOYMENT.run)
    assert set(loose.index[loose[DEPLOYMENT.meets_target]]) == {
        "structured-w10",
        "structured-w10-int8",
    }


def deployment_macros(t, **target):
    metrics, efficiency = frames()
    text = numbers_macros(
        metrics,
        None,
        None,
        efficiency,
        test_splits=["dl19"],
        main_split="dl19",
        text_metrics=["ndcg@10"],
        deployment=t,
        target={**DEPLOYMENT_TARGET, **target},
    )
    return parse_macros(text)


def test_deployment_macros_by_hand():
    m = deployment_macros(table())
    assert (m["targetSpeedup"], m["targetMaxLoss"]) == ("3", "2")
    assert (m["deploymentRowCount"], m["targetMetCount"]) == ("7", "1")
    assert m["targetMetList"] == r"\texttt{structured-w10}"
    # Within 2%: structured-w10 (3.20x) is the fastest; at >= 3x it also loses least.
    assert (m["targetFastestWithinRun"], m["targetFastestWithinSpeedup"]) == (
        r"\texttt{structured-w10}",
        "3.20",
    )
    assert m["targetFastestWithinLoss"] == "1.6"
    assert m["targetAtSpeedCount"] == "2"
    assert m["targetBestAtSpeedRun"] == r"\texttt{structured-w10}"
    # Speed against FLOPs, each over the full model in its own arithmetic:
    # 3.20 / 1.50 = 2.13, 3.10 / 1.50 = 2.07, int8 2.60 / 1.20 = 2.17.
    assert m["speedFlopsCount"] == "3"
    assert m["speedFlopsList"] == (
        r"\texttt{structured-w10} 2.13$\times$ for 2.32$\times$ fewer FLOPs, "
        r"\texttt{drop-L2} 2.07$\times$ for 3.00$\times$ fewer FLOPs and "
        r"\texttt{structured-w10-int8} 2.17$\times$ for 2.32$\times$ fewer FLOPs"
    )
    # The peer: 0.85x fp32; the default bf16 path 1.90x the peer as timed in the peer's job
    # (not 1.50 / 0.85 = 1.76, a ratio of two jobs' ratios).
    assert (m["peerCount"], m["peerSpeedup"], m["fullOverPeer"]) == ("1", "0.85", "1.90")
    assert m["fullPrecision"] == "bf16"
    assert m["bfMatmulSpeedup"] == "2.40"  # the ceiling of bf16 over the fp32 peer


def test_deployment_macros_when_no_row_is_fast_enough():
    m = deployment_macros(table(speedup=4.0), speedup=4.0)
    assert (m["targetMetCount"], m["targetAtSpeedCount"], m["targetMetList"]) == ("0", "0", "n/a")
    assert m["targetBestAtSpeedRun"] == "n/a"
    # The fastest row overall, for "how close the frontier comes".
    assert (m["deploymentFastestRun"], m["deploymentFastestSpeedup"]) == (
        r"\texttt{structured-w10}",
        "3.20",
    )
    assert m["deploymentFastestLoss"] == "1.6"


def test_deployment_macros_without_measurements():
    metrics, _ = frames()
    m = parse_macros(
        numbers_macros(
            metrics, None, test_splits=["dl19"], main_split="dl19", text_metrics=["ndcg@10"]
        )
    )
    assert (m["deploymentRowCount"], m["targetMetCount"], m["peerCount"]) == ("0", "0", "0")
    assert m["targetFastestWithinRun"] == m["fullOverPeer"] == "n/a"


def test_deployment_latex_and_markdown():
    t = table()
    caption = deployment_caption(
        t,
        "ndcg@10",
        "dl19",
        seed=13,
        reference_run="full-fp32",
        target_speedup=3.0,
        max_loss_pct=2.0,
    )
    assert "1 row meets it (bold)" in caption and r"3$\times$" in caption
    latex = deployment_latex(t, caption, "ndcg@10")
    assert r"\label{tab:deployment}" in latex and "nDCG@10" in latex
    bold = [line for line in latex.splitlines() if r"\textbf" in line]
    assert len(bold) == 1 and r"\textbf{\texttt{structured-w10}}" in bold[0]
    assert r"\texttt{drop-L2} & bf16 & 3.10 & 3.00 & 0.500 & 18.0 & 0.90 \\" in latex
    markdown = deployment_markdown(t, "ndcg@10")
    assert "| **structured-w10** | **bf16** | **3.20** | **2.32** |" in markdown
    assert "| full-st | fp32 | 0.85 | 1.00 | 0.610 | 0.0 | – |" in markdown
