"""The numbers the paper quotes: role-named macros that round-trip to the table's values, and a
manuscript whose every macro is generated for any shape of study."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

from slimrank.macro_names import MacroSet, macro_name, number_words, parse_macros
from slimrank.macros import numbers_macros, study_roles
from slimrank.study import (
    EFFICIENCY,
    FULL,
    METRICS,
    PARAMS,
    SIGNIFICANCE,
    int8_name,
    peer_name,
    variant_table,
)
from slimrank.tables import deployment_table, main_table

from .conftest import REPO, tiny_workflow_config

PAPER = REPO / "paper" / "paper.tex"
TEXT_METRICS = ["ndcg@10", "mrr@10"]


def macros_of(metrics, params, significance=None, efficiency=None, **kwargs):
    kwargs = {"test_splits": ["dl19"], "main_split": "dl19", "text_metrics": TEXT_METRICS} | kwargs
    return numbers_macros(metrics, params, significance, efficiency, **kwargs)


def test_macro_names():
    assert macro_name("main", "drop", 1, "primary") == "mainDropOnePrimary"
    assert macro_name("test-split", 2, "queries") == "testSplitTwoQueries"
    assert number_words("0") == "Zero"
    assert number_words("100") == "OneHundred"
    assert number_words("1234") == "OneThousandTwoHundredThirtyFour"
    assert number_words("87.5") == "EightySevenPointFive"


def test_roles_of_the_hand_made_study(metrics):
    roles = study_roles(list(dict.fromkeys(metrics["run"])))
    assert roles.runs["Full"] == "full" and roles.runs["FirstStage"] == "bm25"
    assert roles.runs["DropOne"] == roles.runs["DropFocus"] == "drop-L3"
    assert roles.runs["OneshotMatchFocus"] == "oneshot-match-L3"
    assert roles.runs["GmpMatchFocus"] is None  # a fixed role this study lacks
    assert roles.runs["SweepOne"] == roles.runs["SweepHighest"] == "oneshot-s90"
    assert roles.runs["ReferenceOne"] == "bm25-fullcollection"


def test_numbers_equal_table_values(metrics, significance, params):
    text = macros_of(metrics, params, significance)
    macros = parse_macros(text)
    assert len(macros) == text.count(r"\newcommand")  # every line parsed, names letters only
    assert text == macros_of(metrics, params, significance)  # deterministic
    table = main_table(metrics, significance, params, "dl19", TEXT_METRICS).set_index("run")
    roles = {
        "Full": "full", "FirstStage": "bm25", "DropOne": "drop-L3",
        "OneshotMatchOne": "oneshot-match-L3", "SweepOne": "oneshot-s90",
        "ReferenceOne": "bm25-fullcollection",
    }  # fmt: skip
    for role, run in roles.items():
        for word, metric in (("Primary", "ndcg@10"), ("Secondary", "mrr@10")):
            value = f"{table.at[run, metric]:.3f}"
            assert macros[f"main{role}{word}"] == macros[f"splitOne{role}{word}"] == value
    assert macros["mainQueries"] == "43" and macros["testSplitOneQueries"] == "43"
    assert not any(name.startswith("valid") for name in macros)  # only test splits


def test_numbers_derived_values(metrics, significance, params):
    text = macros_of(metrics, params, significance, counts={"train queries": 2536})
    macros = parse_macros(text)
    expected = {
        "mainSplit": r"\texttt{dl19}",
        "testSplitList": r"\texttt{dl19} (43 queries)",
        "primaryMetric": "nDCG@10",
        "pairCount": "1",
        "pairOneLayers": "3",
        "focusLayers": "3",
        "paramsFull": "22.7",
        "paramsExactFull": "22,713,985",
        "nonzerosDropOne": "17.4",
        "nonzerosPctDropOne": "76.6",
        "nonzerosPctDropList": "76.6",
        "sparsityOneshotMatchFocus": "41.2",
        "sparsityGmpMatchFocus": "n/a",
        "targetSparsitySweepOne": "90.0",
        "layersDropSmallest": "3",
        "megabytesFull": "90.9",
        "mainDropOnePrimaryDeltaFull": r"\ensuremath{-}0.050",
        "mainDropOneSecondaryDeltaFull": "+0.010",
        "mainDropOnePrimaryRetainedFull": "92.9",
        "mainDropFocusPrimaryVsFull": "significantly lower than",
        "mainDropFocusSecondaryVsFull": "significantly higher than",
        "mainDropFocusPrimaryPFull": "0.010",
        "mainDropFocusPrimaryPFirstStage": "0.001",
        "mainFirstStagePrimaryPFull": r"\ensuremath{<}0.001",
        "mainOneshotMatchFocusPrimaryVsFull": "not significantly different from",
        "mainSweepOnePrimaryVsFirstStage": "not significantly different from",
        "mainSweepOnePrimaryVsFull": "not tested against",
        "mainSweepOnePrimaryPFull": "n/a",
        "mainGmpMatchFocusPrimary": "n/a",
        "mainOneshotMinusDropOnePrimary": "+0.040",
        "mainOneshotMinusDropFocusSecondary": r"\ensuremath{-}0.035",
        "mainOneshotMinusDropPrimaryList": "+0.040",
        "oneshotMatchedSizes": "1",
        "gmpMatchedSizes": "0",
        "mainOneshotWinsPrimary": "1",
        "mainOneshotLossesSecondary": "1",
        "mainGmpWinsPrimary": "0",
        "mainPairOneBestPrimary": "one-shot pruning",
        "mainFocusBestSecondary": "layer dropping",
        "mainBestRunPrimary": r"\texttt{oneshot-match-L3}",
        "mainBestRunPrimaryValue": "0.690",
        "mainSweepPrimaryList": "0.600",
        "sweepSchedule": "one-shot pruning",
        "sweepSparsityList": "90",
        "referenceOneRun": r"\texttt{bm25-fullcollection}",
        "fullPrimaryBySplit": r"0.700 on \texttt{dl19}",
        "countTrainQueries": "2,536",
    }
    assert {k: macros.get(k) for k in expected} == expected


def test_distillation_macros(metrics, significance, params):
    """Students against partners and the drop-vs-prune answer with and without distillation:
    drop 0.650 and one-shot 0.690 (+0.040); drop-kd 0.700 and one-shot-kd 0.680 (-0.020)."""
    students = pd.DataFrame(
        [("dl19", "drop-L3-kd", "ndcg@10", 0.7001, 43), ("dl19", "oneshot-match-L3-kd",
         "ndcg@10", 0.6798, 43)],
        columns=list(metrics.columns),
    )  # fmt: skip
    kd_params = params[params[PARAMS.name].isin(["drop-L3", "oneshot-match-L3"])].copy()
    kd_params[PARAMS.name] += "-kd"
    macros = parse_macros(
        macros_of(
            pd.concat([metrics, students]),
            pd.concat([params, kd_params]),
            significance,
            distillation={"loss": "listwise_kl", "temperature": 2.0, "label_weight": 0.5},
        )
    )
    expected = {
        "kdStudentCount": "2",
        "kdRunList": r"\texttt{drop-L3-kd} and \texttt{oneshot-match-L3-kd}",
        "kdComparedSizes": "1",
        "mainKdGainPrimaryList": r"\texttt{drop-L3-kd} +0.050 and "
        r"\texttt{oneshot-match-L3-kd} \ensuremath{-}0.010",
        "mainKdWinsPrimary": "1",
        "mainKdLossesPrimary": "1",
        "mainKdAnswerPrimary": r"at the 3-layer size one-shot pruning minus layer dropping is "
        r"+0.040 without distillation and \ensuremath{-}0.020 with it (the sign changes)",
        "mainKdFlipsPrimary": "1",
        "mainDropFocusKdPrimary": "0.700",
        "mainOneshotMatchFocusKdPrimaryDeltaFull": r"\ensuremath{-}0.020",
        "kdLoss": "a listwise KL divergence between the group softmaxes at temperature 2",
        "kdMix": "weighted 1 and mixed with the label loss weighted 0.5",
        "seedsMin": "1",
        "seedsMax": "1",
    }
    assert {k: macros.get(k) for k in expected} == expected
    # Without students every RQ5 macro still exists, so the text builds.
    plain = parse_macros(macros_of(metrics, params, significance))
    assert plain["kdStudentCount"] == "0" and plain["mainKdAnswerPrimary"] == "n/a"
    assert plain["kdMix"] == "alone, without the label loss"
    assert plain["structuredRunCount"] == "0"
    assert shape_macros("default", with_efficiency=False) >= {"structuredRunCount"}


def test_numbers_refuse_colliding_names():
    with pytest.raises(ValueError, match="twice"):
        out = MacroSet()
        out.add("mainFullPrimary", "1")
        out.add("mainFullPrimary", "2")


# ----------------------------------------------------------------------------- study shapes
def study_frames(config: dict, test_splits=("dl19",), references=()):
    """Frames shaped like the outputs of ``config``'s study (values are arbitrary), in the
    columns the workflow writes."""
    variants = variant_table(config)
    int8 = [int8_name(n) for n in config.get("efficiency", {}).get("int8", [])]
    runs = ["bm25", *references, *(v.name for v in variants), *int8]
    metric_names = ["ndcg@10", "mrr@10", "recall@100", "recall@1000", "map@1000"]
    metrics = pd.DataFrame(
        [
            (s, r, m, 0.3 + 0.01 * i + 0.001 * j, 43 + k)
            for k, s in enumerate([*test_splits, "valid"])
            for i, r in enumerate(runs if s != "valid" else ["bm25"])
            for j, m in enumerate(metric_names)
        ],
        columns=[c for c in METRICS if c != METRICS.seed],
    )
    significance = pd.DataFrame(
        [
            (s, r, b, m, 0.01, 0.03)
            for s in test_splits
            for b in ("bm25", "full")
            for r in runs
            if r != b
            for m in metric_names
        ],
        columns=list(SIGNIFICANCE)[:6],
    )
    layers = max(config["compression"].get("layers", [1])) + 3

    def total(n: int) -> int:
        return 11_868_289 + 1_774_464 * n

    rows = []
    for v in variants:
        kept = v.layers or layers
        if v.family == "prune":
            target = v.sparsity if v.sparsity is not None else 0.3
            nonzero = int(total(layers) * (1 - target / 2))
        else:
            target, nonzero = None, total(kept)
        rows.append((v.name, v.family, v.schedule, kept, target, total(kept), nonzero, target))
    params = pd.DataFrame(
        rows,
        columns=[
            PARAMS.name, PARAMS.family, PARAMS.schedule, PARAMS.layers, PARAMS.target_sparsity,
            PARAMS.total, PARAMS.nonzero, PARAMS.encoder_sparsity,
        ],
    )  # fmt: skip
    params[PARAMS.size_bytes] = params[PARAMS.total] * 4
    models = [v.name for v in variants] + int8 + [peer_name(FULL)]
    efficiency = pd.DataFrame(
        {
            EFFICIENCY.model: models,
            EFFICIENCY.throughput_pairs_per_s: [40.0 + i for i in range(len(models))],
            EFFICIENCY.pairs_per_s_ratio: [1.0 + 0.1 * i for i in range(len(models))],
            EFFICIENCY.latency_ms: [100.0 - i for i in range(len(models))],
            EFFICIENCY.precision: "fp32",
            EFFICIENCY.device: "cpu",
            # measured in the peer's job only
            EFFICIENCY.bf16_matmul_speedup: [None] * (len(models) - 1) + [2.4],
        }
    )
    return metrics, significance, params, efficiency


def default_frames():
    """Frames shaped like the embedded default's outputs."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    return study_frames(config, references=("bm25-fullcollection",))


