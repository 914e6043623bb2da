"""The paper's figures, each written as ``<stem>.pdf`` (for LaTeX) and ``<stem>.png`` (for review).

Figures are built on :class:`matplotlib.figure.Figure` directly, never through ``pyplot``: no
global figure registry, no GUI backend (the Agg canvas renders PNG, the PDF backend PDF), so the
functions are safe in workers and tests. Every plot takes the workflow's tidy frames (see
:mod:`slimrank.study` names their columns) and simply leaves out what is absent: a build
without GMP runs, without a sweep or without efficiency measurements still gets every figure.

Colour and marker are fixed per method (layer drop, each pruning schedule) and shared by all
figures, from the Okabe-Ito palette, which stays distinguishable for colour-blind readers and
in grey print (markers differ too). A distilled student (``-kd``) has its partner's method's
colour and marker, hollow, on a dashed line. Where a run has several training seeds its point
is the mean and its error bar the standard deviation over seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from slimrank.study import (
    BM25,
    EFFICIENCY,
    FULL,
    METHOD_NAMES,
    PARAMS,
    SCHEDULES,
    STRUCTURED,
    matched_name,
    parse_run,
)
from slimrank.tables import metric_label, scored_run, seed_values, split_spread, win_tie_loss

#: (colour, marker, legend label) per method; methods are labelled as the text names them.
STYLES: dict[str, tuple[str, str, str]] = {
    "drop": ("#0072B2", "o", METHOD_NAMES["drop"]),
    "oneshot": ("#E69F00", "s", METHOD_NAMES["oneshot"]),
    "gmp": ("#009E73", "^", METHOD_NAMES["gmp"]),
    "lottery": ("#D55E00", "D", METHOD_NAMES["lottery"]),
    STRUCTURED: ("#56B4E9", "P", METHOD_NAMES[STRUCTURED]),
    "full": ("#000000", "*", "full model"),
    "other": ("#CC79A7", "v", "other"),
}
BM25_COLOUR = "#999999"
WIN, TIE, LOSS = "#009E73", "#999999", "#D55E00"


def method(run: str) -> str:
    """Style key of a run: ``drop``, a schedule, ``structured``, ``full`` or ``other``."""
    info = parse_run(run)
    if info.kind == "prune":
        return info.schedule if info.schedule in STYLES else "other"
    return info.kind if info.kind in ("drop", STRUCTURED, "full") else "other"


def save(fig: Figure, out_stem: Path) -> list[Path]:
    """Write ``out_stem``.pdf and .png; no timestamps, so reruns give identical PDFs."""
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    pdf, png = out_stem.with_suffix(".pdf"), out_stem.with_suffix(".png")
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None})
    fig.savefig(png, dpi=150, metadata={"Software": None})
    return [pdf, png]


def _values(metrics: pd.DataFrame, split: str) -> pd.DataFrame:
    """run x metric values of ``split``, the mean over a run's seeds (empty frame when the
    split is absent)."""
    return seed_values(metrics, split, None)


def _spread(spread: pd.DataFrame, run: str, metric: str) -> float:
    """Standard deviation over seeds of ``run`` (NaN for one seed: no error bar)."""
    if metric in spread.columns and run in spread.index:
        return float(spread.at[run, metric])
    return float("nan")


def _error_bars(ax, points: list[tuple[float, float, float]], key: str) -> None:
    """Standard deviation over seeds (x, y, sd) where a point has several seeds."""
    points = [p for p in points if p[2] == p[2]]  # NaN: one seed, no bar
    if points:
        ax.errorbar(
            [x for x, _, _ in points],
            [y for _, y, _ in points],
            yerr=[sd for _, _, sd in points],
            fmt="none",
            ecolor=STYLES[key][0],
            capsize=2,
            linewidth=0.8,
        )


def _params_column(params: pd.DataFrame | None, column: str) -> dict[str, float]:
    """variant -> value of one params column (empty when the frame or column is absent)."""
    if params is None or params.empty or column not in params.columns:
        return {}
    return dict(zip(params[PARAMS.name], params[column].astype(float), strict=True))


def _value(values: pd.DataFrame, run: str, metric: str) -> float | None:
    if run in values.index and metric in values.columns and pd.notna(values.at[run, metric]):
        return float(values.at[run, metric])
    return None


def _bm25_line(ax, values: pd.DataFrame, metric: str) -> None:
    """BM25 as a dotted horizontal line: the floor every reranker is read against."""
    bm25 = _value(values, BM25, metric)
    if bm25 is not None:
        ax.axhline(bm25, color=BM25_COLOUR, linestyle=":", linewidth=1.2, label="BM25")


def _references(ax, values: pd.DataFrame, metric: str) -> None:
    """Full model and BM25 as horizontal lines: the ceiling and the floor of every curve."""
    full = _value(values, FULL, metric)
    if full is not None:
        ax.axhline(full, color=STYLES["full"][0], linestyle="--", linewidth=1, label="full model")
    _bm25_line(ax, values, metric)


def _legend(fig: Figure, axes: Sequence) -> None:
    """One legend for all panels, outside below them, so it never covers a point."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles.keys()),
            loc="outside lower center",
            ncol=min(len(handles), 3),
            frameon=False,
            fontsize="small",
        )


