"""Figures are written as PDF and readable PNG from tiny frames, also when families are absent."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from slimrank import figures
from slimrank.study import EFFICIENCY, METRICS, PARAMS

SPLIT, METRIC_LIST = "dl19", ["ndcg@10", "mrr@10"]
ON = dict(split=SPLIT, metrics_list=METRIC_LIST)

RUNS = {  # run: (ndcg@10, mrr@10, nonzero params, encoder sparsity)
    "bm25": (0.50, 0.70, None, None),
    "full": (0.70, 0.85, 22_700_000, 0.0),
    "drop-L2": (0.58, 0.78, 15_400_000, 0.0),
    "drop-L4": (0.66, 0.82, 19_000_000, 0.0),
    "oneshot-match-L2": (0.62, 0.80, 15_400_000, 0.67),
    "oneshot-match-L4": (0.69, 0.84, 19_000_000, 0.33),
    "gmp-match-L2": (0.60, 0.79, 15_400_000, 0.67),
    "lottery-match-L2": (0.55, 0.75, 15_400_000, 0.67),
    "oneshot-s90": (0.52, 0.71, 13_000_000, 0.90),
}


def frames(drop: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(metrics, params) for split dl19 without the runs whose name starts with ``drop``."""
    runs = {r: v for r, v in RUNS.items() if not r.startswith(drop or ("\0",))}
    metrics = pd.DataFrame(
        [
            ("dl19", r, m, v[i], 43)
            for r, v in runs.items()
            for i, m in enumerate(("ndcg@10", "mrr@10"))
        ],
        columns=[c for c in METRICS if c != METRICS.seed],
    )
    params = pd.DataFrame(
        [
            {
                PARAMS.name: r,
                PARAMS.nonzero: v[2],
                PARAMS.encoder_sparsity: v[3],
                PARAMS.target_sparsity: v[3],
                PARAMS.total: 22_700_000,
            }
            for r, v in runs.items()
            if v[2] is not None
        ]
    )
    return metrics, params


def assert_written(paths: list[Path], stem: Path) -> None:
    assert paths == [stem.with_suffix(".pdf"), stem.with_suffix(".png")]
    pdf, png = paths
    assert pdf.stat().st_size > 1000 and pdf.read_bytes().startswith(b"%PDF")
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def legend_labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_effectiveness_and_sweep(tmp_path):
    metrics, params = frames()
    assert_written(
        figures.plot_effectiveness(metrics, params, tmp_path / "eff", **ON), tmp_path / "eff"
    )
    assert_written(
        figures.plot_sparsity_sweep(metrics, params, tmp_path / "a" / "sweep", **ON),
        tmp_path / "a" / "sweep",
    )
    labels = legend_labels(figures.effectiveness_figure(metrics, params, **ON))
    assert {"layer dropping", "one-shot pruning", "gradual magnitude pruning", "full model"} <= set(
        labels
    )


def test_distilled_students_are_a_series_of_their_own():
    """drop-L2-kd and oneshot-match-L2-kd: hollow dashed series beside (not inside) their
    partners' in the effectiveness figure, absent from the sparsity curves."""
    metrics, params = frames()
    students = {"drop-L2-kd": (0.61, 0.79), "oneshot-match-L2-kd": (0.63, 0.81)}
    metrics = pd.concat(
        [metrics]
        + [
            pd.DataFrame([("dl19", r, m, v[i], 43) for i, m in enumerate(METRIC_LIST)],
                         columns=metrics.columns)
            for r, v in students.items()
        ]
    )  # fmt: skip
    kd = params[params[PARAMS.name].isin(["drop-L2", "oneshot-match-L2"])].copy()
    kd[PARAMS.name] += "-kd"
    params = pd.concat([params, kd])
    fig = figures.effectiveness_figure(metrics, params, **ON)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(lines["layer dropping"].get_ydata()) == [0.58, 0.66]  # drop-L2, drop-L4 only
    kd_drop = lines["layer dropping + distillation"]
    assert list(kd_drop.get_ydata()) == [0.61] and kd_drop.get_linestyle() == "--"
    assert list(lines["one-shot pruning + distillation"].get_ydata()) == [0.63]
    sweep = figures.sparsity_figure(metrics, params, **ON)
    curves = {line.get_label(): line for line in sweep.axes[0].get_lines()}
    # full at 0%, oneshot-match-L4, oneshot-match-L2, oneshot-s90: no student among them
    assert sorted(curves["one-shot pruning"].get_ydata()) == [0.52, 0.62, 0.69, 0.70]


