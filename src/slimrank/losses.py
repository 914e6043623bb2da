"""Training losses of a cross-encoder over training groups (a positive and its negatives).

Every logit comes from :meth:`slimrank.rerank.Reranker.logits`, the forward pass scoring uses,
so the model trains on exactly the inputs (tokenization, truncation, precision) it is later
scored on.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from slimrank.pairs import TrainingGroup
from slimrank.rerank import Reranker

LOSSES = ("bce", "lce")


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
) -> tuple[torch.Tensor, int]:
    """Loss of one micro-batch of groups and the number of pairs it scored.

    ``bce``: every (query, passage) pair is a binary example, label 1 for the positive.
    ``lce``: each group is one softmax over ``[positive] + negatives``, cross-entropy on the
    positive (localized contrastive estimation; groups may differ in size).
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
    if loss == "bce":
        labels = torch.zeros_like(logits)
        labels[list(itertools.accumulate([0, *sizes[:-1]]))] = 1.0  # positives come first
        value = F.binary_cross_entropy_with_logits(logits, labels)
    else:
        per_group = [-torch.log_softmax(chunk, dim=0)[0] for chunk in logits.split(sizes)]
        value = torch.stack(per_group).mean()
    return value, len(texts_q)
