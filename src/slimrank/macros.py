"""Every number (and data-dependent phrase) the manuscript quotes, as LaTeX macros named by role.

A macro never carries a config value in its name: ``\\mainDropOnePrimary`` is the primary
metric of the first matched pair's layer-drop model on the paper's split, whatever the study's
layer counts, split names or metrics are, and the values themselves (``\\pairOneLayers``,
``\\mainSplit``, ``\\primaryMetric``) are macros too. So ``paper/paper.tex`` builds for any
study. The roles (:mod:`slimrank.study`):

* splits: ``main`` is ``paper.split``; ``split<I>`` the I-th test split (config order);
* metrics: ``Primary``, ``Secondary`` (then ``MetricThree``, ...) are ``paper.figure_metrics``;
* runs: ``Full``, ``FirstStage`` (BM25), ``Drop<K>`` and ``<Schedule>Match<K>`` for matched pair
  K (pairs ordered by layer count, most layers first), ``DropFocus``/``<Schedule>MatchFocus``
  for the pair where the schedules are compared (:func:`slimrank.study.focus_size`),
  ``DropSmallest`` (fewest layers), ``<Schedule>Sweep<J>`` for sweep model J (sparsity
  ascending) and ``Sweep<J>``/``SweepHighest`` for the first sweep schedule's,
  ``Reference<R>`` and ``FullOnReference<R>`` for reference runs; ``<Role>IntEight`` for an
  int8 version and ``<Role>Kd`` for a distilled student (``-kd``) of the role's run. A fixed
  role whose run the study lacks gets ``n/a``, so the text still builds.

Values are rounded to what the table shows (:data:`slimrank.tables.DECIMALS`) and derived
values are computed from the rounded ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from slimrank.macro_names import (
    MacroSet,
    macro_name,
    metric_role,
    role_name,
)
from slimrank.study import (
    BM25,
    DEPLOYMENT,
    EFFICIENCY,
    FULL,
    METHOD_NAMES,
    METRICS,
    PARAMS,
    SCHEDULES,
    STRUCTURED,
    distilled_partners,
    focus_size,
    int8_name,
    matched_schedules,
    matched_sizes,
    parse_run,
    precision_name,
    sweep_runs,
)
from slimrank.tables import (
    ALPHA,
    DECIMALS,
    DOWN,
    LOSS_DECIMALS,
    RATIO_DECIMALS,
    UP,
    best_compressed_run,
    latex_escape,
    metric_label,
    p_holm_values,
    param,
    params_index,
    split_spread,
    split_table_label,
    split_values,
    value_direction,
)

MISSING = "n/a"
#: The schema's default of ``paper.deployment_target``.
DEPLOYMENT_TARGET = {"speedup": 3.0, "max_loss_pct": 2.0}


# ----------------------------------------------------------------------------- formatting
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


def _fmt(value, decimals: int) -> str:
    return MISSING if value is None or pd.isna(value) else f"{float(value):.{decimals}f}"


def and_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``; ``none`` for no items."""
    items = list(items)
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _tt(run: str) -> str:
    return rf"\texttt{{{latex_escape(run)}}}"


# ----------------------------------------------------------------------------- roles
@dataclass(frozen=True)
class Roles:
    """Which run plays which role (``role -> run``; ``None``: the study has no such run), and
    the groups the text lists (pairs, sweep)."""

    runs: dict[str, str | None]
    pairs: list  # slimrank.study.MatchedSize, most layers first
    focus: object  # the focus MatchedSize or None
    schedules: list[str]  # schedules with a matched model
    sweep: list[str]  # the first sweep schedule's runs, sparsity ascending
    sweep_schedule: str | None
    students: dict[str, str]  # undistilled run -> its distilled student (-kd)