SHAPES = {
    "tiny": (tiny_workflow_config, ("dl19",), ("bm25-fullcollection",)),
    "default": (
        lambda: yaml.safe_load((REPO / "config/config.yaml").read_text()),
        ("dl19",),
        ("bm25-fullcollection",),
    ),  # fmt: skip
    "msmarco": (
        lambda: yaml.safe_load((REPO / "config/msmarco.yaml").read_text()),
        ("dl19", "dl20", "dev-small"),
        (),
    ),  # fmt: skip
}


def documented_macros(text: str, heading: str) -> set[str]:
    """Macro names listed in paper.tex's header comment under ``% HEADING``."""
    names: set[str] = set()
    for line in text.split(f"% {heading}", 1)[1].splitlines()[1:]:
        if line.startswith("%   "):
            names |= set(re.findall(r"\\([A-Za-z]+)", line))
        elif names:
            break
    return names


def shape_macros(shape: str, with_efficiency: bool) -> set[str]:
    make_config, splits, references = SHAPES[shape]
    metrics, significance, params, efficiency = study_frames(make_config(), splits, references)
    main_split = splits[-1] if shape == "msmarco" else splits[0]
    deployment = (
        deployment_table(
            metrics,
            efficiency,
            main_split,
            TEXT_METRICS[0],
            seed=None,
            target_speedup=3.0,
            max_loss_pct=2.0,
        )
        if with_efficiency
        else None
    )
    text = macros_of(
        metrics,
        params,
        significance,
        efficiency if with_efficiency else None,
        test_splits=list(splits),
        main_split=main_split,
        counts={"train queries": 100, "valid queries": 10},
        deployment=deployment,
    )
    return set(parse_macros(text))