def _finish_speed_axes(
    fig: Figure, ax, values: pd.DataFrame, metric: str, labels: Sequence
) -> Figure:
    """The common end of the figures with speed on x: BM25's line, the full model's speed
    (1x), the legend and the point labels."""
    _bm25_line(ax, values, metric)
    ax.axvline(1.0, color="0.6", linewidth=0.8)
    _legend(fig, [ax])
    _label_points(fig, ax, labels)
    return fig


def _label_points(
    fig: Figure, ax, points: Sequence[tuple[float, float, str]], fontsize: float = 6
) -> None:
    """Label points without overlapping labels: each label sits right of and above its point
    and, where it would cover a label placed before it, moves up above that one (with a thin
    leader line). Placed in display space after a layout pass, lowest point first."""
    fig.draw_without_rendering()  # final axes size, so data -> pixel mapping holds
    px_per_pt = fig.dpi / 72
    height = (fontsize + 3) * px_per_pt
    placed: list[tuple[float, float, float, float]] = []
    for x, y, text in sorted(points, key=lambda p: (p[1], p[0])):
        px, py = ax.transData.transform((x, y))
        x0 = px + 4 * px_per_pt
        x1 = x0 + len(text) * fontsize * 0.6 * px_per_pt
        y0 = py + 2 * px_per_pt
        moved = True
        while moved:  # y0 only grows, so this ends after at most len(placed) moves
            moved = False
            for a0, a1, b0, b1 in placed:
                if x0 < a1 and a0 < x1 and y0 < b1 and b0 < y0 + height:
                    y0, moved = b1, True
        placed.append((x0, x1, y0, y0 + height))
        offset = (y0 - py) / px_per_pt
        ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            xytext=(4, offset),
            va="bottom",
            fontsize=fontsize,
            arrowprops=dict(arrowstyle="-", color="0.6", linewidth=0.5) if offset > 6 else None,
        )


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def _series(ax, points: list[tuple[float, float]], key: str, distilled=False, **kwargs) -> None:
    """One method's points joined by a line; a distilled series hollow and dashed."""
    colour, marker, label = STYLES[key]
    points = sorted(points)
    if distilled:
        kwargs |= {"linestyle": "--", "markerfacecolor": "white"}
        label += " + distillation"
    ax.plot(
        [x for x, _ in points],
        [y for _, y in points],
        color=colour,
        marker=marker,
        label=kwargs.pop("label", label),
        **kwargs,
    )


