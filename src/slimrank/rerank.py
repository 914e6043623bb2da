"""Score query-passage pairs with a cross-encoder and rerank first-stage candidates.

A :class:`Reranker` is a loaded cross-encoder with everything its arithmetic depends on: the
tokenizer, the device, the precision and the token budget of a pair. It is the one place that
decides device, precision and int8 quantization (:meth:`Reranker.load`); training validates
with one, the efficiency benchmarks time one and the rerank jobs score with one.

bf16 takes two forms. A model being trained keeps float32 master weights and scores under bf16
autocast; a model loaded to score (:meth:`Reranker.load`) is cast to bf16 once and runs in bf16
throughout: autocast converts the weights at every call and runs layer norm and softmax in
float32, converting activations back and forth. On a 2-core Zen 4 (AVX512-BF16, no AMX) the
cast model scored 6-26% faster than autocast in three one-off probes (256 pairs in batches of
32), 4% faster reranking DL19's BM25 top 10 (``tools/precision_speed.py --depth 10``: 77.3
against 74.1 pairs/s), with logits within 1e-3 of float32 as autocast's.

Scores are deterministic: the same model and candidates give the same batches (pairs sorted
by length with ties by input position), the same padding, hence bitwise the same logits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from slimrank.models import (
    autocast,
    encode_pairs,
    load_cross_encoder,
    pick_device,
    resolve_precision,
)
from slimrank.quantize import is_quantized, quantize_dynamic_int8
from slimrank.trec import Run, ranked


def _model_device(model: PreTrainedModel) -> torch.device:
    return next(model.parameters()).device


def float_dtype(model: torch.nn.Module) -> torch.dtype | None:
    """The dtype of the model's floating parameters (an int8 model keeps float32 ones in its
    embeddings and layer norms); ``None`` if it has none."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), None)


