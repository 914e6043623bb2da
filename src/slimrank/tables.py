"""The paper's main table (one per test split) and its LaTeX and Markdown writers.

Inputs are the frames the workflow writes, in the vocabulary of :mod:`slimrank.study`
(:data:`~slimrank.study.METRICS`, :data:`~slimrank.study.SIGNIFICANCE`,
:data:`~slimrank.study.PARAMS`, :data:`~slimrank.study.EFFICIENCY`), never paths.

Values are rounded once, to what the table shows (3 decimals), and every derived quantity
(bold, differences, wins) is computed from those rounded values, so the text can never quote a
difference that disagrees with the table by a unit in the last place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import pandas as pd

from slimrank.study import (
    BM25,
    DEPLOYMENT,
    EFFICIENCY,
    FULL,
    METRICS,
    PARAMS,
    SCHEDULES,
    SIGNIFICANCE,
    STRUCTURED,
    best_compressed,
    drop_name,
    family_of,
    parse_run,
    precision_name,
)

#: Significance level applied to Holm-corrected p-values.
ALPHA = 0.05
#: Marks (plain Unicode in the frames and Markdown; translated for LaTeX).
MARK_FULL = "†"
MARK_BM25 = "‡"
UP = "↑"
DOWN = "↓"
_LATEX_MARKS = {MARK_FULL: r"\dagger", MARK_BM25: r"\ddagger", UP: r"\uparrow", DOWN: r"\downarrow"}

#: Column headers for metrics; unknown metrics are shown by their ranx name.
METRIC_LABELS = {
    "ndcg@10": "nDCG@10",
    "mrr@10": "MRR@10",
    "recall@100": "R@100",
    "recall@1000": "R@1000",
    "map@1000": "MAP@1000",
}
#: Non-metric columns of :func:`main_table`.
INFO_COLUMNS = ("run", "family", "schedule", "layers", "params (M)", "non-zeros (M)", "sparsity %")
SD_SUFFIX = " sd"
MARKS_SUFFIX = " marks"
DECIMALS = 3


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


# ----------------------------------------------------------------------------- params lookup
def params_index(params: pd.DataFrame | None) -> pd.DataFrame:
    """The params frame indexed by variant name (empty, with the read columns, when absent)."""
    if params is None or params.empty:
        columns = [PARAMS.family, PARAMS.schedule, PARAMS.layers, PARAMS.nonzero]
        return pd.DataFrame(columns=columns)
    return params.drop_duplicates(PARAMS.name).set_index(PARAMS.name)


def param(params: pd.DataFrame, run: str, column: str) -> float:
    """A value of :func:`params_index` for ``run`` (an int8 run shares its base's counts), NaN
    when unknown."""
    base = parse_run(run).base
    for name in (run, base):
        if name in params.index and column in params.columns:
            value = params.at[name, column]
            return float("nan") if pd.isna(value) else value
    return float("nan")


def order_runs(runs: Iterable[str], params: pd.DataFrame | None) -> list[str]:
    """Table order: BM25, other first-stage runs, full, then compressed by non-zeros descending.

    A matched pruned model is sorted by the non-zero count of the layer-drop model it matches,
    so ``drop-L3`` and every ``*-match-L3`` stay together (their measured non-zeros can differ
    by a few incidental zeros); within a group: layer drop first, then the schedules in
    :data:`~slimrank.study.SCHEDULES` order, then structured pruning, each followed by its
    distilled student (``-kd``) and its int8 version. Unknown runs
    come last.
    """
    index = params_index(params)
    schedule_rank = {s: i for i, s in enumerate(SCHEDULES)}

    def nonzeros(run: str) -> float:
        return float(param(index, run, PARAMS.nonzero))

    def key(run: str) -> tuple[int, float, int, int, int, str]:
        info = parse_run(run)
        if info.kind == "first-stage":
            return (0, 0.0 if run == BM25 else 1.0, 0, 0, 0, run)
        if info.kind == "full":
            return (1, 0.0, 0, 0, int(info.int8), run)
        if info.kind in ("drop", "prune", STRUCTURED):
            group = float("nan")
            if info.matched_layers is not None:
                group = nonzeros(drop_name(info.matched_layers))
            if math.isnan(group):
                group = nonzeros(run)
            rank = math.inf if math.isnan(group) else -group
            family = {"drop": 0, "prune": 1, STRUCTURED: 2}[info.kind]
            sched = schedule_rank.get(info.schedule, len(SCHEDULES))
            sweep = 1 if info.sweep_pct is not None or info.ffn_pct is not None else 0
            return (2, rank, family * 10 + sweep, sched * 2 + int(info.int8), info.distill, run)
        return (3, 0.0, 0, 0, 0, run)

    return sorted(runs, key=key)


# ----------------------------------------------------------------------------- main table
def seed_values(metrics: pd.DataFrame, split: str, seed: int | None) -> pd.DataFrame:
    """run x metric values of ``split`` for one training seed: that seed's run of every model
    and the runs without a seed (BM25, reference runs); every seed's mean where ``seed`` is
    None. The efficiency stage times seeds[0]'s models, so their rows quote that seed."""
    frame = metrics[metrics[METRICS.split] == split]
    if seed is not None and METRICS.seed in frame.columns:
        seeds = pd.to_numeric(frame[METRICS.seed], errors="coerce")
        frame = frame[seeds.isna() | (seeds == seed)]
    return frame.pivot_table(
        index=METRICS.run, columns=METRICS.metric, values=METRICS.value, aggfunc="mean"
    )


def split_values(metrics: pd.DataFrame, split: str) -> pd.DataFrame:
    """run x metric values of one split, the mean over a run's seeds (raises if the split is
    absent)."""
    if not (metrics[METRICS.split] == split).any():
        raise ValueError(f"no metrics for split {split!r}")
    return seed_values(metrics, split, None)


def split_spread(metrics: pd.DataFrame, split: str) -> tuple[pd.DataFrame, pd.Series]:
    """run x metric standard deviation over seeds (ddof 1; NaN for one seed) of one split,
    and each run's number of seeds (1 for runs without a seed)."""
    frame = metrics[metrics[METRICS.split] == split]
    sd = frame.pivot_table(
        index=METRICS.run,
        columns=METRICS.metric,
        values=METRICS.value,
        aggfunc=lambda v: v.std(ddof=1) if len(v) > 1 else float("nan"),
        dropna=False,
    )
    if METRICS.seed not in frame:
        return sd, pd.Series(1, index=sd.index)
    seeds = frame.groupby(METRICS.run)[METRICS.seed].nunique().clip(lower=1)
    return sd, seeds


def p_holm_values(
    significance: pd.DataFrame | None, split: str
) -> dict[tuple[str, str, str], float]:
    """(run, baseline, metric) -> Holm-corrected p-value for one split."""
    if significance is None or significance.empty:
        return {}
    frame = significance[significance[SIGNIFICANCE.split] == split]
    columns = (SIGNIFICANCE.run, SIGNIFICANCE.baseline, SIGNIFICANCE.metric, SIGNIFICANCE.p_holm)
    return {(r, b, m): float(p) for r, b, m, p in zip(*(frame[c] for c in columns), strict=True)}


def value_direction(value: float, reference: float) -> str:
    """Arrow of a significant difference, judged on the rounded values the table shows."""
    a, b = round(value, DECIMALS), round(reference, DECIMALS)
    return UP if a > b else DOWN if a < b else ""


def significance_marks(
    run: str,
    metric: str,
    values: pd.DataFrame,
    p_holm: Mapping[tuple[str, str, str], float],
    alpha: float = ALPHA,
) -> str:
    """``†`` (vs full) and ``‡`` (vs BM25), each followed by the direction of the difference.

    Only significant differences are marked (Holm-corrected p < ``alpha``); a run is never
    marked against itself, and a baseline without a value in ``values`` gives no mark.
    """
    marks = ""
    for baseline, symbol in ((FULL, MARK_FULL), (BM25, MARK_BM25)):
        p = p_holm.get((run, baseline, metric))
        if run == baseline or p is None or not p < alpha or baseline not in values.index:
            continue
        marks += symbol + value_direction(values.at[run, metric], values.at[baseline, metric])
    return marks


def main_table(
    metrics: pd.DataFrame,
    significance: pd.DataFrame | None,
    params: pd.DataFrame | None,
    split: str,
    metrics_list: Sequence[str],
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """One row per run of ``split`` (order: :func:`order_runs`) with sizes, metrics and marks.

    Columns: run, family, schedule, layers, ``params (M)``, ``non-zeros (M)``, ``sparsity %``
    (encoder Linear weights that are zero), ``seeds`` (training seeds of the run; 1 for runs
    without one), then per metric its value (the mean over seeds), ``"<metric> sd"`` (the
    standard deviation over seeds, ddof 1; NaN for one seed) and ``"<metric> marks"`` (see
    :func:`significance_marks`). First-stage runs get family ``bm25`` and no sizes.
    """
    values = split_values(metrics, split)
    missing = [m for m in metrics_list if m not in values.columns]
    if missing:
        raise ValueError(f"metrics {missing} are not in the metrics of split {split!r}")
    index = params_index(params)
    sparsity = PARAMS.encoder_sparsity
    if sparsity in index.columns and (index[sparsity].dropna() > 1).any():
        raise ValueError("params.encoder_sparsity must be a fraction in [0, 1]")
    p_holm = p_holm_values(significance, split)
    sd, seeds = split_spread(metrics, split)
    rows = []
    for run in order_runs(values.index, params):
        info = parse_run(run)
        if info.kind == "first-stage":
            family, schedule = BM25, "none"
        else:
            family = param(index, run, PARAMS.family)
            family = family if isinstance(family, str) else family_of(run)
            schedule = param(index, run, PARAMS.schedule)
            schedule = schedule if isinstance(schedule, str) else info.schedule
        row = {
            "run": run,
            "family": family,
            "schedule": schedule,
            "layers": param(index, run, PARAMS.layers),
            "params (M)": param(index, run, PARAMS.total) / 1e6,
            "non-zeros (M)": param(index, run, PARAMS.nonzero) / 1e6,
            "sparsity %": param(index, run, PARAMS.encoder_sparsity) * 100,
            "seeds": int(seeds.get(run, 1)),
        }
        for metric in metrics_list:
            value = values.at[run, metric]
            row[metric] = float(value) if pd.notna(value) else float("nan")
            spread = sd.at[run, metric] if run in sd.index and metric in sd.columns else None
            row[metric + SD_SUFFIX] = float(spread) if pd.notna(spread) else float("nan")
            row[metric + MARKS_SUFFIX] = significance_marks(run, metric, values, p_holm, alpha)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["layers"] = table["layers"].astype("Int64")
    return table


def table_metrics(table: pd.DataFrame) -> list[str]:
    """The metric columns of a :func:`main_table` frame (those with a marks column)."""
    return [c for c in table.columns if c + MARKS_SUFFIX in table.columns]


def best_rows(table: pd.DataFrame, metric: str) -> set[int]:
    """Row positions holding the best (highest) rounded value among the neural rerankers.

    First-stage rows (family ``bm25``) are never candidates: bold answers "which reranker is
    best", and BM25 is the floor every reranker starts from. Ties after rounding are all bold.
    """
    eligible = table["family"] != BM25
    rounded = table[metric].round(DECIMALS)
    candidates = rounded[eligible].dropna()
    if candidates.empty:
        return set()
    best = candidates.max()
    return {i for i, (ok, v) in enumerate(zip(eligible, rounded, strict=True)) if ok and v == best}


# ----------------------------------------------------------------------------- writers
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape the characters LaTeX treats specially in running text."""
    return "".join(_LATEX_SPECIALS.get(c, c) for c in str(text))


def _fmt(value: float, decimals: int, missing: str) -> str:
    return missing if pd.isna(value) else f"{value:.{decimals}f}"


def _groups(table: pd.DataFrame) -> list[str]:
    """Row group for rules between blocks: first stage | full | compressed."""
    return [
        "first" if f == BM25 else "full" if r == FULL else "compressed"
        for f, r in zip(table["family"], table["run"], strict=True)
    ]


def to_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs ``table`` for :func:`main_table` output.

    ``caption`` is LaTeX source (not escaped, so it may hold math); run names are escaped and
    set in ``\\texttt``. Metrics have 3 decimals, the best reranker value per column is bold
    (:func:`best_rows`), marks are superscripts; params and non-zeros in millions with 1
    decimal; sparsity in percent with 1 decimal; ``--`` where a value does not apply. Midrules
    separate first-stage runs, the full model and the compressed variants. The tabular is
    scaled down to ``\\linewidth`` only if wider, which needs ``graphicx`` in the document.
    """
    metrics = table_metrics(table)
    bold = {m: best_rows(table, m) for m in metrics}
    header = ["Run", "Layers", "Params (M)", "Non-zeros (M)", "Sparsity (\\%)"]
    header += [latex_escape(metric_label(m)) for m in metrics]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\setlength{\tabcolsep}{4pt}",
        rf"\caption{{{caption}}}",
        rf"\label{{{label}}}",
        # Shrink to the text width only when wider (needs graphicx): any number of metrics fits.
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        r"\begin{tabular}{l" + "r" * 4 + "l" * len(metrics) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    groups = _groups(table)
    for i, row in enumerate(table.itertuples(index=False)):
        row = dict(zip(table.columns, row, strict=True))
        if i > 0 and groups[i] != groups[i - 1]:
            lines.append(r"\midrule")
        cells = _row_cells(
            row,
            metrics,
            {m: i in bold[m] for m in metrics},
            missing="--",
            run=lambda run: rf"\texttt{{{latex_escape(run)}}}",
            emphasize=lambda cell: rf"\textbf{{{cell}}}",
            plus_minus=r"$\pm$",
            marks=lambda marks: (
                "$^{" + "".join(_LATEX_MARKS[c] for c in marks) + "}$" if marks else ""
            ),
        )
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(lines)


def _row_cells(
    row: dict,
    metrics: Sequence[str],
    bold: Mapping[str, bool],
    *,
    missing: str,
    run: Callable[[str], str],
    emphasize: Callable[[str], str],
    plus_minus: str,
    marks: Callable[[str], str],
) -> list[str]:
    """One main-table row as cells, in the markup the three callables give (LaTeX, Markdown)."""
    cells = [
        run(row["run"]),
        missing if pd.isna(row["layers"]) else str(int(row["layers"])),
        _fmt(row["params (M)"], 1, missing),
        _fmt(row["non-zeros (M)"], 1, missing),
        _fmt(row["sparsity %"], 1, missing),
    ]
    for m in metrics:
        cell = _fmt(row[m], DECIMALS, missing)
        cell = emphasize(cell) if bold[m] else cell
        # Mean ± sd over seeds where a run has several; a plain value for one seed.
        if pd.notna(row.get(m + SD_SUFFIX, float("nan"))):
            cell += f" {plus_minus} {_fmt(row[m + SD_SUFFIX], DECIMALS, missing)}"
        cells.append(cell + marks(row[m + MARKS_SUFFIX]))
    return cells


def to_markdown(table: pd.DataFrame) -> str:
    """GitHub Markdown for :func:`main_table` output: same content and bold rule as LaTeX."""
    metrics = table_metrics(table)
    bold = {m: best_rows(table, m) for m in metrics}
    header = ["Run", "Layers", "Params (M)", "Non-zeros (M)", "Sparsity (%)"]
    header += [metric_label(m) for m in metrics]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for i, row in enumerate(table.itertuples(index=False)):
        row = dict(zip(table.columns, row, strict=True))
        cells = _row_cells(
            row,
            metrics,
            {m: i in bold[m] for m in metrics},
            missing="–",
            run=lambda run: str(run).replace("|", r"\|"),
            emphasize=lambda cell: f"**{cell}**",
            plus_minus="±",
            marks=lambda marks: marks,
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main_table_caption(table: pd.DataFrame, split: str, queries: int, alpha: float = ALPHA) -> str:
    """The LaTeX caption that explains the table's columns, bold and marks.

    Lives here, beside the writer, so the explanation cannot drift from what the writer does.
    """
    text = (
        f"Effectiveness on \\texttt{{{latex_escape(split)}}} ({queries} queries). "
        "Params counts every parameter (embeddings included); non-zeros counts the parameters "
        "that are not exactly zero; sparsity is the share of zero weights among the encoder's "
        "Linear weight matrices. Bold: best value in the column among the neural rerankers "
        "(full model and compressed variants; first-stage runs are not candidates). "
        "$^{\\dagger}$: significantly different from the full model, "
        "$^{\\ddagger}$: significantly different from BM25 (two-sided paired t-test, "
        f"Holm-corrected $p<{alpha:g}$), each followed by the direction of the difference "
        "($\\uparrow$ higher, $\\downarrow$ lower); no mark means no significant difference."
    )
    seeds = table["seeds"] if "seeds" in table else pd.Series([1])
    if seeds.max() > 1:
        counts = sorted(set(seeds[seeds > 1]))
        text += (
            f" Models trained with {' or '.join(map(str, counts))} seeds show the mean "
            "$\\pm$ standard deviation over seeds (the others one seed); their tests use the "
            "per-query scores averaged over seeds."
        )
    if any(r != BM25 and f == BM25 for r, f in zip(table["run"], table["family"], strict=True)):
        text += (
            " \\texttt{bm25-fullcollection} is the published BM25 run over the full "
            "MS~MARCO collection, evaluated as a check of the evaluation code; it is not "
            "comparable with runs over the subset."
        )
    return text


def split_table_label(index: int) -> str:
    """LaTeX label of the main table of the ``index``-th (1-based) test split, where it is not
    the paper's split (whose table is ``tab:main``)."""
    return f"tab:split-{index}"


def split_tables(
    metrics: pd.DataFrame,
    significance: pd.DataFrame | None,
    params: pd.DataFrame | None,
    test_splits: Sequence[str],
    main_split: str,
    metrics_list: Sequence[str],
    alpha: float = ALPHA,
) -> str:
    """LaTeX main tables of every test split but ``main_split`` (labels
    :func:`split_table_label`), so the paper reports every test split; a comment when none."""
    parts = ["% Generated by slimrank.tables.split_tables: the test splits besides the main one."]
    for i, split in enumerate(test_splits, 1):
        if split == main_split:
            continue
        table = main_table(metrics, significance, params, split, metrics_list, alpha)
        queries = int(metrics.loc[metrics[METRICS.split] == split, METRICS.queries].max())
        caption = main_table_caption(table, split, queries, alpha)
        parts.append(to_latex(table, caption, split_table_label(i)))
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- deployment
#: Decimals of the deployment table's speed and FLOPs ratios, loss and overlap.
RATIO_DECIMALS = 2
LOSS_DECIMALS = 1


def fp32_full_run(runs: Iterable[str]) -> str:
    """The run of the full model in fp32: ``full-fp32`` where the study has that precision row,
    else ``full`` (scored in the config's precision, fp32 where it resolves so)."""
    fp32 = precision_name(FULL, "fp32")
    return fp32 if fp32 in set(runs) else FULL


def scored_run(run: str, runs: Iterable[str]) -> str:
    """The run whose effectiveness an efficiency row has: its own, but for the peer row
    (timed, not reranked), whose scores are its model's in fp32 (the benchmark checks they
    agree): ``<model>-fp32`` where reranked, else the plain model."""
    info = parse_run(run)
    if not info.peer:
        return run
    fp32 = precision_name(info.base, "fp32")
    return fp32 if fp32 in set(runs) else info.base


def deployment_table(
    metrics: pd.DataFrame,
    efficiency: pd.DataFrame,
    split: str,
    metric: str,
    *,
    seed: int | None,
    target_speedup: float,
    max_loss_pct: float,
) -> pd.DataFrame:
    """Every timed model x precision (a row of ``efficiency``) against the deployment target,
    fastest first, in the columns of :data:`slimrank.study.DEPLOYMENT`.

    ``speedup`` is the row's throughput over the fp32 full model's in the same job,
    ``flops_ratio`` the full model's dense FLOPs per pair over the row's (what a smaller
    dense model should buy; 1 for unstructured zeros and for other precisions), ``value`` the
    ``metric`` on ``split`` of ``seed``'s run (the timed models), ``loss_pct`` its relative
    loss to the fp32 full model's (:func:`fp32_full_run`), both from values rounded as the
    tables show them. A row meets the target at ``speedup >= target_speedup`` and
    ``loss_pct <= max_loss_pct`` (rounded as shown).
    """
    values = seed_values(metrics, split, seed)
    if metric not in values.columns:
        raise ValueError(f"metric {metric!r} is not in the metrics of split {split!r}")
    runs = list(values.index)
    reference_run = fp32_full_run(runs)
    if reference_run not in values.index:
        raise ValueError(f"split {split!r} has no run of the full model")
    reference = round(float(values.at[reference_run, metric]), DECIMALS)
    rows = efficiency.drop_duplicates(EFFICIENCY.model).set_index(EFFICIENCY.model)
    flops = rows.get(EFFICIENCY.flops_per_pair, pd.Series(dtype=float))
    full_flops = flops.get(FULL, float("nan"))
    overlaps = rows.get(EFFICIENCY.top10_overlap, pd.Series(dtype=float))
    table = []
    for run in rows.index:
        info = parse_run(run)
        scored = scored_run(run, runs)
        value = values.at[scored, metric] if scored in values.index else float("nan")
        value = round(float(value), DECIMALS) if pd.notna(value) else float("nan")
        row_flops = flops.get(run, float("nan"))
        if pd.isna(row_flops):  # the peer: its model's count
            row_flops = flops.get(info.base, float("nan"))
        speedup = round(float(rows.at[run, EFFICIENCY.pairs_per_s_ratio]), RATIO_DECIMALS)
        loss = round(100 * (reference - value) / reference, LOSS_DECIMALS)
        overlap = overlaps.get(run, float("nan"))
        table.append(
            {
                DEPLOYMENT.run: run,
                # a precision row's own (int8 activations run in fp32: the column says fp32)
                DEPLOYMENT.precision: info.precision or rows.at[run, EFFICIENCY.precision],
                DEPLOYMENT.speedup: speedup,
                DEPLOYMENT.flops_ratio: round(float(full_flops / row_flops), RATIO_DECIMALS),
                DEPLOYMENT.value: value,
                DEPLOYMENT.loss_pct: loss,
                DEPLOYMENT.top10_overlap: float(overlap) if pd.notna(overlap) else float("nan"),
                DEPLOYMENT.meets_target: bool(
                    speedup >= target_speedup and pd.notna(loss) and loss <= max_loss_pct
                ),
            }
        )
    frame = pd.DataFrame(table, columns=list(DEPLOYMENT))
    return frame.sort_values(DEPLOYMENT.speedup, ascending=False, kind="stable").reset_index(
        drop=True
    )


def deployment_caption(
    table: pd.DataFrame,
    metric: str,
    split: str,
    *,
    seed: int | None,
    reference_run: str,
    target_speedup: float,
    max_loss_pct: float,
) -> str:
    """LaTeX caption of :func:`deployment_latex`: what the columns are and the target."""
    seed_text = f" (seed {seed}'s models, the ones timed)" if seed is not None else ""
    met = int(table[DEPLOYMENT.meets_target].sum())
    verdict = (
        f"{met} row{'s' if met != 1 else ''} meet{'s' if met == 1 else ''} it (bold)"
        if met
        else "no row meets it"
    )
    return (
        f"Every timed model and precision, fastest first: throughput relative to the fp32 full "
        f"model timed in the same job, the full model's FLOPs per pair over the row's, "
        f"{latex_escape(metric_label(metric))} on \\texttt{{{latex_escape(split)}}}{seed_text}, "
        f"its loss relative to \\texttt{{{latex_escape(reference_run)}}}, and the top-10 "
        f"overlap with the row's model in fp32 (or its plain run). The target: at least "
        f"{target_speedup:g}$\\times$ the throughput with at most {max_loss_pct:g}\\% loss; "
        f"{verdict}. The sentence-transformers row (\\texttt{{-st}}) is timed, not reranked: "
        f"its effectiveness is its model's."
    )


def _deployment_cells(row: Mapping, missing: str) -> list[str]:
    return [
        str(row[DEPLOYMENT.precision]),
        _fmt(row[DEPLOYMENT.speedup], RATIO_DECIMALS, missing),
        _fmt(row[DEPLOYMENT.flops_ratio], RATIO_DECIMALS, missing),
        _fmt(row[DEPLOYMENT.value], DECIMALS, missing),
        _fmt(row[DEPLOYMENT.loss_pct], LOSS_DECIMALS, missing),
        _fmt(row[DEPLOYMENT.top10_overlap], RATIO_DECIMALS, missing),
    ]


def deployment_latex(
    table: pd.DataFrame, caption: str, metric: str, label: str = "tab:deployment"
) -> str:
    """A booktabs ``table`` of :func:`deployment_table` (its ``metric`` in the value column);
    rows that meet the target in bold."""
    header = ["Run", "Precision", r"Speed ($\times$)", r"FLOPs ($\times$)"]
    header += [latex_escape(metric_label(metric)), r"Loss (\%)", "Top-10 overlap"]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption}}}",
        rf"\label{{{label}}}",
        r"\begin{tabular}{llrrrrr}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for row in table.to_dict("records"):
        cells = [rf"\texttt{{{latex_escape(row[DEPLOYMENT.run])}}}"]
        cells += _deployment_cells(row, "--")
        if row[DEPLOYMENT.meets_target]:
            cells = [rf"\textbf{{{cell}}}" for cell in cells]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def deployment_markdown(table: pd.DataFrame, metric: str) -> str:
    """GitHub Markdown of :func:`deployment_table`: same content, target rows in bold."""
    header = ["Run", "Precision", "Speed (×)", "FLOPs (×)", metric_label(metric)]
    header += ["Loss (%)", "Top-10 overlap"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---", ":---"] + ["---:"] * (len(header) - 2)) + "|",
    ]
    for row in table.to_dict("records"):
        cells = [str(row[DEPLOYMENT.run]), *_deployment_cells(row, "–")]
        if row[DEPLOYMENT.meets_target]:
            cells = [f"**{cell}**" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- comparisons
def best_compressed_run(metrics: pd.DataFrame, split: str, metric: str) -> str | None:
    """The compressed run with the highest rounded ``metric`` on ``split`` (ties: by name).

    The per-query figure compares this run with the full model; the same choice is exported
    as a macro so text, figure and table agree.
    """
    values = split_values(metrics, split)
    if metric not in values.columns:
        return None
    return best_compressed(values[metric].to_dict(), DECIMALS)


def win_tie_loss(
    scores: Mapping[str, float], baseline: Mapping[str, float], tol: float = 1e-9
) -> tuple[int, int, int]:
    """Queries where ``scores`` beats, ties (within ``tol``) or loses to ``baseline``.

    A query missing from one side scores 0 there, as in the evaluation (ranx counts a query a
    run misses as zero).
    """
    wins = ties = losses = 0
    for qid in set(scores) | set(baseline):
        diff = scores.get(qid, 0.0) - baseline.get(qid, 0.0)
        if diff > tol:
            wins += 1
        elif diff < -tol:
            losses += 1
        else:
            ties += 1
    return wins, ties, losses


def per_query_comparison(
    qrels: Mapping[str, Mapping[str, int]],
    runs: Mapping[str, Mapping[str, Mapping[str, float]]],
    best: str | None,
    relevance_level: int,
    metric: str,
) -> tuple[dict[str, float], dict[str, float], str]:
    """Per-query ``metric`` of ``best`` (:func:`best_compressed_run`) and of the full model, and
    the label of the compared run: what the per-query figure plots.

    ``runs`` holds (at least) the two compared runs. Without a compressed model (``best`` is
    None) the answer is two empty mappings and the label "no compressed model".
    """
    from slimrank.evaluation import per_query_scores  # ranx (numba) loads slowly: only here

    if best is None:
        return {}, {}, "no compressed model"
    scores, full = (
        per_query_scores(qrels, runs[name], metric, relevance_level) for name in (best, FULL)
    )
    return scores, full, best