# ----------------------------------------------------------------------------- effectiveness
def effectiveness_figure(
    metrics: pd.DataFrame,
    params: pd.DataFrame,
    split: str,
    metrics_list: Sequence[str],
) -> Figure:
    """Effectiveness against non-zero parameters: layer drop vs each matched pruning schedule.

    One panel per metric. Layer-drop models (``drop-L*``) and matched pruned models
    (``{schedule}-match-L*``) are placed at their measured non-zero count, so points of one
    size line up vertically; their distilled students (``-kd``) form a series of their own per
    method at the same sizes; the full model is a star at its size and a dashed line, BM25 a
    dotted line. int8 and sweep runs belong to other figures.
    """
    values = _values(metrics, split)
    spread, _ = split_spread(metrics, split)
    nonzeros = _params_column(params, PARAMS.nonzero)
    fig = Figure(figsize=(3.4 * len(metrics_list), 3.4), layout="constrained")
    axes = fig.subplots(1, len(metrics_list), squeeze=False)[0]
    for ax, metric in zip(axes, metrics_list, strict=True):
        # (method, distilled) -> points
        groups: dict[tuple[str, bool], list[tuple[float, float]]] = {}
        labels: list[tuple[float, float, str]] = []
        bars: dict[tuple[str, bool], list[tuple[float, float, float]]] = {}
        for run in values.index:
            info = parse_run(run)
            y, x = _value(values, run, metric), nonzeros.get(run)
            if y is None or x is None or info.is_precision_row or info.matched_layers is None:
                continue
            group = (method(run), info.distill)
            groups.setdefault(group, []).append((x / 1e6, y))
            bars.setdefault(group, []).append((x / 1e6, y, _spread(spread, run, metric)))
            if info.kind == "drop" and not info.distill:
                labels.append((x / 1e6, y, f"{info.matched_layers}L"))
        for distilled in (False, True):
            for key in ["drop", *SCHEDULES, STRUCTURED, "other"]:
                if (key, distilled) in groups:
                    points = groups[key, distilled]
                    _series(ax, points, key, distilled, linewidth=1.2, markersize=5)
                    _error_bars(ax, bars[key, distilled], key)
        for x, y, text in labels:
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
        ax.margins(y=0.15)  # room below the lowest point for its label
        full_y, full_x = _value(values, FULL, metric), nonzeros.get(FULL)
        if full_y is not None and full_x is not None:
            colour, marker, _ = STYLES["full"]
            ax.plot([full_x / 1e6], [full_y], marker=marker, color=colour, markersize=9)
            _error_bars(ax, [(full_x / 1e6, full_y, _spread(spread, FULL, metric))], "full")
        _references(ax, values, metric)
        if not groups and full_y is None:
            _no_data(ax)
        ax.set_xlabel("non-zero parameters (millions)")
        ax.set_ylabel(metric_label(metric))
        ax.set_title(metric_label(metric), fontsize="medium")
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    return fig


def plot_effectiveness(
    metrics: pd.DataFrame,
    params: pd.DataFrame,
    out_stem: Path,
    split: str,
    metrics_list: Sequence[str],
) -> list[Path]:
    """Write :func:`effectiveness_figure` as ``out_stem``.pdf/.png; returns the two paths."""
    return save(effectiveness_figure(metrics, params, split, metrics_list), out_stem)