def study_roles(runs: Sequence[str]) -> Roles:
    """The role of every run of the study among ``runs`` (variants, references, int8)."""
    pairs = matched_sizes(runs)
    focus = focus_size(pairs)
    smallest = pairs[-1] if pairs else None
    schedules = matched_schedules(pairs)
    sweeps = sweep_runs(runs)
    roles: dict[str, str | None] = {"Full": FULL, "FirstStage": BM25}
    roles["DropFocus"] = focus.drop if focus else None
    roles["DropSmallest"] = smallest.drop if smallest else None
    for schedule in SCHEDULES:
        roles[role_name(schedule, "match-focus")] = focus.pruned.get(schedule) if focus else None
    for k, pair in enumerate(pairs, 1):
        roles[role_name("drop", k)] = pair.drop
        for schedule, run in pair.pruned.items():
            roles[role_name(schedule, "match", k)] = run
    sweep_schedule = next(iter(sweeps), None)
    sweep = sweeps.get(sweep_schedule, [])
    for schedule, sweep_list in sweeps.items():
        for j, run in enumerate(sweep_list, 1):
            roles[role_name(schedule, "sweep", j)] = run
    for j, run in enumerate(sweep, 1):
        roles[role_name("sweep", j)] = run
    roles["SweepHighest"] = sweep[-1] if sweep else None
    references = sorted(r for r in runs if parse_run(r).kind == "first-stage" and r != BM25)
    for r, run in enumerate(references, 1):
        roles[role_name("reference", r)] = run
        if f"{FULL}+{run}" in runs:
            roles[role_name("full-on-reference", r)] = f"{FULL}+{run}"
    students = distilled_partners(runs)
    for role, run in list(roles.items()):
        if run is not None and not _is_first_stage_role(role) and int8_name(run) in runs:
            roles[role + "IntEight"] = int8_name(run)
        if run in students and not _is_first_stage_role(role):
            roles[role + "Kd"] = students[run]
    return Roles(roles, pairs, focus, schedules, sweep, sweep_schedule, students)


def _is_first_stage_role(role: str) -> bool:
    """A role played by a run that no model of the study made (BM25, references)."""
    return role == "FirstStage" or role.startswith(("Reference", "FullOnReference"))


# ----------------------------------------------------------------------------- the study
def _study_macros(
    out: MacroSet,
    roles: Roles,
    metrics: pd.DataFrame,
    test_splits: Sequence[str],
    main_split: str,
    text_metrics: Sequence[str],
) -> None:
    """Names and counts: splits, metrics, matched pairs, schedules, sweep."""
    out.comment("the study: test splits, text metrics, matched pairs, sweep")
    queries = {
        s: int(metrics.loc[metrics[METRICS.split] == s, METRICS.queries].max()) for s in test_splits
    }
    out.add("testSplitCount", str(len(test_splits)))
    for i, split in enumerate(test_splits, 1):
        out.add(macro_name("test-split", i), _tt(split))
        out.add(macro_name("test-split", i, "queries"), str(queries[split]))
    out.add("testSplitList", and_list([f"{_tt(s)} ({queries[s]} queries)" for s in test_splits]))
    out.add("mainSplit", _tt(main_split))
    out.add("mainQueries", str(queries[main_split]))
    others = [i for i, s in enumerate(test_splits, 1) if s != main_split]
    refs = and_list([rf"\ref{{{split_table_label(i)}}}" for i in others])
    out.add("otherSplitTables", ("Tables~" if len(others) > 1 else "Table~") + refs)
    for k, metric in enumerate(text_metrics, 1):
        out.add(macro_name(metric_role(k), "metric"), latex_escape(metric_label(metric)))
    for role, run in roles.runs.items():
        if role.startswith("Reference") and run is not None:
            out.add(macro_name(role, "run"), _tt(run))
    out.add("pairCount", str(len(roles.pairs)))
    for k, pair in enumerate(roles.pairs, 1):
        out.add(macro_name("pair", k, "layers"), str(pair.layers))
    out.add("pairLayersList", and_list([str(p.layers) for p in roles.pairs]))
    out.add("dropRunList", and_list([_tt(p.drop) for p in roles.pairs]))
    out.add("focusLayers", str(roles.focus.layers) if roles.focus else MISSING)
    out.add("focusScheduleCount", str(len(roles.focus.pruned)) if roles.focus else "0")
    out.add("smallestLayers", str(roles.pairs[-1].layers) if roles.pairs else MISSING)
    out.add("matchedScheduleList", and_list([METHOD_NAMES.get(s, s) for s in roles.schedules]))
    for schedule in SCHEDULES:
        sizes = sum(schedule in p.pruned for p in roles.pairs)
        out.add(macro_name(schedule, "matched-sizes"), str(sizes))
    out.add("sweepCount", str(len(roles.sweep)))
    schedule = roles.sweep_schedule
    out.add("sweepSchedule", METHOD_NAMES.get(schedule, schedule) if schedule else "none")
    pcts = [f"{parse_run(r).sweep_pct:g}" for r in roles.sweep]
    out.add("sweepSparsityList", and_list(pcts))
    out.add("sweepLowest", pcts[0] if pcts else MISSING)
    out.add("sweepHighest", pcts[-1] if pcts else MISSING)
    tested = metrics.loc[metrics[METRICS.split].isin(test_splits), METRICS.run].unique()
    structured = [r for r in tested if parse_run(r).kind == STRUCTURED and not parse_run(r).int8]
    out.add("structuredRunCount", str(len(structured)))
    out.add("kdStudentCount", str(len(roles.students)))
    out.add("kdRunList", and_list([_tt(r) for r in roles.students.values()]))
    out.add("kdComparedSizes", str(len(_kd_comparisons(roles))))


