"""Teacher scores for knowledge distillation: the fine-tuned full model scores, once, every
training pair a distilled student will draw, and every student of that seed reads them from
one file.

The file of a training seed (``results/distill/seed{seed}/teacher_scores.tsv``) has a header
and one ``qid docid score`` row per pair; scores are the float32 logits of
:meth:`slimrank.rerank.Reranker.score`, written with ``repr`` so that reading them back gives
the same float32 values.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence

from slimrank.pairs import TrainingGroup
from slimrank.rerank import Reranker
from slimrank.training import TrainSettings
from slimrank.trec import atomic_output

TEACHER_COLUMNS = ("qid", "docid", "score")


def drawn_pairs(
    groups: Sequence[TrainingGroup], settings: Iterable[TrainSettings]
) -> list[tuple[str, str]]:
    """The ``(qid, docid)`` pairs of every group any of the runs with ``settings`` draws
    (:meth:`TrainSettings.groups_drawn`, what the training loop draws), without repeats, in
    group order."""
    drawn: set[int] = set()
    for run in settings:
        drawn.update(run.groups_drawn(len(groups)))
    pairs = dict.fromkeys(
        (groups[i].qid, d)
        for i in sorted(drawn)
        for d in (groups[i].positive, *groups[i].negatives)
    )
    return list(pairs)


def score_teacher(
    reranker: Reranker,
    pairs: Sequence[tuple[str, str]],
    queries: Mapping[str, str],
    collection: Mapping[str, str],
    batch_size: int,
) -> dict[tuple[str, str], float]:
    """The teacher's float32 logit of each ``(qid, docid)`` pair."""
    scores = reranker.score(
        [(queries[q], collection[d]) for q, d in pairs], batch_size=batch_size, progress=False
    )
    return dict(zip(pairs, scores, strict=True))


def write_teacher_scores(scores: Mapping[tuple[str, str], float], path: str | os.PathLike) -> None:
    with atomic_output(path) as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow(TEACHER_COLUMNS)
        for (qid, docid), score in scores.items():
            writer.writerow((qid, docid, repr(float(score))))


def read_teacher_scores(path: str | os.PathLike) -> dict[tuple[str, str], float]:
    with open(path, newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader)
        if tuple(header) != TEACHER_COLUMNS:
            raise ValueError(f"{path}: header {header}, expected {list(TEACHER_COLUMNS)}")
        return {(qid, docid): float(score) for qid, docid, score in reader}