# ----------------------------------------------------------------------------- sparsity sweep
def sparsity_figure(
    metrics: pd.DataFrame,
    params: pd.DataFrame,
    split: str,
    metrics_list: Sequence[str],
) -> Figure:
    """Effectiveness against encoder sparsity (%), one curve per pruning schedule.

    Every pruned model of a schedule (matched and sweep) sits at its measured encoder sparsity,
    starting from the full model at 0%. Layer-drop models are drawn as open circles at the
    sparsity of their matched pruned models (same non-zero count), so the reader sees which
    sparsity each layer count corresponds to. Distilled students (``-kd``) are left out: they
    sit at their partners' sparsity, and the effectiveness figure compares them.
    """
    values = _values(metrics, split)
    spread, _ = split_spread(metrics, split)
    sparsity = _params_column(params, PARAMS.encoder_sparsity)
    target = _params_column(params, PARAMS.target_sparsity)
    fig = Figure(figsize=(3.4 * len(metrics_list), 3.4), layout="constrained")
    axes = fig.subplots(1, len(metrics_list), squeeze=False)[0]
    for ax, metric in zip(axes, metrics_list, strict=True):
        full_y = _value(values, FULL, metric)
        drawn = False
        for schedule in [*SCHEDULES, "other"]:
            bars = [
                (100 * sparsity[run], y, _spread(spread, run, metric))
                for run in values.index
                if method(run) == schedule
                and not (parse_run(run).is_precision_row or parse_run(run).distill)
                and run in sparsity
                and (y := _value(values, run, metric)) is not None
            ]
            if not bars:
                continue
            points = [(x, y) for x, y, _ in bars]
            if full_y is not None:
                points.append((0.0, full_y))
            _series(ax, points, schedule, linewidth=1.2, markersize=5)
            _error_bars(ax, bars, schedule)
            drawn = True
        drop_points = []
        for run in values.index:
            info = parse_run(run)
            y = _value(values, run, metric)
            if info.kind != "drop" or info.is_precision_row or info.distill or y is None:
                continue
            partners = [matched_name(s, info.matched_layers) for s in SCHEDULES]
            matched = [target[name] for name in partners if name in target]
            if matched:
                drop_points.append((100 * matched[0], y, info.matched_layers))
        if drop_points:
            colour, marker, label = STYLES["drop"]
            ax.plot(
                [x for x, _, _ in drop_points],
                [y for _, y, _ in drop_points],
                linestyle="none",
                marker=marker,
                markerfacecolor="none",
                markeredgecolor=colour,
                markersize=7,
                label=f"{label} (at matched sparsity)",
            )
            for x, y, layers in drop_points:
                ax.annotate(
                    f"{layers}L", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7
                )
            drawn = True
        _references(ax, values, metric)
        if not drawn and full_y is None:
            _no_data(ax)
        ax.set_xlabel("encoder sparsity (%)")
        ax.set_ylabel(metric_label(metric))
        ax.set_title(metric_label(metric), fontsize="medium")
        ax.set_xlim(-3, 100)
        ax.grid(alpha=0.3)
    _legend(fig, axes)
    return fig


def plot_sparsity_sweep(
    metrics: pd.DataFrame,
    params: pd.DataFrame,
    out_stem: Path,
    split: str,
    metrics_list: Sequence[str],
) -> list[Path]:
    """Write :func:`sparsity_figure` as ``out_stem``.pdf/.png; returns the two paths."""
    return save(sparsity_figure(metrics, params, split, metrics_list), out_stem)


# ----------------------------------------------------------------------------- speed
def speed_figure(
    metrics: pd.DataFrame,
    efficiency: pd.DataFrame | None,
    split: str,
    metric: str,
) -> Figure:
    """Effectiveness against measured throughput relative to the full model.

    Layer dropping buys speed and unstructured sparsity, with dense kernels, does not; this is
    the figure that shows it. Each variant is one labelled point (int8 versions hollow), with
    its standard deviation over seeds as an error bar. Without measurements the figure says so
    instead of failing, so the paper still builds.
    """
    values = _values(metrics, split)
    spread, _ = split_spread(metrics, split)
    ratio_column = EFFICIENCY.pairs_per_s_ratio
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.set_xlabel("throughput relative to the full model (×)")
    ax.set_ylabel(metric_label(metric))
    ax.grid(alpha=0.3)
    if efficiency is None or efficiency.empty or ratio_column not in efficiency.columns:
        _no_data(ax, "throughput was not measured in this build")
        return fig
    seen: set[str] = set()
    labels: list[tuple[float, float, str]] = []
    any_int8 = False
    runs, ratios = efficiency[EFFICIENCY.model], efficiency[ratio_column]
    for run, ratio in zip(runs, ratios, strict=True):
        y = _value(values, run, metric)
        if y is None or pd.isna(ratio):
            continue
        key = method(run)
        colour, marker, label = STYLES[key]
        hollow = parse_run(run).int8
        any_int8 |= hollow
        ax.plot(
            [ratio],
            [y],
            linestyle="none",
            marker=marker,
            color=colour,
            markerfacecolor="none" if hollow else colour,
            markersize=9 if key == "full" else 6,
        )
        _error_bars(ax, [(ratio, y, _spread(spread, run, metric))], key)
        seen.add(key)
        labels.append((ratio, y, run))
    # Legend entries are proxies in a fixed order, solid whatever point came first.
    for key in (k for k in STYLES if k in seen):
        colour, marker, label = STYLES[key]
        ax.plot([], [], linestyle="none", marker=marker, color=colour, label=label)
    ax.margins(x=0.15)  # room for the labels of the outermost points
    if any_int8:
        ax.plot([], [], linestyle="none", marker="o", color="0.3", markerfacecolor="none",
                label="int8 (hollow)")  # fmt: skip
    if not seen:
        _no_data(ax)
    ax.margins(y=0.12)
    return _finish_speed_axes(fig, ax, values, metric, labels)