def _kd_comparisons(roles: Roles) -> list[tuple[int, str, tuple[str, str], tuple[str, str]]]:
    """``(layers, schedule, (drop, pruned), (drop-kd, pruned-kd))`` for every matched size and
    schedule where both models have a distilled student: where distillation can change the
    drop-vs-prune answer."""
    found = []
    for pair in roles.pairs:
        for schedule, pruned in pair.pruned.items():
            if pair.drop in roles.students and pruned in roles.students:
                students = (roles.students[pair.drop], roles.students[pruned])
                found.append((pair.layers, schedule, (pair.drop, pruned), students))
    return found


# ----------------------------------------------------------------------------- one split
@dataclass(frozen=True)
class _Split:
    """What the value macros of one split read: rounded values, Holm p-values, alpha."""

    values: pd.DataFrame
    rounded: pd.DataFrame
    p_holm: dict
    alpha: float

    def value(self, run: str | None, metric: str) -> float | None:
        if run is None or run not in self.values.index or metric not in self.values.columns:
            return None
        v = self.values.at[run, metric]
        return None if pd.isna(v) else float(v)

    def rounded_value(self, run: str | None, metric: str) -> float | None:
        v = self.value(run, metric)
        return None if v is None else round(v, DECIMALS)

    def retained(self, run: str | None, metric: str) -> str:
        v, full = self.rounded_value(run, metric), self.rounded_value(FULL, metric)
        return _fmt(100 * v / full if v is not None and full else None, 1)

    def versus(self, run: str | None, baseline: str, metric: str) -> tuple[str, str]:
        """The phrase and the Holm-corrected p of ``run`` against ``baseline``."""
        if self.value(run, metric) is None or self.value(baseline, metric) is None:
            return MISSING, MISSING
        p = self.p_holm.get((run, baseline, metric))
        if p is None:
            return "not tested against", MISSING
        if not p < self.alpha:
            return "not significantly different from", _p_text(p)
        arrow = value_direction(self.values.at[run, metric], self.values.at[baseline, metric])
        phrase = {UP: "significantly higher than", DOWN: "significantly lower than"}.get(
            arrow, "significantly different from"
        )
        return phrase, _p_text(p)

    def minus(self, run: str | None, other: str | None, metric: str) -> float | None:
        a, b = self.rounded_value(run, metric), self.rounded_value(other, metric)
        return None if a is None or b is None else a - b


def _run_value_macros(out: MacroSet, prefix: str, roles: Roles, split: _Split, metric, m) -> None:
    """Per role: value, difference to and share of the full model, tests against baselines."""
    for role, run in roles.runs.items():
        name = macro_name(prefix, role, m)
        value = split.value(run, metric)
        if value is None and run is not None:
            continue  # a run of the study that this split does not evaluate
        out.add(name, _fmt(value, DECIMALS))
        if role != "Full":
            delta = split.minus(run, FULL, metric)
            out.add(name + "DeltaFull", MISSING if delta is None else _signed(delta))
            out.add(name + "RetainedFull", split.retained(run, metric))
        for baseline, suffix in ((FULL, "Full"), (BM25, "FirstStage")):
            if role == {FULL: "Full", BM25: "FirstStage"}[baseline]:
                continue
            phrase, p = split.versus(run, baseline, metric)
            out.add(name + "Vs" + suffix, phrase)
            out.add(name + "P" + suffix, p)