@pytest.mark.parametrize("shape", list(SHAPES))
def test_paper_macros_exist_for_every_study_shape(shape):
    text = PAPER.read_text()
    required = documented_macros(text, "MACROS")
    optional = documented_macros(text, "OPTIONAL")
    assert required and optional
    assert required - shape_macros(shape, with_efficiency=False) == set()
    with_eff = shape_macros(shape, with_efficiency=True)
    assert {"speedupDropList", "scoringPrecision"} <= with_eff
    assert required - with_eff == set()


def test_paper_lists_the_macros_it_uses():
    text = PAPER.read_text()
    required = documented_macros(text, "MACROS")
    optional = documented_macros(text, "OPTIONAL")
    generated = set().union(*(shape_macros(s, True) for s in SHAPES))
    assert optional <= generated
    body = text.split(r"\documentclass", 1)[1]
    used = {n for n in re.findall(r"\\([A-Za-z]+)", body) if n in generated}
    assert used == required | optional  # the header list is complete and not stale


def test_paper_inputs_generated_files_only():
    text = PAPER.read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("%"))
    inputs = re.findall(r"\\(?:input|includegraphics)(?:\[[^]]*\])?\{([^}]*)\}", body)
    assert sorted(inputs) == sorted(
        [
            "generated/numbers.tex",
            "generated/main_table.tex",
            "generated/split_tables.tex",
            "generated/deployment_table.tex",
            "generated/effectiveness.pdf",
            "generated/sparsity_sweep.pdf",
            "generated/speed.pdf",
            "generated/pareto.pdf",
            "generated/per_query.pdf",
        ]
    )


def test_no_macro_name_carries_a_config_value():
    """Split names, layer counts and sparsities of the msmarco shape appear in no macro name."""
    names = shape_macros("msmarco", with_efficiency=True)
    for word in ("dlNineteen", "DlNineteen", "DlTwenty", "DevSmall", "LThree", "LNine", "SEighty"):
        assert not [n for n in names if word in n], word
