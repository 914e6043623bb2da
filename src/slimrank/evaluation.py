"""Effectiveness with ranx: metrics per run, and paired significance tests between runs.

TREC DL grades passages 0-3 and counts grade >= 2 as relevant for binary metrics (MRR, Recall,
MAP) while nDCG uses the grades as they are. ranx's ``set_relevance_level`` shifts every grade
down, which would change nDCG, so graded and binary metrics are computed on two qrels objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import ranx
from ranx.statistical_tests import paired_student_t_test

from slimrank.study import METRICS, SIGNIFICANCE
from slimrank.trec import Qrels, Run

GRADED_METRICS = {"ndcg", "ndcg_burges", "dcg", "dcg_burges"}


def is_graded(metric: str) -> bool:
    return metric.split("@")[0] in GRADED_METRICS


def ranx_qrels(qrels: Qrels, relevance_level: int, graded: bool) -> ranx.Qrels:
    """A ranx Qrels for graded metrics (grades untouched) or binary ones (grade >= level)."""
    out = ranx.Qrels({q: dict(docs) for q, docs in qrels.items()})
    if not graded and relevance_level > 1:
        out.set_relevance_level(relevance_level)
    return out


def ranx_run(run: Run, name: str) -> ranx.Run:
    out = ranx.Run({q: dict(docs) for q, docs in run.items()}, name=name)
    return out


def _split_metrics(metrics: Sequence[str]) -> dict[bool, list[str]]:
    groups: dict[bool, list[str]] = {True: [], False: []}
    for metric in metrics:
        groups[is_graded(metric)].append(metric)
    return {graded: ms for graded, ms in groups.items() if ms}


def evaluate_runs(
    qrels: Qrels, runs: Mapping[str, Run], metrics: Sequence[str], relevance_level: int
) -> pd.DataFrame:
    """Mean of each metric for each run over the queries of ``qrels``.

    Queries a run misses count as zero; run queries without qrels are ignored (ranx
    ``make_comparable``). Returns a tidy frame: run, metric, value, queries (the columns of
    :data:`slimrank.study.METRICS` but the split, which the caller adds).
    """
    rows = []
    for name, run in runs.items():
        for graded, group in _split_metrics(metrics).items():
            scores = ranx.evaluate(
                ranx_qrels(qrels, relevance_level, graded),
                ranx_run(run, name),
                list(group),
                make_comparable=True,
            )
            if len(group) == 1:
                scores = {group[0]: scores}
            for metric in group:
                rows.append((name, metric, float(scores[metric]), len(qrels)))
    columns = [METRICS.run, METRICS.metric, METRICS.value, METRICS.queries]
    frame = pd.DataFrame(rows, columns=columns)
    order = {m: i for i, m in enumerate(metrics)}
    return frame.sort_values(
        [METRICS.run, METRICS.metric],
        key=lambda c: c.map(order) if c.name == METRICS.metric else c,
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, made monotone, capped at 1)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def paired_tests(
    qrels: Qrels,
    runs: Mapping[str, Run],
    metrics: Sequence[str],
    relevance_level: int,
    baseline: str,
) -> pd.DataFrame:
    """Two-sided paired Student's t-test (ranx's) of every run against ``baseline``: runs of
    one seed each (see :func:`seeded_paired_tests`, which this is with one seed).

    Holm's correction is applied per metric over the runs compared with this baseline. Returns
    a tidy frame: the columns of :data:`slimrank.study.SIGNIFICANCE` but the split, which the
    caller adds. Fisher's randomization test is not offered: its p-values vary between calls
    on identical inputs.
    """
    return seeded_paired_tests(
        qrels, {name: {None: run} for name, run in runs.items()}, metrics, relevance_level, baseline
    )


def per_query_scores(qrels: Qrels, run: Run, metric: str, relevance_level: int) -> dict[str, float]:
    """``metric`` of each query of ``qrels`` (a query the run misses scores 0)."""
    scores = ranx.evaluate(
        ranx_qrels(qrels, relevance_level, is_graded(metric)),
        ranx_run(run, "run"),
        metric,
        return_mean=False,
        make_comparable=True,
    )
    return {qid: float(score) for qid, score in zip(sorted(qrels), scores, strict=True)}


def seeded_paired_tests(
    qrels: Qrels,
    runs: Mapping[str, Mapping[int | None, Run]],
    metrics: Sequence[str],
    relevance_level: int,
    baseline: str,
) -> pd.DataFrame:
    """Paired Student's t-test (ranx's, two-sided) of every run against ``baseline`` on the
    per-query scores averaged over each one's seeds (``runs``: name -> seed -> run; seed None
    for a run without one); Holm's correction per metric as :func:`paired_tests`.

    ``seeds_agree`` counts the run's seeds whose own mean difference to the baseline (the
    baseline's same seed where it has one, else its seed average) has the sign of the
    seed-averaged difference; ``seeds`` is the run's seed count. With one seed per run the
    p-values are :func:`paired_tests`' (the same scipy test on the same per-query scores).
    """
    others = [name for name in runs if name != baseline]
    columns = list(SIGNIFICANCE)[1:]  # every column but the split
    if baseline not in runs or not others:
        return pd.DataFrame(columns=columns)
    queries = sorted(qrels)
    rows = []
    for metric in metrics:
        base_by_seed = _seed_scores(qrels, runs[baseline], metric, relevance_level, queries)
        base_mean = pd.DataFrame(base_by_seed).mean(axis=1).to_numpy()
        results = []
        for name in others:
            by_seed = _seed_scores(qrels, runs[name], metric, relevance_level, queries)
            mean = pd.DataFrame(by_seed).mean(axis=1).to_numpy()
            p_value, _ = paired_student_t_test(base_mean, mean)
            sign = _sign(mean.mean() - base_mean.mean())
            agree = sum(
                _sign(sum(v) / len(v) - _mean(base_by_seed.get(seed, base_mean))) == sign
                for seed, v in by_seed.items()
            )
            results.append((name, float(p_value), agree, len(by_seed)))
        adjusted = holm([p for _, p, _, _ in results])
        for (name, p, agree, n), p_holm in zip(results, adjusted, strict=True):
            rows.append((name, baseline, metric, p, p_holm, agree, n))
    return pd.DataFrame(rows, columns=columns)


def _seed_scores(qrels: Qrels, by_seed: Mapping, metric: str, level: int, queries) -> dict:
    """seed -> per-query scores in ``queries`` order (one evaluation per seed's run)."""
    scores = {seed: per_query_scores(qrels, run, metric, level) for seed, run in by_seed.items()}
    return {seed: [per_seed[q] for q in queries] for seed, per_seed in scores.items()}


def _mean(values) -> float:
    return float(sum(values) / len(values))


def _sign(value: float) -> int:
    return int(value > 0) - int(value < 0)