def plot_speed(
    metrics: pd.DataFrame,
    efficiency: pd.DataFrame | None,
    out_stem: Path,
    split: str,
    metric: str,
) -> list[Path]:
    """Write :func:`speed_figure` as ``out_stem``.pdf/.png; returns the two paths."""
    return save(speed_figure(metrics, efficiency, split, metric), out_stem)


# ----------------------------------------------------------------------------- per query
def per_query_figure(
    scores: Mapping[str, float],
    baseline: Mapping[str, float],
    label: str,
    metric: str,
    baseline_label: str = "full",
) -> Figure:
    """Per-query ``scores - baseline`` as bars sorted from largest gain to largest loss.

    The title counts wins, ties and losses (:func:`slimrank.tables.win_tie_loss`): a mean can
    hide that a compressed model loses a few queries badly while tying most.
    """
    qids = sorted(set(scores) | set(baseline))
    diffs = sorted(
        ((scores.get(q, 0.0) - baseline.get(q, 0.0), q) for q in qids), key=lambda t: (-t[0], t[1])
    )
    wins, ties, losses = win_tie_loss(scores, baseline)
    fig = Figure(figsize=(6.0, 3.2), layout="constrained")
    ax = fig.subplots()
    heights = [d for d, _ in diffs]
    colours = [WIN if d > 1e-9 else LOSS if d < -1e-9 else TIE for d in heights]
    ax.bar(range(len(heights)), heights, color=colours, width=0.8)
    tied = [i for i, c in enumerate(colours) if c == TIE]
    ax.plot(tied, [0.0] * len(tied), linestyle="none", marker="o", markersize=3, color=TIE)
    ax.axhline(0, color="0.2", linewidth=0.8)
    ax.set_xlim(-0.8, max(len(heights), 1) - 0.2)
    ax.set_xticks([])
    ax.set_xlabel(f"queries ({len(heights)}), sorted by difference")
    ax.set_ylabel(f"Δ {metric_label(metric)} ({label} − {baseline_label})")
    ax.set_title(
        f"{label} vs {baseline_label}: {wins} wins, {ties} ties, {losses} losses",
        fontsize="medium",
    )
    if not heights:
        _no_data(ax)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        handles=[
            Line2D([], [], color=c, linewidth=6, label=t)
            for c, t in ((WIN, "win"), (TIE, "tie"), (LOSS, "loss"))
        ],
        loc="upper right",
        frameon=False,
        fontsize="small",
    )
    return fig


def plot_per_query(
    scores: Mapping[str, float],
    baseline: Mapping[str, float],
    out_stem: Path,
    label: str,
    metric: str,
    baseline_label: str = "full",
) -> list[Path]:
    """Write :func:`per_query_figure` as ``out_stem``.pdf/.png; returns the two paths."""
    return save(per_query_figure(scores, baseline, label, metric, baseline_label), out_stem)


