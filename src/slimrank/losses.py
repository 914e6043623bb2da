"""Training losses of a cross-encoder over training groups (a positive and its negatives).

Every logit comes from :meth:`slimrank.rerank.Reranker.logits`, the forward pass scoring uses,
so the model trains on exactly the inputs (tokenization, truncation, precision) it is later
scored on.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from slimrank.pairs import TrainingGroup
from slimrank.rerank import Reranker

LOSSES = ("bce", "lce")
#: Distillation losses: the student's scores of a group against the teacher's.
KD_LOSSES = ("margin_mse", "listwise_kl")


def pair_logits(
    reranker: Reranker,
    texts_q: Sequence[str],
    texts_p: Sequence[str],
    forward_pairs: int | None,
) -> torch.Tensor:
    """One float32 logit per pair, in the order given, with gradients.

    With ``forward_pairs`` the pairs are scored in chunks of that many pairs of similar length
    (each chunk padded to its own longest pair) and the logits put back in order.
    """
    n = len(texts_q)
    if forward_pairs is None or forward_pairs >= n:
        return reranker.logits(texts_q, texts_p)
    encoded = reranker.tokenizer(
        list(texts_q), list(texts_p), truncation="longest_first", max_length=reranker.max_length
    )
    order = sorted(range(n), key=lambda i: len(encoded["input_ids"][i]))
    parts = []
    for start in range(0, n, forward_pairs):
        index = order[start : start + forward_pairs]
        parts.append(reranker.logits([texts_q[i] for i in index], [texts_p[i] for i in index]))
    # argsort of a permutation is its inverse: where each pair went in the sorted order.
    inverse = torch.argsort(torch.tensor(order)).to(reranker.device)
    return torch.cat(parts)[inverse]


def group_loss(
    reranker: Reranker,
    batch: Sequence[TrainingGroup],
    queries: Mapping[str, str],
    collection: Mapping[str, str],
    *,
    loss: str,
    forward_pairs: int | None = None,
    distill: Distillation | None = None,
) -> tuple[torch.Tensor, int]:
    """Loss of one micro-batch of groups and the number of pairs it scored.

    ``bce``: every (query, passage) pair is a binary example, label 1 for the positive.
    ``lce``: each group is one softmax over ``[positive] + negatives``, cross-entropy on the
    positive (localized contrastive estimation; groups may differ in size).
    With ``distill`` the loss is ``label_weight * label loss + kd_weight * distillation loss``
    against the teacher's scores of the same pairs (:func:`kd_loss`).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    texts_q: list[str] = []
    texts_p: list[str] = []
    sizes: list[int] = []
    for group in batch:
        docids = (group.positive, *group.negatives)
        texts_q.extend([queries[group.qid]] * len(docids))
        texts_p.extend(collection[d] for d in docids)
        sizes.append(len(docids))
    logits = pair_logits(reranker, texts_q, texts_p, forward_pairs)
    value = label_loss(logits, sizes, loss)
    if distill is not None:
        teacher = torch.tensor(distill.teacher_scores(batch), device=logits.device)
        value = distill.label_weight * value + distill.kd_weight * kd_loss(
            logits, teacher, sizes, distill.loss, distill.temperature
        )
    return value, len(texts_q)


def label_loss(logits: torch.Tensor, sizes: Sequence[int], loss: str) -> torch.Tensor:
    """``bce`` or ``lce`` of groups of ``sizes`` logits each, the positive first."""
    if loss == "bce":
        labels = torch.zeros_like(logits)
        labels[list(itertools.accumulate([0, *sizes[:-1]]))] = 1.0  # positives come first
        return F.binary_cross_entropy_with_logits(logits, labels)
    per_group = [-torch.log_softmax(chunk, dim=0)[0] for chunk in logits.split(sizes)]
    return torch.stack(per_group).mean()


def kd_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    sizes: Sequence[int],
    loss: str,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Distillation loss of groups of ``sizes`` scores each (positive first), a mean over groups.

    ``margin_mse`` (Hofstätter et al. 2020): the mean over a group's negatives of
    ``((s_pos - s_neg) - (t_pos - t_neg))^2``, so only score differences are taught.
    ``listwise_kl``: ``T^2 * KL(softmax(t / T) || softmax(s / T))`` over the group (Hinton et
    al.: the ``T^2`` keeps gradients of the same size for any temperature).
    """
    if loss not in KD_LOSSES:
        raise ValueError(f"distillation loss must be one of {KD_LOSSES}, got {loss!r}")
    per_group = []
    for s, t in zip(student.split(list(sizes)), teacher.split(list(sizes)), strict=True):
        if loss == "margin_mse":
            per_group.append((((s[0] - s[1:]) - (t[0] - t[1:])) ** 2).mean())
        else:
            log_p_teacher = torch.log_softmax(t / temperature, dim=0)
            log_p_student = torch.log_softmax(s / temperature, dim=0)
            kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum()
            per_group.append(temperature**2 * kl)
    return torch.stack(per_group).mean()


@dataclass(frozen=True)
class Distillation:
    """How a student learns from the teacher: the teacher's score of every pair it may draw
    (``(qid, docid)`` keys) and the weights of the mix with the label loss."""

    scores: Mapping[tuple[str, str], float]
    loss: str = "margin_mse"
    temperature: float = 1.0
    kd_weight: float = 1.0
    label_weight: float = 0.0

    def teacher_scores(self, batch: Sequence[TrainingGroup]) -> list[float]:
        """The teacher's scores of the batch's pairs, in :func:`group_loss` order."""
        keys = [(g.qid, d) for g in batch for d in (g.positive, *g.negatives)]
        missing = [k for k in keys if k not in self.scores]
        if missing:
            raise KeyError(
                f"the teacher scores have no score for {len(missing)} pairs of this batch "
                f"(e.g. query {missing[0][0]}, passage {missing[0][1]}): they were made for "
                "fewer steps, another seed or other groups; rerun the teacher_scores rule"
            )
        return [self.scores[k] for k in keys]
