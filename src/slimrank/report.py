"""The paper's tables and every number its text quotes, built from the workflow's tidy frames.

Inputs are the frames the workflow writes (one row per observation), never paths:

* ``metrics``: split, run, metric, value, queries;
* ``significance``: split, run, baseline, metric, p_value, p_holm;
* ``params``: variant, family, schedule, layers, target_sparsity, total_params, nonzero_params,
  encoder_sparsity, size_bytes (sparsities as fractions in [0, 1]);
* ``efficiency`` (optional): variant, pairs_per_s, pairs_per_s_ratio, latency_ms, ...

Run names are a contract (see DESIGN.md): ``bm25*`` first-stage runs, ``full``, ``drop-L{L}``,
``{schedule}-match-L{L}``, ``{schedule}-s{pct}`` and an optional ``-int8`` suffix. They are
parsed in one place, :func:`parse_run`, so the tables, the numbers and the figures group runs
the same way.

Values are rounded once, to what the table shows (3 decimals), and every derived quantity
(bold, differences, wins) is computed from those rounded values, so the text can never quote a
difference that disagrees with the table by a unit in the last place.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from slimrank.trec import read_run

#: Significance level applied to Holm-corrected p-values.
ALPHA = 0.05
#: The uncompressed fine-tuned reranker and the first-stage run: the two baselines.
FULL = "full"
BM25 = "bm25"
#: Marks (plain Unicode in the frames and Markdown; translated for LaTeX).
MARK_FULL = "†"
MARK_BM25 = "‡"
UP = "↑"
DOWN = "↓"
_LATEX_MARKS = {MARK_FULL: r"\dagger", MARK_BM25: r"\ddagger", UP: r"\uparrow", DOWN: r"\downarrow"}

#: Pruning schedules, in the order they are shown.
SCHEDULES: tuple[str, ...] = ("oneshot", "gmp", "lottery")
#: Names used in running text for a compression method.
METHOD_NAMES = {
    "drop": "layer dropping",
    "oneshot": "one-shot pruning",
    "gmp": "gradual magnitude pruning",
    "lottery": "lottery-ticket rewinding",
}
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
MARKS_SUFFIX = " marks"
DECIMALS = 3


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


# ----------------------------------------------------------------------------- run names
@dataclass(frozen=True)
class RunInfo:
    """What a run name says about the run.

    ``kind`` is ``first-stage``, ``full``, ``drop``, ``prune`` or ``other``. ``matched_layers``
    is L for ``drop-L{L}`` and ``{schedule}-match-L{L}`` (the pruned model keeps all its
    layers; L names the layer-drop model whose non-zero count it matches). ``sweep_pct`` is the
    target sparsity of a ``{schedule}-s{pct}`` sweep run. ``base`` is the name without
    ``-int8``.
    """

    run: str
    base: str
    kind: str
    schedule: str = "none"
    matched_layers: int | None = None
    sweep_pct: float | None = None
    int8: bool = False


def parse_run(run: str) -> RunInfo:
    """Classify a run by its name (the naming contract of the workflow)."""
    base = run.removesuffix("-int8")
    int8 = base != run
    if base.startswith(BM25):
        return RunInfo(run, base, "first-stage", int8=int8)
    if base == FULL:
        return RunInfo(run, base, "full", int8=int8)
    if m := re.fullmatch(r"drop-L(\d+)", base):
        return RunInfo(run, base, "drop", matched_layers=int(m[1]), int8=int8)
    if m := re.fullmatch(r"([a-z0-9]+)-match-L(\d+)", base):
        return RunInfo(run, base, "prune", m[1], matched_layers=int(m[2]), int8=int8)
    if m := re.fullmatch(r"([a-z0-9]+)-s(\d+(?:\.\d+)?)", base):
        return RunInfo(run, base, "prune", m[1], sweep_pct=float(m[2]), int8=int8)
    return RunInfo(run, base, "other", int8=int8)


def is_compressed(run: str) -> bool:
    """A variant made smaller than the full model: layer drop, pruned, or an int8 version."""
    info = parse_run(run)
    return info.kind in ("drop", "prune") or (info.kind == "full" and info.int8)


#: The workflow's params.tsv names some columns differently from the documented frame.
PARAMS_ALIASES = {"name": "variant", "total": "total_params", "nonzero": "nonzero_params"}


def normalize_params(params: pd.DataFrame | None) -> pd.DataFrame | None:
    """Accept the params frame under either naming (``name``/``total``/``nonzero`` as
    :func:`slimrank.params.params_table` writes them, or ``variant``/``total_params``/
    ``nonzero_params``), so the report does not break when one side renames a column."""
    if params is None:
        return None
    renames = {
        old: new
        for old, new in PARAMS_ALIASES.items()
        if old in params.columns and new not in params.columns
    }
    return params.rename(columns=renames)


#: ... and slimrank.efficiency.benchmark_model names throughput differently.
EFFICIENCY_ALIASES = {
    "name": "variant",
    "model": "variant",
    "throughput_pairs_per_s": "pairs_per_s",
}


def normalize_efficiency(efficiency: pd.DataFrame | None) -> pd.DataFrame | None:
    """The efficiency frame with ``variant``, ``pairs_per_s`` and ``pairs_per_s_ratio``.

    Accepts :func:`slimrank.efficiency.benchmark_model`'s key names, and derives the ratio to
    the ``full`` row when it is missing, so figure and numbers need only one input shape.
    """
    if efficiency is None:
        return None
    renames = {
        old: new
        for old, new in EFFICIENCY_ALIASES.items()
        if old in efficiency.columns and new not in efficiency.columns
    }
    out = efficiency.rename(columns=renames)
    if "pairs_per_s_ratio" not in out.columns and "pairs_per_s" in out.columns:
        full = out.loc[out["variant"] == FULL, "pairs_per_s"]
        if not full.empty:
            out = out.assign(pairs_per_s_ratio=out["pairs_per_s"] / float(full.iloc[0]))
    return out


def _params_index(params: pd.DataFrame | None) -> pd.DataFrame:
    params = normalize_params(params)
    if params is None or params.empty:
        return pd.DataFrame(columns=["family", "schedule", "layers", "nonzero_params"])
    return params.drop_duplicates("variant").set_index("variant")


def _param(params: pd.DataFrame, run: str, column: str) -> float:
    """A params value of ``run`` (an int8 run shares its base's counts), NaN when unknown."""
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
    :data:`SCHEDULES` order, each followed by its int8 version. Unknown runs come last.
    """
    index = _params_index(params)
    schedule_rank = {s: i for i, s in enumerate(SCHEDULES)}

    def nonzeros(run: str) -> float:
        return float(_param(index, run, "nonzero_params"))

    def key(run: str) -> tuple[int, float, int, int, int, str]:
        info = parse_run(run)
        if info.kind == "first-stage":
            return (0, 0.0 if run == BM25 else 1.0, 0, 0, 0, run)
        if info.kind == "full":
            return (1, 0.0, 0, 0, int(info.int8), run)
        if info.kind in ("drop", "prune"):
            group = float("nan")
            if info.matched_layers is not None:
                group = nonzeros(f"drop-L{info.matched_layers}")
            if math.isnan(group):
                group = nonzeros(run)
            rank = math.inf if math.isnan(group) else -group
            family = 0 if info.kind == "drop" else 1
            sched = schedule_rank.get(info.schedule, len(SCHEDULES))
            sweep = 1 if info.sweep_pct is not None else 0
            return (2, rank, family * 10 + sweep, sched * 2 + int(info.int8), 0, run)
        return (3, 0.0, 0, 0, 0, run)

    return sorted(runs, key=key)


# ----------------------------------------------------------------------------- main table
def _split_values(metrics: pd.DataFrame, split: str) -> pd.DataFrame:
    """run x metric values of one split (raises if the split is absent)."""
    frame = metrics[metrics["split"] == split]
    if frame.empty:
        raise ValueError(f"no metrics for split {split!r}")
    return frame.pivot_table(index="run", columns="metric", values="value", aggfunc="first")


def _p_holm(significance: pd.DataFrame | None, split: str) -> dict[tuple[str, str, str], float]:
    """(run, baseline, metric) -> Holm-corrected p-value for one split."""
    if significance is None or significance.empty:
        return {}
    frame = significance[significance["split"] == split]
    return {
        (r, b, m): float(p)
        for r, b, m, p in zip(
            frame["run"], frame["baseline"], frame["metric"], frame["p_holm"], strict=True
        )
    }


def _direction(value: float, reference: float) -> str:
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
        marks += symbol + _direction(values.at[run, metric], values.at[baseline, metric])
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
    (encoder Linear weights that are zero), then per metric its value and ``"<metric> marks"``
    (see :func:`significance_marks`). First-stage runs get family ``bm25`` and no sizes.
    """
    values = _split_values(metrics, split)
    missing = [m for m in metrics_list if m not in values.columns]
    if missing:
        raise ValueError(f"metrics {missing} are not in the metrics of split {split!r}")
    index = _params_index(params)
    if "encoder_sparsity" in index.columns and (index["encoder_sparsity"].dropna() > 1).any():
        raise ValueError("params.encoder_sparsity must be a fraction in [0, 1]")
    p_holm = _p_holm(significance, split)
    rows = []
    for run in order_runs(values.index, params):
        info = parse_run(run)
        if info.kind == "first-stage":
            family, schedule = BM25, "none"
        else:
            family = _param(index, run, "family")
            family = family if isinstance(family, str) else _family_of(info)
            schedule = _param(index, run, "schedule")
            schedule = schedule if isinstance(schedule, str) else info.schedule
        row = {
            "run": run,
            "family": family,
            "schedule": schedule,
            "layers": _param(index, run, "layers"),
            "params (M)": _param(index, run, "total_params") / 1e6,
            "non-zeros (M)": _param(index, run, "nonzero_params") / 1e6,
            "sparsity %": _param(index, run, "encoder_sparsity") * 100,
        }
        for metric in metrics_list:
            value = values.at[run, metric]
            row[metric] = float(value) if pd.notna(value) else float("nan")
            row[metric + MARKS_SUFFIX] = significance_marks(run, metric, values, p_holm, alpha)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["layers"] = table["layers"].astype("Int64")
    return table


def _family_of(info: RunInfo) -> str:
    return {"full": "full", "drop": "drop", "prune": "prune"}.get(info.kind, "other")


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
        cells.append((emphasize(cell) if bold[m] else cell) + marks(row[m + MARKS_SUFFIX]))
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
    if any(r != BM25 and f == BM25 for r, f in zip(table["run"], table["family"], strict=True)):
        text += (
            " \\texttt{bm25-fullcollection} is the published BM25 run over the full "
            "MS~MARCO collection, evaluated as a check of the evaluation code; it is not "
            "comparable with runs over the subset."
        )
    return text


# ----------------------------------------------------------------------------- numbers
_ONES = (
    "Zero One Two Three Four Five Six Seven Eight Nine Ten Eleven Twelve Thirteen Fourteen "
    "Fifteen Sixteen Seventeen Eighteen Nineteen"
).split()
_TENS = "_ _ Twenty Thirty Forty Fifty Sixty Seventy Eighty Ninety".split()


def number_words(number: str | int) -> str:
    """``"90"`` -> ``"Ninety"``, ``"1000"`` -> ``"OneThousand"``, ``"87.5"`` ->
    ``"EightySevenPointFive"``: digits in macro names must be letters."""
    text = str(number)
    whole, _, frac = text.partition(".")
    n = int(whole)
    if not 0 <= n < 10**9:
        raise ValueError(f"no words for {number!r}")

    def words(k: int) -> str:
        if k < 20:
            return _ONES[k]
        if k < 100:
            return _TENS[k // 10] + (_ONES[k % 10] if k % 10 else "")
        for size, name in ((10**6, "Million"), (1000, "Thousand"), (100, "Hundred")):
            if k >= size:
                rest = k % size
                return words(k // size) + name + (words(rest) if rest else "")
        raise AssertionError(k)

    out = words(n)
    if frac:
        out += "Point" + "".join(_ONES[int(d)] for d in frac)
    return out


def macro_name(*parts: str) -> str:
    """Deterministic LaTeX macro name (letters only) from run, metric and split names.

    Each part is cut into letter runs and number runs (``"drop-L3"`` -> ``drop``, ``L``, ``3``);
    numbers become words, every piece is capitalised and the first letter is lower case:
    ``macro_name("dl19", "drop-L3", "ndcg@10") == "dlNineteenDropLThreeNdcgTen"``.
    """
    pieces = []
    for part in parts:
        for token in re.findall(r"\d+(?:\.\d+)?|[A-Za-z]+", str(part)):
            pieces.append(
                number_words(token) if token[0].isdigit() else token[0].upper() + token[1:]
            )
    if not pieces:
        raise ValueError(f"no letters or digits in {parts!r}")
    name = "".join(pieces)
    return name[0].lower() + name[1:]


def _signed(value: float, decimals: int = DECIMALS) -> str:
    """``+0.012`` / ``\\ensuremath{-}0.034`` (a text hyphen is not a minus sign)."""
    text = f"{abs(value):.{decimals}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else r"\ensuremath{-}") + text


def _p_text(p: float) -> str:
    return r"\ensuremath{<}0.001" if p < 0.001 else f"{p:.3f}"


def _thousands(n: float) -> str:
    return f"{int(round(n)):,}"


class _Macros:
    """Ordered macro set that refuses a name twice (two sources must never share a name)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: set[str] = set()

    def comment(self, text: str) -> None:
        self.lines.append(f"% {text}")

    def add(self, name: str, value: str) -> None:
        if not re.fullmatch(r"[A-Za-z]+", name):
            raise ValueError(f"macro name {name!r} is not letters only")
        if name in self.names:
            raise ValueError(f"macro {name!r} generated twice")
        self.names.add(name)
        self.lines.append(f"\\newcommand{{\\{name}}}{{{value}}}")


def _vs_phrase(run: str, baseline: str, metric: str, values, p_holm, alpha) -> str:
    p = p_holm.get((run, baseline, metric))
    if p is None:
        return "not tested against"
    if not p < alpha:
        return "not significantly different from"
    arrow = _direction(values.at[run, metric], values.at[baseline, metric])
    return {UP: "significantly higher than", DOWN: "significantly lower than"}.get(
        arrow, "significantly different from"
    )


def best_compressed_run(metrics: pd.DataFrame, split: str, metric: str) -> str | None:
    """The compressed run with the highest rounded ``metric`` on ``split`` (ties: by name).

    The per-query figure compares this run with the full model; the same choice is exported
    as a macro so text, figure and table agree.
    """
    values = _split_values(metrics, split)
    if metric not in values.columns:
        return None
    candidates = [
        (-round(float(v), DECIMALS), run)
        for run, v in values[metric].items()
        if is_compressed(run) and pd.notna(v)
    ]
    return min(candidates)[1] if candidates else None


def per_query_comparison(
    metrics: pd.DataFrame,
    split: str,
    qrels: Mapping[str, Mapping[str, int]],
    run_files: Mapping[str, str | os.PathLike],
    relevance_level: int,
    metric: str = "ndcg@10",
) -> tuple[dict[str, float], dict[str, float], str]:
    """Per-query ``metric`` of the best compressed run (:func:`best_compressed_run`) and of the
    full model, and that run's name: what the per-query figure plots.

    ``run_files`` maps run names to TREC files; only the two compared are read. A study
    without a compressed model gives two empty mappings and the label "no compressed model".
    """
    from slimrank.evaluation import per_query_scores  # ranx (numba) loads slowly: only here

    best = best_compressed_run(metrics, split, metric)
    if best is None:
        return {}, {}, "no compressed model"
    scores, full = (
        per_query_scores(qrels, read_run(run_files[name]), metric, relevance_level)
        for name in (best, "full")
    )
    return scores, full, best


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


def numbers_macros(
    metrics: pd.DataFrame,
    params: pd.DataFrame | None,
    significance: pd.DataFrame | None = None,
    efficiency: pd.DataFrame | None = None,
    alpha: float = ALPHA,
    counts: Mapping[str, int] | None = None,
) -> str:
    """Every number (and data-dependent phrase) the paper quotes, as ``\\newcommand`` lines.

    Names come from :func:`macro_name`; ``S`` = split, ``R`` = run, ``M`` = metric, ``V`` =
    variant, ``B`` = baseline (``full`` or ``bm25``), ``X`` = schedule, ``L`` = matched layers:

    * ``S+Queries``: queries evaluated in the split;
    * ``S+R+M``: the metric value, 3 decimals (exactly the table's value);
    * ``S+R+M+DeltaFull``: R minus full (signed, from rounded values);
      ``S+R+M+RetainedFull``: R as % of full (1 decimal), for every non-full run;
    * ``S+R+M+Vs+B``: "significantly higher than" | "significantly lower than" |
      "not significantly different from" | "not tested against";
      ``S+R+M+P+B``: Holm-corrected p (3 decimals, "<0.001", or "n/a" when untested);
    * ``S+X+MinusDropL+L+M``: matched pruned minus layer drop;
      ``S+L+L+Best+M``: the method name of the best model of that size;
      ``S+X+Wins|Ties|Losses+M`` and ``S+X+MatchedSizes``: over the matched sizes;
    * ``S+BestRun+M`` (``\\texttt{run}``) and ``S+BestRun+M+Value``: best compressed run;
    * per variant: ``params``/``nonzeros`` (M, 1 decimal), ``paramsExact``/``nonzerosExact``,
      ``nonzerosPct`` (% of full's parameters), ``sparsity``/``targetSparsity`` (% encoder
      Linear weights, 1 decimal), ``layers``, ``size`` (MB, 1 decimal);
    * with ``efficiency``: ``throughput`` (pairs/s, 1 decimal), ``speedup`` (ratio to full,
      2 decimals), ``latency`` (ms, 1 decimal); ``scoringPrecision`` and ``scoringDevice``
      (the full model's row: ``fp32``/``bf16``, ``cpu``/``cuda``);
    * ``count+Name`` for each entry of ``counts``.
    """
    out = _Macros()
    out.comment("Generated by slimrank.report.numbers_macros; do not edit.")
    splits = list(dict.fromkeys(metrics["split"]))
    index = _params_index(params)
    for split in splits:
        values = _split_values(metrics, split)
        metric_names = list(dict.fromkeys(metrics.loc[metrics["split"] == split, "metric"]))
        runs = order_runs(values.index, params)
        p_holm = _p_holm(significance, split)
        rounded = values.round(DECIMALS)
        out.comment(f"split {split}")
        queries = metrics.loc[metrics["split"] == split, "queries"].max()
        out.add(macro_name(split, "queries"), str(int(queries)))
        for run in runs:
            for metric in metric_names:
                value = values.at[run, metric]
                if pd.isna(value):
                    continue
                name = macro_name(split, run, metric)
                out.add(name, f"{value:.{DECIMALS}f}")
                if run != FULL and FULL in values.index:
                    full = rounded.at[FULL, metric]
                    out.add(name + "DeltaFull", _signed(rounded.at[run, metric] - full))
                    retained = 100 * rounded.at[run, metric] / full if full else float("nan")
                    out.add(name + "RetainedFull", _fmt(retained, 1, "n/a"))
                for baseline in (FULL, BM25):
                    if run == baseline or baseline not in values.index:
                        continue
                    suffix = macro_name(baseline)
                    suffix = suffix[0].upper() + suffix[1:]
                    phrase = _vs_phrase(run, baseline, metric, values, p_holm, alpha)
                    out.add(name + "Vs" + suffix, phrase)
                    p = p_holm.get((run, baseline, metric))
                    out.add(name + "P" + suffix, "n/a" if p is None else _p_text(p))
        _matched_macros(out, split, runs, rounded, metric_names)
        for metric in metric_names:
            best = best_compressed_run(metrics, split, metric)
            if best is not None:
                name = macro_name(split, "best-run", metric)
                out.add(name, rf"\texttt{{{latex_escape(best)}}}")
                out.add(name + "Value", f"{values.at[best, metric]:.{DECIMALS}f}")
    _params_macros(out, index)
    efficiency = normalize_efficiency(efficiency)
    if efficiency is not None and not efficiency.empty:
        _efficiency_macros(out, efficiency)
    if counts:
        out.comment("counts")
        for key, n in counts.items():
            out.add(macro_name("count", key), _thousands(n))
    return "\n".join(out.lines) + "\n"


def _matched_macros(
    out: _Macros, split: str, runs: Sequence[str], rounded: pd.DataFrame, metric_names
) -> None:
    """Layer drop vs each schedule at every matched size (from rounded values)."""
    levels = sorted(
        {parse_run(r).matched_layers for r in runs if parse_run(r).kind == "drop"} - {None},
        reverse=True,
    )
    present = set(runs)
    schedules = [
        s for s in SCHEDULES if any(f"{s}-match-L{L}" in present for L in levels)
    ] + sorted(
        {parse_run(r).schedule for r in runs if parse_run(r).matched_layers is not None}
        - set(SCHEDULES)
        - {"none"}
    )
    for schedule in schedules:
        sizes = [L for L in levels if f"{schedule}-match-L{L}" in present]
        out.add(macro_name(split, schedule, "matched-sizes"), str(len(sizes)))
        for metric in metric_names:
            wins = ties = losses = 0
            for L in sizes:
                prune = rounded.at[f"{schedule}-match-L{L}", metric]
                drop = rounded.at[f"drop-L{L}", metric]
                if pd.isna(prune) or pd.isna(drop):
                    continue
                diff = prune - drop
                out.add(macro_name(split, schedule, f"minus-drop-L{L}", metric), _signed(diff))
                wins += diff > 1e-12
                losses += diff < -1e-12
                ties += abs(diff) <= 1e-12
            out.add(macro_name(split, schedule, "wins", metric), str(wins))
            out.add(macro_name(split, schedule, "ties", metric), str(ties))
            out.add(macro_name(split, schedule, "losses", metric), str(losses))
    for L in levels:
        for metric in metric_names:
            contenders = [("drop", f"drop-L{L}")] + [
                (s, f"{s}-match-L{L}") for s in schedules if f"{s}-match-L{L}" in present
            ]
            scored = [
                (rounded.at[r, metric], m) for m, r in contenders if pd.notna(rounded.at[r, metric])
            ]
            if not scored:
                continue
            top = max(v for v, _ in scored)
            winners = [METHOD_NAMES.get(m, m) for v, m in scored if v == top]
            out.add(macro_name(split, f"L{L}", "best", metric), " and ".join(winners))


def _params_macros(out: _Macros, index: pd.DataFrame) -> None:
    if index.empty:
        return
    out.comment("parameters: M = millions (1 decimal), % with 1 decimal, size in MB (1e6 bytes)")
    full_total = _param(index, FULL, "total_params")
    for variant in order_runs(index.index, index.reset_index()):
        row = index.loc[variant]
        total, nonzero = row.get("total_params"), row.get("nonzero_params")
        if pd.notna(total):
            out.add(macro_name("params", variant), f"{total / 1e6:.1f}")
            out.add(macro_name("params-exact", variant), _thousands(total))
        if pd.notna(nonzero):
            out.add(macro_name("nonzeros", variant), f"{nonzero / 1e6:.1f}")
            out.add(macro_name("nonzeros-exact", variant), _thousands(nonzero))
            if pd.notna(full_total) and full_total:
                out.add(macro_name("nonzeros-pct", variant), f"{100 * nonzero / full_total:.1f}")
        for column, prefix in (
            ("encoder_sparsity", "sparsity"),
            ("target_sparsity", "target-sparsity"),
        ):
            value = row.get(column)
            if pd.notna(value):
                out.add(macro_name(prefix, variant), f"{100 * float(value):.1f}")
        if pd.notna(row.get("layers")):
            out.add(macro_name("layers", variant), str(int(row["layers"])))
        if pd.notna(row.get("size_bytes")):
            out.add(macro_name("size", variant), f"{float(row['size_bytes']) / 1e6:.1f}")


def _efficiency_macros(out: _Macros, efficiency: pd.DataFrame) -> None:
    out.comment("efficiency: throughput in pairs/s, speedup = throughput ratio to full, latency ms")
    for column, prefix, decimals in (
        ("pairs_per_s", "throughput", 1),
        ("pairs_per_s_ratio", "speedup", 2),
        ("latency_ms", "latency", 1),
    ):
        if column not in efficiency.columns:
            continue
        for variant, value in zip(efficiency["variant"], efficiency[column], strict=True):
            if pd.notna(value):
                out.add(macro_name(prefix, variant), f"{float(value):.{decimals}f}")
    # The arithmetic the models were timed (and scored) in: `precision: auto` resolves per
    # machine, so the paper names what this machine used, with its device.
    full = efficiency.loc[efficiency["variant"] == FULL]
    for column, name in (("precision", "scoring-precision"), ("device", "scoring-device")):
        if column in full.columns and not full.empty and pd.notna(full[column].iloc[0]):
            out.add(macro_name(name), latex_escape(str(full[column].iloc[0])))


def parse_macros(text: str) -> dict[str, str]:
    """``\\newcommand{\\name}{value}`` lines back into a dict (for tests and checks)."""
    return dict(re.findall(r"^\\newcommand\{\\([A-Za-z]+)\}\{(.*)\}$", text, flags=re.MULTILINE))