@pytest.mark.parametrize("missing", [("gmp", "lottery"), ("drop",), ("oneshot", "gmp")])
def test_missing_families_are_omitted(tmp_path, missing):
    metrics, params = frames(drop=missing)
    for builder in (figures.effectiveness_figure, figures.sparsity_figure):
        labels = " ".join(legend_labels(builder(metrics, params, **ON)))
        for family in missing:
            assert figures.STYLES[family][2] not in labels.replace("(at matched sparsity)", "")
    stem = tmp_path / "eff"
    assert_written(figures.plot_effectiveness(metrics, params, stem, **ON), stem)


def test_plots_survive_an_absent_split(tmp_path):
    metrics, params = frames()
    figures.sparsity_figure(metrics, params, "dl20", METRIC_LIST)
    stem = tmp_path / "empty"
    assert_written(figures.plot_effectiveness(metrics, params, stem, "dl20", METRIC_LIST), stem)


def test_speed(tmp_path):
    metrics, _ = frames()
    int8 = pd.DataFrame(
        [{"split": "dl19", "run": "full-int8", "metric": "ndcg@10", "value": 0.69, "queries": 43}]
    )
    metrics = pd.concat([metrics, int8])
    efficiency = pd.DataFrame(
        {
            EFFICIENCY.model: ["full", "drop-L2", "oneshot-match-L2", "full-int8"],
            EFFICIENCY.throughput_pairs_per_s: [42.0, 120.0, 41.0, 90.0],
            EFFICIENCY.pairs_per_s_ratio: [1.0, 120 / 42, 41 / 42, 90 / 42],
        }
    )
    stem = tmp_path / "speed"
    assert_written(figures.plot_speed(metrics, efficiency, stem, SPLIT, "ndcg@10"), stem)
    labels = legend_labels(figures.speed_figure(metrics, efficiency, SPLIT, "ndcg@10"))
    assert "int8 (hollow)" in labels and "layer dropping" in labels
    for absent in (None, pd.DataFrame(columns=[EFFICIENCY.model, EFFICIENCY.pairs_per_s_ratio])):
        stem = tmp_path / "none"
        assert_written(figures.plot_speed(metrics, absent, stem, SPLIT, "ndcg@10"), stem)


def test_speed_labels_do_not_overlap():
    """Pruned models all sit near 1x with close scores: their labels must still not collide."""
    metrics, _ = frames()
    # Pruned models squeezed into a narrow band of scores, far from the full and 2-layer models.
    pruned = metrics.run.str.contains("match|-s")
    metrics.loc[pruned, "value"] = 0.6 + (metrics.loc[pruned, "value"] - 0.5) * 0.05
    metrics.loc[metrics.run == "drop-L2", "value"] = 0.2
    runs = sorted(r for r in metrics.run.unique() if r != "bm25")
    efficiency = pd.DataFrame(
        {
            EFFICIENCY.model: runs,
            EFFICIENCY.pairs_per_s_ratio: [1.0 + 0.01 * (i % 3) for i in range(len(runs))],
        }
    )
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    fig = figures.speed_figure(metrics, efficiency, SPLIT, "ndcg@10")
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    # The text's own box: an annotation's extent would include its leader line.
    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]
    assert len(boxes) == len(runs)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert overlap_x <= 0.5 or overlap_y <= 0.5, (a, b)