def _pair_macros(out: MacroSet, prefix: str, roles: Roles, split: _Split, metric, m) -> None:
    """Layer drop against each schedule at every matched pair, as values and as lists."""
    fmt = lambda v: _fmt(v, DECIMALS)  # noqa: E731
    drops = [p.drop for p in roles.pairs]
    out.add(
        macro_name(prefix, "drop", m, "list"),
        and_list([fmt(split.value(r, metric)) for r in drops]),
    )
    out.add(
        macro_name(prefix, "drop", m, "retained-list"),
        and_list([split.retained(r, metric) for r in drops]),
    )
    for schedule in SCHEDULES:
        pairs = [p for p in roles.pairs if schedule in p.pruned]
        pruned = [p.pruned[schedule] for p in pairs]
        out.add(
            macro_name(prefix, schedule, "match", m, "list"),
            and_list([fmt(split.value(r, metric)) for r in pruned]),
        )
        out.add(
            macro_name(prefix, schedule, "match", m, "retained-list"),
            and_list([split.retained(r, metric) for r in pruned]),
        )
        diffs = {p.layers: split.minus(p.pruned[schedule], p.drop, metric) for p in pairs}
        known = [d for d in diffs.values() if d is not None]
        out.add(
            macro_name(prefix, schedule, "minus-drop", m, "list"),
            and_list([MISSING if d is None else _signed(d) for d in diffs.values()]),
        )
        for k, pair in enumerate(roles.pairs, 1):
            if pair.layers in diffs:
                d = diffs[pair.layers]
                out.add(
                    macro_name(prefix, schedule, "minus-drop", k, m),
                    MISSING if d is None else _signed(d),
                )
        focus = diffs.get(roles.focus.layers) if roles.focus else None
        out.add(
            macro_name(prefix, schedule, "minus-drop-focus", m),
            MISSING if focus is None else _signed(focus),
        )
        out.add(macro_name(prefix, schedule, "wins", m), str(sum(d > 1e-12 for d in known)))
        out.add(macro_name(prefix, schedule, "ties", m), str(sum(abs(d) <= 1e-12 for d in known)))
        out.add(macro_name(prefix, schedule, "losses", m), str(sum(d < -1e-12 for d in known)))
    best = [_pair_best(split, pair, metric) for pair in roles.pairs]
    out.add(macro_name(prefix, "pair-best", m, "list"), and_list(best))
    for k, text in enumerate(best, 1):
        out.add(macro_name(prefix, "pair", k, "best", m), text)
    focus_best = _pair_best(split, roles.focus, metric) if roles.focus else MISSING
    out.add(macro_name(prefix, "focus-best", m), focus_best)


def _pair_best(split: _Split, pair, metric: str) -> str:
    """The method name(s) of the best rounded value at one matched pair."""
    contenders = [("drop", pair.drop), *pair.pruned.items()]
    scored = [(v, m) for m, r in contenders if (v := split.rounded_value(r, metric)) is not None]
    if not scored:
        return MISSING
    top = max(v for v, _ in scored)
    return " and ".join(METHOD_NAMES.get(m, m) for v, m in scored if v == top)


def _sweep_macros(out: MacroSet, prefix: str, roles: Roles, split: _Split, metric, m) -> None:
    runs = roles.sweep
    out.add(
        macro_name(prefix, "sweep", m, "list"),
        and_list([_fmt(split.value(r, metric), DECIMALS) for r in runs]),
    )
    out.add(
        macro_name(prefix, "sweep", m, "retained-list"),
        and_list([split.retained(r, metric) for r in runs]),
    )
    out.add(
        macro_name(prefix, "sweep", m, "vs-full-list"),
        and_list([split.versus(r, FULL, metric)[0] for r in runs]),
    )


def _sign(d: float) -> int:
    return 1 if d > 1e-12 else -1 if d < -1e-12 else 0