@dataclass
class Reranker:
    """A cross-encoder as it scores: model, tokenizer, device, precision and ``max_length``.

    ``device`` must be where the model already is (it is stored as the model's own device, so
    ``cuda`` reads ``cuda:0``); ``precision`` is resolved here (``auto`` becomes ``fp32`` or
    ``bf16``, :func:`slimrank.models.resolve_precision`); an int8 quantized model runs on the
    CPU in fp32 only. ``bf16`` autocasts a float32 model and runs a bf16 one as it is (a bf16
    model with ``fp32`` is refused: its scores would not be float32 arithmetic).
    ``max_length`` is the token budget of a pair, in training and scoring.
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    precision: str
    max_length: int

    def __post_init__(self) -> None:
        wanted, actual = torch.device(self.device), _model_device(self.model)
        if wanted.type != actual.type or (wanted.index is not None and wanted != actual):
            raise ValueError(f"model is on {actual}, reranker asked for {wanted}: move it first")
        self.device = actual
        self.precision = resolve_precision(self.precision, actual)
        if is_quantized(self.model) and (actual.type != "cpu" or self.precision != "fp32"):
            raise ValueError("an int8 quantized model scores on the CPU in fp32 only")
        dtype = float_dtype(self.model)
        if dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"a reranker runs float32 or bfloat16 weights, not {dtype}")
        if dtype == torch.bfloat16 and self.precision != "bf16":
            raise ValueError("a bfloat16 model scores in bf16 only: ask for precision bf16")
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")

    @classmethod
    def load(
        cls,
        path_or_spec: str | os.PathLike,
        *,
        max_length: int,
        device: str | torch.device = "auto",
        precision: str = "auto",
        int8: bool = False,
    ) -> Reranker:
        """Load a saved cross-encoder onto ``device`` (``auto``: CUDA when present, else CPU).

        ``int8``: int8 quantization (torchao) on load
        (:func:`slimrank.quantize.quantize_dynamic_int8`, deterministic, so no int8 weights are
        ever stored); it is a CPU kernel in float32, so an int8 reranker runs on the CPU in fp32
        whatever ``device`` and ``precision`` say. A ``precision`` that resolves to ``bf16``
        casts the model's weights to bfloat16 (:meth:`for_scoring`).
        """
        if int8:
            model, tokenizer = load_cross_encoder(path_or_spec)
            return cls(
                quantize_dynamic_int8(model), tokenizer, pick_device("cpu"), "fp32", max_length
            )
        target = pick_device(str(device))
        model, tokenizer = load_cross_encoder(path_or_spec, device=target)
        return cls.for_scoring(model, tokenizer, target, precision, max_length)

    @classmethod
    def for_scoring(
        cls,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        device: str | torch.device,
        precision: str,
        max_length: int,
    ) -> Reranker:
        """A reranker of a model that will only score: where ``precision`` resolves to
        ``bf16`` the model is cast to bfloat16 in place (see the module docstring); a model in
        training is wrapped by the constructor instead and keeps its float32 weights."""
        precision = resolve_precision(precision, _model_device(model))  # before the cast
        if precision == "bf16":
            model.to(torch.bfloat16)
        return cls(model, tokenizer, device, precision, max_length)

    def logits(self, queries: Sequence[str], passages: Sequence[str]) -> torch.Tensor:
        """One float32 logit per pair, in order, from one padded batch (gradients as the caller's
        mode has them: training goes through here too, so the model sees the same inputs)."""
        inputs = encode_pairs(self.tokenizer, queries, passages, self.max_length).to(self.device)
        # Autocast only where there are float32 weights to cast (a model in training).
        cast = self.precision if float_dtype(self.model) == torch.float32 else "fp32"
        with autocast(self.device, cast):
            return self.model(**inputs).logits.squeeze(-1).float()

    def score(
        self, pairs: Sequence[tuple[str, str]], *, batch_size: int, progress: bool = True
    ) -> list[float]:
        """Relevance logits for ``(query, passage)`` pairs, returned in input order.

        Pairs are batched by character length (a cheap proxy for token length) so that each
        batch pads little; that is the main speed lever on CPU. The model's train/eval mode is
        restored afterwards, so the trainer can validate mid-training.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][0]) + len(pairs[i][1]), i))
        scores = [0.0] * len(pairs)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                starts = range(0, len(order), batch_size)
                for start in tqdm(starts, desc="scoring", unit="batch", disable=not progress):
                    index = order[start : start + batch_size]
                    logits = self.logits([pairs[i][0] for i in index], [pairs[i][1] for i in index])
                    for i, value in zip(index, logits.cpu().tolist(), strict=True):
                        scores[i] = float(value)
        finally:
            self.model.train(was_training)
        return scores

    def rerank(
        self,
        run: Mapping[str, Mapping[str, float]],
        queries: Mapping[str, str],
        collection: Mapping[str, str],
        *,
        depth: int,
        batch_size: int,
        progress: bool = True,
    ) -> Run:
        """Rescore each query's ``depth`` best first-stage documents; return only those.

        Candidates are taken by first-stage rank (score descending, ties by docid, as
        :func:`slimrank.trec.ranked`). Each query's pairs are batched on their own (sorted by
        length): a query's scores then never depend on which other queries are scored with it,
        so a run scored in shards merges into exactly the run scored whole. A query or passage
        id without text raises ``KeyError`` naming it: a silently dropped candidate would bias
        every metric.
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
            pairs = [(queries[qid], collection[docid]) for docid in docids]
            scores = self.score(pairs, batch_size=batch_size, progress=False)
            out[qid] = dict(zip(docids, scores, strict=True))
        return out


def shard_of(run: Mapping[str, Mapping[str, float]], shard: int, shards: int) -> Run:
    """Queries ``shard``, ``shard + shards``, ... of the run in sorted qid order (0-based)."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not in 0..{shards - 1}")
    qids = sorted(run)[shard::shards]
    return {qid: dict(run[qid]) for qid in qids}


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
