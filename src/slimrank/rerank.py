"""Score query-passage pairs with a cross-encoder and rerank first-stage candidates.

Scores are deterministic: the same model and candidates give the same batches (pairs sorted
by length with ties by input position), the same padding, hence bitwise the same logits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from slimrank.models import autocast, encode_pairs
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
    precision: str = "fp32",
    progress: bool = True,
) -> list[float]:
    """Relevance logits for ``(query, passage)`` pairs, returned in input order.

    Pairs are batched by character length (a cheap proxy for token length) so that each batch
    pads little; that is the main speed lever on CPU. The model must already be on ``device``
    (``None``: the model's device); its train/eval mode is restored afterwards, so the trainer
    can evaluate mid-training. ``precision`` is a resolved one (``fp32`` or ``bf16`` autocast,
    :func:`slimrank.models.resolve_precision`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = _model_device(model) if device is None else torch.device(device)
    order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][0]) + len(pairs[i][1]), i))
    scores = [0.0] * len(pairs)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast(device, precision):
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
    precision: str = "fp32",
    progress: bool = True,
) -> Run:
    """Rescore each query's ``depth`` best first-stage documents; return only those.

    Candidates are taken by first-stage rank (score descending, ties by docid, as
    :func:`slimrank.trec.ranked`). Each query's pairs are batched on their own (sorted by
    length): a query's scores then never depend on which other queries are scored with it,
    so a run scored in shards merges into exactly the run scored whole. A query or passage id
    without text raises ``KeyError`` naming it: a silently dropped candidate would bias every
    metric.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    for qid in run:
        if qid not in queries:
            raise KeyError(f"query {qid!r} of the run has no text")
        for docid, _ in ranked(run[qid])[:depth]:
            if docid not in collection:
                raise KeyError(f"document {docid!r} (query {qid!r}) is not in the collection")
    out: Run = {}
    for qid in tqdm(sorted(run), desc="reranking", unit="query", disable=not progress):
        docids = [docid for docid, _ in ranked(run[qid])[:depth]]
        scores = score_pairs(
            model,
            tokenizer,
            [(queries[qid], collection[docid]) for docid in docids],
            batch_size=batch_size,
            max_length=max_length,
            device=device,
            precision=precision,
            progress=False,
        )
        out[qid] = dict(zip(docids, scores, strict=True))
    return out


def shard_of(run: Mapping[str, Mapping[str, float]], shard: int, shards: int) -> Run:
    """Queries ``shard``, ``shard + shards``, ... of the run in sorted qid order (0-based)."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not in 0..{shards - 1}")
    qids = sorted(run)[shard::shards]
    return {qid: dict(run[qid]) for qid in qids}


def merge_shards(parts: Sequence[Mapping[str, Mapping[str, float]]]) -> Run:
    """Union of shard runs; a query in two shards is an error."""
    merged: Run = {}
    for part in parts:
        for qid, docs in part.items():
            if qid in merged:
                raise ValueError(f"query {qid} is in two shards")
            merged[qid] = dict(docs)
    return merged


def append_first_stage_tail(reranked: Run, first_stage: Mapping[str, Mapping[str, float]]) -> Run:
    """Put each query's first-stage documents that were not reranked below the reranked ones.

    Reranking the top ``depth`` of a deeper BM25 ranking leaves the rest in BM25 order, so
    Recall@1000 of a reranked run is that of BM25 (as monoBERT reports it) rather than being
    cut at ``depth``. Tail scores are ``min(reranked) - rank``: strictly below every reranked
    score and in first-stage order.
    """
    out: Run = {}
    for qid, docs in first_stage.items():
        head = dict(reranked.get(qid, {}))
        floor = min(head.values(), default=0.0)
        tail = [docid for docid, _ in ranked(docs) if docid not in head]
        for rank, docid in enumerate(tail, start=1):
            head[docid] = floor - rank
        out[qid] = head
    return out