def _kd_macros(out: MacroSet, prefix: str, roles: Roles, split: _Split, metric, m) -> None:
    """Distilled students against their partners, and the drop-vs-prune difference with and
    without distillation at each size where both have a student (rounded values)."""
    gains = {s: split.minus(s, p, metric) for p, s in roles.students.items()}
    out.add(
        macro_name(prefix, "kd-gain", m, "list"),
        and_list([f"{_tt(s)} {MISSING if d is None else _signed(d)}" for s, d in gains.items()]),
    )
    known = [d for d in gains.values() if d is not None]
    out.add(macro_name(prefix, "kd", "wins", m), str(sum(_sign(d) > 0 for d in known)))
    out.add(macro_name(prefix, "kd", "losses", m), str(sum(_sign(d) < 0 for d in known)))
    phrases, flips = [], 0
    for layers, schedule, (drop, pruned), (drop_kd, pruned_kd) in _kd_comparisons(roles):
        before, after = split.minus(pruned, drop, metric), split.minus(pruned_kd, drop_kd, metric)
        if before is None or after is None:
            continue
        flipped = _sign(before) != _sign(after)
        flips += flipped
        phrases.append(
            f"at the {layers}-layer size {METHOD_NAMES.get(schedule, schedule)} minus layer "
            f"dropping is {_signed(before)} without distillation and {_signed(after)} with it"
            + (" (the sign changes)" if flipped else "")
        )
    out.add(macro_name(prefix, "kd-answer", m), "; ".join(phrases) if phrases else MISSING)
    out.add(macro_name(prefix, "kd-flips", m), str(flips))


def _split_macros(
    out: MacroSet,
    prefix: str,
    split_name: str,
    roles: Roles,
    metrics: pd.DataFrame,
    significance: pd.DataFrame | None,
    text_metrics: Sequence[str],
    alpha: float,
) -> None:
    values = split_values(metrics, split_name)
    split = _Split(values, values.round(DECIMALS), p_holm_values(significance, split_name), alpha)
    out.comment(f"{prefix}: split {split_name}")
    for k, metric in enumerate(text_metrics, 1):
        m = metric_role(k)
        _run_value_macros(out, prefix, roles, split, metric, m)
        _pair_macros(out, prefix, roles, split, metric, m)
        _sweep_macros(out, prefix, roles, split, metric, m)
        _kd_macros(out, prefix, roles, split, metric, m)
        best = best_compressed_run(metrics, split_name, metric)
        name = macro_name(prefix, "best-run", m)
        out.add(name, _tt(best) if best else MISSING)
        out.add(name + "Value", _fmt(split.value(best, metric), DECIMALS))


def _by_split_macros(out, roles: Roles, metrics, test_splits, text_metrics) -> None:
    """``full<M>BySplit``: "0.503 on dl19 and 0.480 on dl20", and the same for the first stage."""
    for k, metric in enumerate(text_metrics, 1):
        for role in ("Full", "FirstStage"):
            items = []
            for split in test_splits:
                values = split_values(metrics, split)
                run = roles.runs[role]
                v = values.at[run, metric] if run in values.index and metric in values else None
                items.append(f"{_fmt(v, DECIMALS)} on {_tt(split)}")
            out.add(macro_name(role, metric_role(k), "by-split"), and_list(items))


# ----------------------------------------------------------------------------- per variant
def _params_macros(out: MacroSet, roles: Roles, params: pd.DataFrame | None) -> None:
    index = params_index(params)
    if index.empty:
        return
    out.comment("parameters: M = millions (1 decimal), % with 1 decimal, size in MB (1e6 bytes)")
    full_total = param(index, FULL, PARAMS.total)
    rows: dict[str, dict[str, str]] = {}
    for role, run in roles.runs.items():
        if _is_first_stage_role(role) or role.endswith("IntEight"):
            continue  # no parameters of ours; an int8 model has its variant's
        # A fixed role the study lacks (run None) reads as NaN: every value is n/a.
        value = {c: param(index, run or "", c) for c in PARAMS}
        total, nonzero = value[PARAMS.total], value[PARAMS.nonzero]
        pct = 100 * nonzero / full_total if pd.notna(full_total) and full_total else None
        row = {
            "params": _fmt(total / 1e6, 1),
            "params-exact": MISSING if pd.isna(total) else _thousands(total),
            "nonzeros": _fmt(nonzero / 1e6, 1),
            "nonzeros-exact": MISSING if pd.isna(nonzero) else _thousands(nonzero),
            "nonzeros-pct": _fmt(pct, 1),
            "sparsity": _fmt(100 * value[PARAMS.encoder_sparsity], 1),
            "target-sparsity": _fmt(100 * value[PARAMS.target_sparsity], 1),
            "layers": MISSING if pd.isna(value[PARAMS.layers]) else str(int(value[PARAMS.layers])),
            "megabytes": _fmt(value[PARAMS.size_bytes] / 1e6, 1),
        }
        for word, text in row.items():
            out.add(macro_name(word, role), text)
        rows[role] = row
    drops = [role_name("drop", k) for k in range(1, len(roles.pairs) + 1)]
    for word in ("params", "nonzeros-pct", "layers"):
        out.add(macro_name(word, "drop-list"), and_list([rows[r][word] for r in drops]))
    for schedule in SCHEDULES:
        matched = [
            role_name(schedule, "match", k)
            for k, pair in enumerate(roles.pairs, 1)
            if schedule in pair.pruned
        ]
        out.add(
            macro_name("sparsity", schedule, "match-list"),
            and_list([rows[r]["sparsity"] for r in matched]),
        )


