"""Figures are written as PDF and readable PNG from tiny frames, also when families are absent."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from slimrank import figures

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
            {"split": "dl19", "run": r, "metric": m, "value": v[i], "queries": 43}
            for r, v in runs.items()
            for i, m in enumerate(("ndcg@10", "mrr@10"))
        ]
    )
    params = pd.DataFrame(
        [
            {
                "variant": r,
                "nonzero_params": v[2],
                "encoder_sparsity": v[3],
                "target_sparsity": v[3],
                "total_params": 22_700_000,
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
    assert_written(figures.plot_effectiveness(metrics, params, tmp_path / "eff"), tmp_path / "eff")
    assert_written(
        figures.plot_sparsity_sweep(metrics, params, tmp_path / "a" / "sweep"),
        tmp_path / "a" / "sweep",
    )
    labels = legend_labels(figures.effectiveness_figure(metrics, params))
    assert {"layer drop", "one-shot pruning", "gradual magnitude pruning", "full model"} <= set(
        labels
    )


@pytest.mark.parametrize("missing", [("gmp", "lottery"), ("drop",), ("oneshot", "gmp")])
def test_missing_families_are_omitted(tmp_path, missing):
    metrics, params = frames(drop=missing)
    # the workflow's params.tsv spells some columns differently: accepted as well
    params = params.rename(columns={"variant": "name", "nonzero_params": "nonzero"})
    for builder in (figures.effectiveness_figure, figures.sparsity_figure):
        labels = " ".join(legend_labels(builder(metrics, params)))
        for family in missing:
            assert figures.STYLES[family][2] not in labels.replace("(at matched sparsity)", "")
    stem = tmp_path / "eff"
    assert_written(figures.plot_effectiveness(metrics, params, stem), stem)


def test_plots_survive_an_absent_split(tmp_path):
    metrics, params = frames()
    figures.sparsity_figure(metrics, params, split="dl20")
    stem = tmp_path / "empty"
    assert_written(figures.plot_effectiveness(metrics, params, stem, split="dl20"), stem)


def test_speed(tmp_path):
    metrics, _ = frames()
    int8 = pd.DataFrame(
        [{"split": "dl19", "run": "full-int8", "metric": "ndcg@10", "value": 0.69, "queries": 43}]
    )
    metrics = pd.concat([metrics, int8])
    efficiency = pd.DataFrame(
        {
            "variant": ["full", "drop-L2", "oneshot-match-L2", "full-int8"],
            "throughput_pairs_per_s": [42.0, 120.0, 41.0, 90.0],  # benchmark_model's key
        }
    )
    stem = tmp_path / "speed"
    assert_written(figures.plot_speed(metrics, efficiency, stem), stem)
    labels = legend_labels(figures.speed_figure(metrics, efficiency))
    assert "int8 (hollow)" in labels and "layer drop" in labels
    for absent in (None, pd.DataFrame(columns=["variant", "pairs_per_s_ratio"])):
        assert_written(figures.plot_speed(metrics, absent, tmp_path / "none"), tmp_path / "none")


def test_speed_labels_do_not_overlap():
    """Pruned models all sit near 1x with close scores: their labels must still not collide."""
    metrics, _ = frames()
    # Pruned models squeezed into a narrow band of scores, far from the full and 2-layer models.
    pruned = metrics.run.str.contains("match|-s")
    metrics.loc[pruned, "value"] = 0.6 + (metrics.loc[pruned, "value"] - 0.5) * 0.05
    metrics.loc[metrics.run == "drop-L2", "value"] = 0.2
    runs = sorted(r for r in metrics.run.unique() if r != "bm25")
    efficiency = pd.DataFrame(
        {"variant": runs, "pairs_per_s_ratio": [1.0 + 0.01 * (i % 3) for i in range(len(runs))]}
    )
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    fig = figures.speed_figure(metrics, efficiency)
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
    fig = figures.effectiveness_figure(metrics, params)
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
    fig = figures.per_query_figure(compressed, full, label="drop-L3")
    assert fig.axes[0].get_title() == "drop-L3 vs full: 2 wins, 1 ties, 1 losses"
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([0.2, 0.2, 0.0, -0.2])  # sorted, largest gain first
    stem = tmp_path / "per_query"
    assert_written(figures.plot_per_query(compressed, full, stem), stem)
    assert_written(figures.plot_per_query({}, {}, tmp_path / "empty"), tmp_path / "empty")


def test_pdf_is_reproducible(tmp_path):
    metrics, params = frames()
    a = figures.plot_effectiveness(metrics, params, tmp_path / "a")[0].read_bytes()
    b = figures.plot_effectiveness(metrics, params, tmp_path / "b")[0].read_bytes()
    assert a == b
