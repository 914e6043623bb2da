"""Training groups for the cross-encoder: one judged positive with BM25 hard negatives.

A :class:`TrainingGroup` is the unit the trainer consumes: with the ``lce`` loss it is one
softmax over ``[positive] + negatives``; with ``bce`` it is 1 + n labelled pairs.

Sampling is deterministic and independent of dict iteration order: queries and documents are
sorted before sampling, and each query draws from its own ``random.Random`` seeded with
``f"{seed}:{qid}"`` (string seeds are hashed with SHA-512, so they do not depend on
``PYTHONHASHSEED``). A per-query generator also means a query's negatives do not change when
other queries are added or dropped.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from slimrank.trec import atomic_output, ranked

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingGroup:
    """One query, one relevant passage and the sampled non-relevant passages (docids)."""

    qid: str
    positive: str
    negatives: tuple[str, ...]


@dataclass
class SamplingStats:
    """What :func:`sample_training_groups` did, for the log: skipped queries are not errors."""

    queries: int = 0
    groups: int = 0
    skipped_no_positive: list[str] = field(default_factory=list)
    skipped_no_negative: list[str] = field(default_factory=list)
    short_groups: int = 0  # groups with fewer negatives than asked (shallow BM25 list)

    def summary(self) -> str:
        return (
            f"{self.groups} training groups from {self.queries} judged queries; skipped "
            f"{len(self.skipped_no_positive)} without a positive in the collection and "
            f"{len(self.skipped_no_negative)} without BM25 negatives; "
            f"{self.short_groups} groups with fewer negatives than asked"
        )


def sample_training_groups(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    *,
    negatives_per_positive: int,
    negative_depth: int,
    seed: int,
    min_grade: int = 1,
    collection_ids: Collection[str] | None = None,
    stats: SamplingStats | None = None,
    log: Callable[[str], None] | None = None,
) -> list[TrainingGroup]:
    """Pair every judged positive with negatives sampled from the query's BM25 top ranks.

    Positives: judged documents with ``grade >= min_grade`` (and in ``collection_ids`` when
    given). Negatives: drawn without replacement from the ``negative_depth`` best BM25 documents
    (BM25 rank, ties by docid), never a document judged relevant: anything with a grade above 0
    or at least ``min_grade`` is excluded, so a partially relevant passage is never taught as a
    negative. A query whose run has fewer candidates than ``negatives_per_positive`` gets them
    all (counted as short groups). Queries without a positive or without candidates are skipped,
    counted in ``stats`` (when passed) and reported through ``log`` (default: this module's
    logger).

    Groups come out sorted by qid, then positive docid.
    """
    if negatives_per_positive < 1:
        raise ValueError(f"negatives_per_positive must be >= 1, got {negatives_per_positive}")
    if negative_depth < 1:
        raise ValueError(f"negative_depth must be >= 1, got {negative_depth}")
    stats = stats if stats is not None else SamplingStats()
    in_collection = (lambda _: True) if collection_ids is None else collection_ids.__contains__

    groups: list[TrainingGroup] = []
    for qid in sorted(qrels):
        stats.queries += 1
        judged = qrels[qid]
        positives = sorted(
            d for d, grade in judged.items() if grade >= min_grade and in_collection(d)
        )
        if not positives:
            stats.skipped_no_positive.append(qid)
            continue
        relevant = {d for d, grade in judged.items() if grade > 0 or grade >= min_grade}
        top = [d for d, _ in ranked(run.get(qid, {}))[:negative_depth]]
        candidates = sorted(d for d in top if d not in relevant and in_collection(d))
        if not candidates:
            stats.skipped_no_negative.append(qid)
            continue
        rng = random.Random(f"{seed}:{qid}")
        k = min(negatives_per_positive, len(candidates))
        for positive in positives:
            if k < negatives_per_positive:
                stats.short_groups += 1
            groups.append(TrainingGroup(qid, positive, tuple(rng.sample(candidates, k))))
    stats.groups = len(groups)
    (log or logger.info)(stats.summary())
    return groups


def write_groups(groups: list[TrainingGroup], path: str | os.PathLike) -> None:
    """Write groups as JSON lines (atomically), so sampling can be its own workflow step."""
    with atomic_output(path) as out:
        for group in groups:
            record = {"qid": group.qid, "pos": group.positive, "negs": list(group.negatives)}
            out.write(json.dumps(record) + "\n")


def read_groups(path: str | os.PathLike) -> list[TrainingGroup]:
    """Read groups written by :func:`write_groups`."""
    groups = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                groups.append(
                    TrainingGroup(
                        str(record["qid"]), str(record["pos"]), tuple(map(str, record["negs"]))
                    )
                )
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{path}:{lineno}: not a training group: {err}") from None
    return groups