def _efficiency_macros(out: MacroSet, roles: Roles, efficiency: pd.DataFrame) -> None:
    out.comment("efficiency: throughput in pairs/s, speedup = throughput ratio to full, latency ms")
    rows = efficiency.drop_duplicates(EFFICIENCY.model).set_index(EFFICIENCY.model)
    columns = (
        (EFFICIENCY.throughput_pairs_per_s, "throughput", 1),
        (EFFICIENCY.pairs_per_s_ratio, "speedup", 2),
        (EFFICIENCY.latency_ms, "latency", 1),
    )
    for role, run in roles.runs.items():
        if run not in rows.index:
            continue
        for column, word, decimals in columns:
            if column in rows.columns and pd.notna(rows.at[run, column]):
                out.add(macro_name(word, role), f"{float(rows.at[run, column]):.{decimals}f}")
    drops = [p.drop for p in roles.pairs]
    if drops and all(r in rows.index for r in drops):
        ratio = EFFICIENCY.pairs_per_s_ratio
        out.add("speedupDropList", and_list([f"{float(rows.at[r, ratio]):.2f}" for r in drops]))
    # The arithmetic the models were timed (and scored) in: `precision: auto` resolves per
    # machine, so the paper names what this machine used, with its device.
    for column, name in (
        (EFFICIENCY.precision, "scoringPrecision"),
        (EFFICIENCY.device, "scoringDevice"),
    ):
        if FULL in rows.index and column in rows.columns and pd.notna(rows.at[FULL, column]):
            out.add(name, latex_escape(str(rows.at[FULL, column])))
    # What bf16 arithmetic can gain at most over the fp32 peer on this machine, measured in the
    # peer's job: the paper sets the bf16 path's lead over the peer against it.
    if (value := _peer_measure(efficiency, EFFICIENCY.bf16_matmul_speedup)) is not None:
        out.add("bfMatmulSpeedup", f"{value:.2f}")


def _peer_measure(efficiency: pd.DataFrame | None, column: str) -> float | None:
    """What ``column`` holds in the peer's row of the efficiency table (measured in the peer's
    job), or None where there is no such row, column or value."""
    if efficiency is None or column not in efficiency.columns:
        return None
    for run, value in zip(efficiency[EFFICIENCY.model], efficiency[column], strict=True):
        if parse_run(run).peer and pd.notna(value):
            return float(value)
    return None


def _deployment_row_macros(out: MacroSet, name: str, row: Mapping | None) -> None:
    """``<name>Run``, ``<name>Speedup`` and ``<name>Loss`` of one deployment-table row."""
    out.add(name + "Run", _tt(row[DEPLOYMENT.run]) if row is not None else MISSING)
    for suffix, column, decimals in (
        ("Speedup", DEPLOYMENT.speedup, RATIO_DECIMALS),
        ("Loss", DEPLOYMENT.loss_pct, LOSS_DECIMALS),
    ):
        value = row[column] if row is not None else float("nan")
        out.add(name + suffix, MISSING if pd.isna(value) else f"{value:.{decimals}f}")