def test_effectiveness_labels_stay_inside_their_panels():
    """The layer-drop labels sit below their points; the lowest point's label must not be cut
    by the axes frame (as in the embedded default's run, where drop-L2 is the lowest)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    metrics, params = frames()
    metrics.loc[metrics.run == "drop-L2", "value"] = 0.30  # below every other plotted point
    fig = figures.effectiveness_figure(metrics, params, **ON)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    for ax in fig.axes:
        frame = ax.get_window_extent(renderer)
        labels = [Text.get_window_extent(t, renderer) for t in ax.texts]
        assert len(labels) == 2  # 2L and 4L
        for box in labels:
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1, (box, frame)
            assert frame.y0 <= box.y0 and box.y1 <= frame.y1, (box, frame)


def test_per_query(tmp_path):
    compressed = {"q1": 0.9, "q2": 0.5, "q3": 0.1, "q4": 0.4}
    full = {"q1": 0.7, "q2": 0.5, "q3": 0.3, "q4": 0.2}
    fig = figures.per_query_figure(compressed, full, "drop-L3", "ndcg@10")
    assert fig.axes[0].get_title() == "drop-L3 vs full: 2 wins, 1 ties, 1 losses"
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([0.2, 0.2, 0.0, -0.2])  # sorted, largest gain first
    stem = tmp_path / "per_query"
    assert_written(figures.plot_per_query(compressed, full, stem, "drop-L3", "ndcg@10"), stem)
    empty = tmp_path / "empty"
    assert_written(figures.plot_per_query({}, {}, empty, "no compressed model", "ndcg@10"), empty)


def test_pdf_is_reproducible(tmp_path):
    metrics, params = frames()
    a = figures.plot_effectiveness(metrics, params, tmp_path / "a", **ON)[0].read_bytes()
    b = figures.plot_effectiveness(metrics, params, tmp_path / "b", **ON)[0].read_bytes()
    assert a == b


def test_structured_models_are_a_series_at_their_parameter_count():
    metrics, params = frames()
    structured = {  # run: (ndcg@10, mrr@10, parameters: dense, so total = non-zeros)
        "structured-match-L2": (0.57, 0.77, 15_401_000),
        "structured-match-L4": (0.65, 0.81, 19_001_000),
        "structured-w10": (0.40, 0.60, 14_000_000),  # a width of its own: not a matched point
    }
    metrics = pd.concat(
        [
            metrics,
            pd.DataFrame(
                [(SPLIT, r, m, v[i], 43) for r, v in structured.items()
                 for i, m in enumerate(("ndcg@10", "mrr@10"))],
                columns=metrics.columns,
            ),
        ]
    )  # fmt: skip
    params = pd.concat(
        [
            params,
            pd.DataFrame(
                [{PARAMS.name: r, PARAMS.nonzero: v[2], PARAMS.total: v[2],
                  PARAMS.encoder_sparsity: 0.0} for r, v in structured.items()]
            ),
        ]
    )  # fmt: skip
    fig = figures.effectiveness_figure(metrics, params, **ON)
    colour, marker, label = figures.STYLES["structured"]
    assert label in legend_labels(fig)
    ndcg = fig.axes[0]
    (series,) = [line for line in ndcg.get_lines() if line.get_color() == colour]
    assert series.get_marker() == marker
    assert list(series.get_xdata()) == [15.401, 19.001]
    assert list(series.get_ydata()) == [0.57, 0.65]
    assert figures.method("structured-w10-int8") == "structured"


# ----------------------------------------------------------------------------- Pareto
def test_pareto_frontier_by_hand():
    points = [
        (1.0, 0.60, "full-fp32"),
        (1.5, 0.60, "full"),  # faster at the same nDCG: dominates full-fp32
        (2.5, 0.30, "drop-L2"),
        (2.4, 0.25, "drop-L2-bf16"),  # slower and worse than drop-L2
        (3.0, 0.28, "drop-L2-int8"),
        (1.2, 0.58, "full-int8"),  # slower and worse than full
        (0.9, 0.61, "full-st"),  # slowest, but the most effective
        (2.0, float("nan"), "unmeasured"),
    ]
    frontier = figures.pareto_frontier(points)
    assert [p[2] for p in frontier] == ["drop-L2-int8", "drop-L2", "full", "full-st"]
    # Identical points: the first one given is kept; an empty input has no frontier.
    assert [p[2] for p in figures.pareto_frontier([(1, 1, "a"), (1, 1, "b")])] == ["a"]
    assert figures.pareto_frontier([]) == []


def test_pareto_figure(tmp_path):
    metrics, _ = frames()
    extra = pd.DataFrame(
        [
            {"split": "dl19", "run": run, "metric": "ndcg@10", "value": value, "queries": 43}
            for run, value in (("full-int8", 0.69), ("full-fp32", 0.70), ("drop-L2-bf16", 0.5))
        ]
    )
    metrics = pd.concat([metrics, extra])
    efficiency = pd.DataFrame(
        {
            EFFICIENCY.model: [
                "full",
                "full-fp32",
                "drop-L2",
                "drop-L2-bf16",
                "full-int8",
                "full-st",
            ],  # fmt: skip
            EFFICIENCY.pairs_per_s_ratio: [1.5, 1.0, 2.8, 3.1, 1.3, 0.8],
        }
    )
    stem = tmp_path / "pareto"
    assert_written(figures.plot_pareto(metrics, efficiency, stem, SPLIT, "ndcg@10"), stem)
    labels = legend_labels(figures.pareto_figure(metrics, efficiency, SPLIT, "ndcg@10"))
    assert {"Pareto frontier", "int8", "bf16", "sentence-transformers"} <= set(labels)
    for absent in (None, pd.DataFrame(columns=[EFFICIENCY.model, EFFICIENCY.pairs_per_s_ratio])):
        stem = tmp_path / "none"
        assert_written(figures.plot_pareto(metrics, absent, stem, SPLIT, "ndcg@10"), stem)