# ----------------------------------------------------------------------------- Pareto
def pareto_frontier(points: Sequence[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The points ``(speed, effectiveness, name)`` no other point dominates (at least as fast
    and at least as effective, better in one), fastest first.

    Ties: of two identical points the first given is kept. NaN coordinates are left out.
    """
    valid = [p for p in points if p[0] == p[0] and p[1] == p[1]]
    # Fastest first; at equal speed the more effective first, so it shadows the others.
    ordered = sorted(enumerate(valid), key=lambda t: (-t[1][0], -t[1][1], t[0]))
    frontier: list[tuple[float, float, str]] = []
    for _, point in ordered:
        if not frontier or point[1] > frontier[-1][1]:
            frontier.append(point)
    return frontier


#: Marker fill per precision row: plain runs (the config's precision) and fp32 solid, bf16
#: half-filled, int8 hollow, the peer a cross.
_PRECISION_FILL = {None: "full", "fp32": "full", "bf16": "bottom", "int8": "none"}


def pareto_figure(
    metrics: pd.DataFrame,
    efficiency: pd.DataFrame | None,
    split: str,
    metric: str,
    seed: int | None = None,
) -> Figure:
    """``metric`` against measured speed (throughput over the fp32 full model's, same job) for
    every model x precision row of the efficiency table, with the Pareto frontier drawn.

    Effectiveness is ``seed``'s run of each model (the seed whose models were timed; the mean
    over seeds where None), as in the deployment table. The peer row (sentence-transformers)
    is timed but not reranked: it takes its model's effectiveness
    (:func:`slimrank.tables.scored_run`; its scores agree with the project's fp32 ones, the
    benchmark checks). Without measurements the figure says so instead of failing.
    """
    values = seed_values(metrics, split, seed)
    ratio_column = EFFICIENCY.pairs_per_s_ratio
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.set_xlabel("throughput relative to the fp32 full model (×)")
    ax.set_ylabel(metric_label(metric))
    ax.grid(alpha=0.3)
    if efficiency is None or efficiency.empty or ratio_column not in efficiency.columns:
        _no_data(ax, "throughput was not measured in this build")
        return fig
    points: list[tuple[float, float, str]] = []
    for run, ratio in zip(efficiency[EFFICIENCY.model], efficiency[ratio_column], strict=True):
        info = parse_run(run)
        y = _value(values, scored_run(run, values.index), metric)
        if y is None or pd.isna(ratio):
            continue
        colour, marker, _ = STYLES[method(info.base)]
        if info.peer:
            ax.plot([ratio], [y], linestyle="none", marker="x", color=colour, markersize=8)
        else:
            ax.plot(
                [ratio],
                [y],
                linestyle="none",
                marker=marker,
                color=colour,
                fillstyle=_PRECISION_FILL.get(info.precision, "full"),
                markersize=7,
            )
        points.append((float(ratio), float(y), run))
    if not points:
        _no_data(ax)
        return fig
    frontier = pareto_frontier(points)
    ax.step(
        [p[0] for p in frontier],
        [p[1] for p in frontier],
        where="post",
        color="0.3",
        linewidth=1.0,
        linestyle="--",
        label="Pareto frontier",
    )
    for fill, label in (("full", "plain / fp32"), ("bottom", "bf16"), ("none", "int8")):
        ax.plot([], [], linestyle="none", marker="o", color="0.3", fillstyle=fill, label=label)
    if any(parse_run(p[2]).peer for p in points):
        ax.plot([], [], linestyle="none", marker="x", color="0.3", label="sentence-transformers")
    ax.margins(x=0.15, y=0.12)
    return _finish_speed_axes(fig, ax, values, metric, frontier)


def plot_pareto(
    metrics: pd.DataFrame,
    efficiency: pd.DataFrame | None,
    out_stem: Path,
    split: str,
    metric: str,
    seed: int | None = None,
) -> list[Path]:
    """Write :func:`pareto_figure` as ``out_stem``.pdf/.png; returns the two paths."""
    return save(pareto_figure(metrics, efficiency, split, metric, seed), out_stem)