def _deployment_macros(
    out: MacroSet,
    deployment: pd.DataFrame | None,
    efficiency: pd.DataFrame | None,
    target: Mapping,
) -> None:
    """The deployment target and how close the timed rows come to it (the deployment table,
    :func:`slimrank.tables.deployment_table`, fastest first), and the peer's row of the
    efficiency table; every macro exists in every build, counts as integers, so that the text
    can test them with ``\\ifnum``."""
    out.comment("deployment: every timed model x precision against the target")
    out.add("targetSpeedup", f"{target['speedup']:g}")
    out.add("targetMaxLoss", f"{target['max_loss_pct']:g}")
    table = deployment if deployment is not None else pd.DataFrame(columns=list(DEPLOYMENT))
    rows = table.to_dict("records")
    out.add("deploymentRowCount", str(len(rows)))
    met = [r for r in rows if r[DEPLOYMENT.meets_target]]
    out.add("targetMetCount", str(len(met)))
    out.add("targetMetList", and_list([_tt(r[DEPLOYMENT.run]) for r in met]) if met else MISSING)
    within = [r for r in rows if r[DEPLOYMENT.loss_pct] <= target["max_loss_pct"]]
    fast = [r for r in rows if r[DEPLOYMENT.speedup] >= target["speedup"]]
    out.add("targetAtSpeedCount", str(len(fast)))
    _deployment_row_macros(out, "targetFastestWithin", within[0] if within else None)
    least_loss = min(fast, key=lambda r: r[DEPLOYMENT.loss_pct]) if fast else None
    _deployment_row_macros(out, "targetBestAtSpeed", least_loss)
    _deployment_row_macros(out, "deploymentFastest", rows[0] if rows else None)
    # Speed against FLOPs for the smaller dense models: the speedup over the full model timed
    # in the same arithmetic (so that bf16 or int8 gains do not count), beside the FLOPs ratio.
    by_run = {r[DEPLOYMENT.run]: r for r in rows}
    follows = []
    for r in rows:
        info = parse_run(r[DEPLOYMENT.run])
        if info.peer or not r[DEPLOYMENT.flops_ratio] > 1.005:
            continue
        full = by_run.get(precision_name(FULL, info.precision) if info.precision else FULL)
        if full is None or not full[DEPLOYMENT.speedup] > 0:
            continue
        same = r[DEPLOYMENT.speedup] / full[DEPLOYMENT.speedup]
        follows.append(
            rf"{_tt(r[DEPLOYMENT.run])} {same:.2f}$\times$ for "
            rf"{r[DEPLOYMENT.flops_ratio]:.2f}$\times$ fewer FLOPs"
        )
    out.add("speedFlopsCount", str(len(follows)))
    out.add("speedFlopsList", and_list(follows) if follows else MISSING)
    # The peer (sentence-transformers) against the project's scoring of the same model: its
    # lead in the plain runs' precision is timed in the peer's own job (a same-job ratio).
    peer = next((r for r in rows if parse_run(r[DEPLOYMENT.run]).peer), None)
    full = by_run.get(FULL)
    out.add("peerCount", "1" if peer is not None else "0")
    out.add("peerSpeedup", f"{peer[DEPLOYMENT.speedup]:.2f}" if peer is not None else MISSING)
    ratio = _peer_measure(efficiency, EFFICIENCY.scoring_over_peer) if peer is not None else None
    out.add("fullOverPeer", f"{ratio:.2f}" if ratio is not None else MISSING)
    out.add("fullPrecision", latex_escape(full[DEPLOYMENT.precision]) if full else MISSING)


# ----------------------------------------------------------------------------- entry point
def _seed_macros(out: MacroSet, roles: Roles, metrics, split: str, metric: str) -> None:
    """The seed spread on the main split: seeds of the full model and of the focus pair
    (layer drop and one-shot), the full model's sd of the primary metric, and a sentence
    that reads whether the pair's difference exceeds the seeds' spread."""
    out.comment("seeds: how many, and the spread over them (main split, primary metric)")
    sd, seeds = split_spread(metrics, split)
    values = split_values(metrics, split)

    def spread(run):
        value = sd[metric].get(run) if run in sd.index and metric in sd.columns else None
        return None if value is None or pd.isna(value) else float(value)

    out.add("seedsFull", str(int(seeds.get(FULL, 1))))
    # Training seeds per model (BM25 and reference runs have none): the range over the study.
    models = [int(seeds[r]) for r in seeds.index if parse_run(r).kind != "first-stage"]
    out.add("seedsMin", str(min(models, default=1)))
    out.add("seedsMax", str(max(models, default=1)))
    out.add("sdFullPrimary", _fmt(spread(FULL), DECIMALS))
    focus = roles.focus
    pruned = focus.pruned.get("oneshot") if focus else None
    pair = [focus.drop, pruned] if focus and pruned else []
    out.add("seedsFocusPair", str(min((int(seeds.get(r, 1)) for r in pair), default=1)))
    sds = [spread(r) for r in pair]
    if not pair or None in sds or any(r not in values.index for r in pair):
        out.add("seedSpreadSentence", "Each model of this comparison was trained with one seed.")
        return
    gap = abs(values.at[pruned, metric] - values.at[focus.drop, metric])
    verdict = "exceeds" if gap > max(sds) else "does not exceed"
    out.add(
        "seedSpreadSentence",
        f"Over {min(int(seeds[r]) for r in pair)} seeds the {focus.layers}-layer pair's "
        f"difference in {latex_escape(metric_label(metric))} ({_fmt(gap, DECIMALS)}) {verdict} "
        f"the larger standard deviation over seeds of the two models ({_fmt(max(sds), DECIMALS)}).",
    )


