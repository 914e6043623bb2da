"""Score query-passage pairs with a cross-encoder and rerank first-stage candidates.

Scores are deterministic: the same model and candidates give the same batches (pairs sorted
by length with ties by input position), the same padding, hence bitwise the same logits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from slimrank.models import encode_pairs
from slimrank.trec import Run, ranked


def _model_device(model: PreTrainedModel) -> torch.device:
    return next(model.parameters()).device


def score_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int,
    max_length: int,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> list[float]:
    """Relevance logits for ``(query, passage)`` pairs, returned in input order.

    Pairs are batched by character length (a cheap proxy for token length) so that each batch
    pads little; that is the main speed lever on CPU. The model must already be on ``device``
    (``None``: the model's device); its train/eval mode is restored afterwards, so the trainer
    can evaluate mid-training.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = _model_device(model) if device is None else torch.device(device)
    order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][0]) + len(pairs[i][1]), i))
    scores = [0.0] * len(pairs)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            starts = range(0, len(order), batch_size)
            for start in tqdm(starts, desc="scoring", unit="batch", disable=not progress):
                index = order[start : start + batch_size]
                batch = encode_pairs(
                    tokenizer,
                    [pairs[i][0] for i in index],
                    [pairs[i][1] for i in index],
                    max_length,
                ).to(device)
                logits = model(**batch).logits.squeeze(-1).float().cpu().tolist()
                for i, value in zip(index, logits, strict=True):
                    scores[i] = float(value)
    finally:
        model.train(was_training)
    return scores


def rerank_run(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    run: Mapping[str, Mapping[str, float]],
    queries: Mapping[str, str],
    collection: Mapping[str, str],
    *,
    depth: int,
    batch_size: int,
    max_length: int,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Run:
    """Rescore each query's ``depth`` best first-stage documents; return only those.

    Candidates are taken by first-stage rank (score descending, ties by docid, as
    :func:`slimrank.trec.ranked`). All pairs of all queries are scored together so the length
    batching works across queries. A query or passage id without text raises ``KeyError``
    naming it: a silently dropped candidate would bias every metric.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    keys: list[tuple[str, str]] = []
    pairs: list[tuple[str, str]] = []
    for qid in sorted(run):
        if qid not in queries:
            raise KeyError(f"query {qid!r} of the run has no text")
        for docid, _ in ranked(run[qid])[:depth]:
            if docid not in collection:
                raise KeyError(f"document {docid!r} (query {qid!r}) is not in the collection")
            keys.append((qid, docid))
            pairs.append((queries[qid], collection[docid]))
    scores = score_pairs(
        model,
        tokenizer,
        pairs,
        batch_size=batch_size,
        max_length=max_length,
        device=device,
        progress=progress,
    )
    out: Run = {}
    for (qid, docid), score in zip(keys, scores, strict=True):
        out.setdefault(qid, {})[docid] = score
    return out