#: How the text names each distillation loss (slimrank.losses.KD_LOSSES).
KD_LOSS_TEXT = {
    "margin_mse": r"MarginMSE~\citep{hofstatter2020improving}",
    "listwise_kl": r"a listwise KL divergence between the group softmaxes",
}


def _distillation_macros(out: MacroSet, distillation: Mapping | None) -> None:
    """The distillation recipe of the config, in words (the same for every student)."""
    out.comment("distillation: the loss and its mix with the label loss")
    settings = dict(distillation or {})
    loss = settings.get("loss", "margin_mse")
    text = KD_LOSS_TEXT.get(loss, latex_escape(str(loss)))
    if loss == "listwise_kl":
        text += f" at temperature {float(settings.get('temperature', 1.0)):g}"
    out.add("kdLoss", text)
    kd, label = float(settings.get("kd_weight", 1.0)), float(settings.get("label_weight", 0.0))
    out.add(
        "kdMix",
        "alone, without the label loss"
        if label == 0
        else f"weighted {kd:g} and mixed with the label loss weighted {label:g}",
    )


def numbers_macros(
    metrics: pd.DataFrame,
    params: pd.DataFrame | None,
    significance: pd.DataFrame | None = None,
    efficiency: pd.DataFrame | None = None,
    *,
    test_splits: Sequence[str],
    main_split: str,
    text_metrics: Sequence[str],
    alpha: float = ALPHA,
    counts: Mapping[str, int] | None = None,
    distillation: Mapping | None = None,
    deployment: pd.DataFrame | None = None,
    target: Mapping | None = None,
) -> str:
    """Every number the paper quotes as ``\\newcommand`` lines, named by role (module doc).

    ``test_splits`` are the splits the models are evaluated on (config order), ``main_split``
    the one the text discusses (``paper.split``), ``text_metrics`` the metrics it quotes
    (``paper.figure_metrics``). ``counts`` become ``count<Key>`` (thousands separated);
    ``distillation`` is the config's section of that name (the recipe the text describes);
    ``deployment`` the deployment table (:func:`slimrank.tables.deployment_table`) and
    ``target`` the config's ``paper.deployment_target`` it was made against.
    """
    out = MacroSet()
    out.comment("Generated by slimrank.macros.numbers_macros; do not edit.")
    tested = metrics[metrics[METRICS.split].isin(test_splits)]
    roles = study_roles(list(dict.fromkeys(tested[METRICS.run])))
    _study_macros(out, roles, metrics, test_splits, main_split, text_metrics)
    _by_split_macros(out, roles, metrics, test_splits, text_metrics)
    _split_macros(out, "main", main_split, roles, metrics, significance, text_metrics, alpha)
    for i, split in enumerate(test_splits, 1):
        prefix = macro_name("split", i)
        _split_macros(out, prefix, split, roles, metrics, significance, text_metrics, alpha)
    _seed_macros(out, roles, metrics, main_split, text_metrics[0])
    _distillation_macros(out, distillation)
    _params_macros(out, roles, params)
    if efficiency is not None and not efficiency.empty:
        _efficiency_macros(out, roles, efficiency)
    _deployment_macros(out, deployment, efficiency, {**DEPLOYMENT_TARGET, **(target or {})})
    if counts:
        out.comment("counts")
        for key, n in counts.items():
            out.add(macro_name("count", key), _thousands(n))
    return out.text()
