"""Efficiency of reranker variants: measured speed and memory, theoretical FLOPs.

Parameter counts alone do not say whether a compressed model is *faster*: layer dropping
removes whole matmuls, while unstructured pruning leaves the dense matmuls the same size
(zeros are multiplied like any other number) unless a sparse kernel skips them. So the paper
reports, per variant:

* measured reranking **throughput** (pairs/s, through the same
  :meth:`slimrank.rerank.Reranker.score` the workflow reranks with, tokenization included)
  and **latency** of scoring one query's top-k in one call, each as the median and min/max
  over repeats after a warm-up;
* **peak memory** (process peak RSS on CPU, ``torch.cuda.max_memory_allocated`` on CUDA);
* theoretical **FLOPs per pair** (:func:`flops_per_pair`) and the FLOPs a perfect sparse kernel
  would need (:func:`effective_flops`), to set against the measured numbers;
* a direct test of sparse kernels on pruned models (:func:`sparse_linear_speed`).

Timings on a shared machine are noisy; the spread is reported so a reader can see it.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace

import torch
from torch import nn
from transformers import PretrainedConfig

from slimrank.models import bf16_matmul_speedup, resolve_precision
from slimrank.params import count_parameters
from slimrank.quantize import is_quantized
from slimrank.rerank import Reranker, float_dtype
from slimrank.sparse import checkpoint_sizes, sparsify_linears
from slimrank.trec import ranked, read_run, read_tsv_pairs

#: Keys of the dict :func:`benchmark_model` returns (all JSON-ready).
BENCHMARK_KEYS: tuple[str, ...] = (
    "device",
    "torch_version",
    "threads",
    "dtype",
    "precision",
    "n_pairs",
    "batch_size",
    "max_length",
    "mean_tokens",
    "warmup",
    "repeats",
    "throughput_pairs_per_s",
    "throughput_min",
    "throughput_max",
    "throughput_runs",
    "latency_depth",
    "latency_ms",
    "latency_ms_min",
    "latency_ms_max",
    "latency_runs_ms",
    "peak_rss_mb_before",
    "peak_rss_mb",
    "peak_cuda_mb",
)


# ----------------------------------------------------------------------------- helpers
def _model_dtype(model: nn.Module) -> str:
    """``int8`` for a quantized model, else the dtype of its floating parameters."""
    if is_quantized(model):
        return "int8"
    dtype = float_dtype(model)
    return "unknown" if dtype is None else str(dtype).removeprefix("torch.")


@contextmanager
def _torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``num_threads`` intra-op threads (``None``: leave as is), then restore."""
    if num_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _peak_rss_mb() -> float | None:
    """Peak resident set size of this process so far, in MiB (``None`` where unavailable).

    ``ru_maxrss`` is a high-water mark: it never decreases, so it is the process's peak, not
    the benchmark's own allocation. torch's CPU allocator bypasses ``tracemalloc``, and this
    avoids a psutil dependency. Linux reports KiB, macOS bytes.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _score_seconds(reranker: Reranker, pairs: Sequence[tuple[str, str]], batch_size: int) -> float:
    """Wall-clock seconds of one ``Reranker.score`` pass (its ``.cpu()`` synchronises CUDA)."""
    start = time.perf_counter()
    reranker.score(pairs, batch_size=batch_size, progress=False)
    return time.perf_counter() - start


def _mean_tokens(reranker: Reranker, pairs: Sequence[tuple[str, str]]) -> float:
    """Mean unpadded input length (special tokens included) after truncation to ``max_length``."""
    encoded = reranker.tokenizer(
        [q for q, _ in pairs],
        [p for _, p in pairs],
        truncation="longest_first",
        max_length=reranker.max_length,
    )
    return statistics.fmean(len(ids) for ids in encoded["input_ids"])


# ----------------------------------------------------------------------------- measured
def benchmark_model(
    reranker: Reranker,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int,
    repeats: int,
    latency_depth: int,
    warmup: int = 1,
    num_threads: int | None = None,
) -> dict:
    """Measure reranking throughput, top-k latency and peak memory of ``reranker``.

    * Throughput: ``repeats`` timed passes of :meth:`Reranker.score` over all ``pairs`` at
      ``batch_size`` (the workflow's own scoring path: length-sorted batches, tokenization
      included), after ``warmup`` untimed batches; pairs/s as median (``throughput_pairs_per_s``)
      and min/max over the passes, plus every pass in ``throughput_runs``.
    * Latency: scoring the first ``latency_depth`` pairs (one query's top-k) in a single batch,
      ``repeats`` times after ``warmup`` untimed calls; milliseconds, median and min/max. When
      fewer pairs are given, all are used and ``latency_depth`` reports how many.
    * Memory: ``peak_rss_mb`` is the process's peak RSS after the benchmark (a high-water mark
      of the whole process; ``peak_rss_mb_before`` shows it before, so growth means this
      benchmark set a new peak); on CUDA ``peak_cuda_mb`` is ``max_memory_allocated`` during
      the benchmark (``None`` on CPU).
    * Context: ``device``, ``torch_version``, ``threads`` (``torch.get_num_threads()`` during
      the run; ``num_threads`` sets it for the call), ``dtype`` (``int8`` for a quantized
      model, ``bfloat16`` for a bf16 one), ``precision`` (the reranker's resolved precision:
      ``fp32`` or ``bf16``), ``max_length`` and ``mean_tokens`` (mean unpadded pair length).

    Keys are listed in :data:`BENCHMARK_KEYS`; the dict is JSON-ready.
    """
    if not pairs:
        raise ValueError("benchmark_model needs at least one pair")
    if repeats < 1 or warmup < 0 or latency_depth < 1 or batch_size < 1:
        raise ValueError("need repeats >= 1, warmup >= 0, latency_depth >= 1, batch_size >= 1")
    model, device = reranker.model, reranker.device
    precision, max_length = reranker.precision, reranker.max_length
    depth = min(latency_depth, len(pairs))
    latency_pairs = pairs[:depth]
    with _torch_threads(num_threads), torch.inference_mode():
        threads = torch.get_num_threads()
        rss_before = _peak_rss_mb()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(warmup):
            _score_seconds(reranker, pairs[:batch_size], batch_size)
        seconds = [_score_seconds(reranker, pairs, batch_size) for _ in range(repeats)]
        for _ in range(warmup):
            _score_seconds(reranker, latency_pairs, depth)
        latency = [1000.0 * _score_seconds(reranker, latency_pairs, depth) for _ in range(repeats)]
        peak_cuda = (
            torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        )
    throughput = [len(pairs) / s for s in seconds]
    return {
        "device": str(device),
        "torch_version": torch.__version__,
        "threads": threads,
        "dtype": _model_dtype(model),
        "precision": precision,
        "n_pairs": len(pairs),
        "batch_size": batch_size,
        "max_length": max_length,
        "mean_tokens": _mean_tokens(reranker, pairs),
        "warmup": warmup,
        "repeats": repeats,
        "throughput_pairs_per_s": statistics.median(throughput),
        "throughput_min": min(throughput),
        "throughput_max": max(throughput),
        "throughput_runs": throughput,
        "latency_depth": depth,
        "latency_ms": statistics.median(latency),
        "latency_ms_min": min(latency),
        "latency_ms_max": max(latency),
        "latency_runs_ms": latency,
        "peak_rss_mb_before": rss_before,
        "peak_rss_mb": _peak_rss_mb(),
        "peak_cuda_mb": peak_cuda,
    }


def sparse_linear_speed(
    reranker: Reranker,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int,
    repeats: int,
    min_sparsity: float = 0.0,
    rtol: float = 1e-4,
    atol: float = 1e-4,
    num_threads: int | None = None,
) -> dict:
    """Throughput of ``reranker`` with dense kernels against the same model with CSR kernels.

    The encoder Linear layers of a copy of its model are swapped for
    :class:`slimrank.sparse.SparseLinear` (those at least ``min_sparsity`` sparse), which scores
    on the same device, in the same precision. Both models first score all ``pairs`` once: the
    scores must agree within ``|sparse - dense| <= atol + rtol * |dense|`` (only the summation order
    differs), else ``RuntimeError``, because the speed of a wrong computation means nothing;
    that pass also serves as warm-up. Then ``repeats`` timed passes alternate dense and sparse,
    so load from other jobs hits both alike. Reports pairs/s (median, min, max) of both,
    ``speedup`` = sparse median / dense median (below 1: the sparse kernel is slower),
    ``max_abs_diff``, the encoder sparsity and the number of swapped layers.
    """
    if not pairs or repeats < 1:
        raise ValueError("need at least one pair and repeats >= 1")
    model, device, max_length = reranker.model, reranker.device, reranker.max_length
    sparse_model, swapped = sparsify_linears(model, min_sparsity)
    sparse_reranker = replace(reranker, model=sparse_model)
    with _torch_threads(num_threads):
        threads = torch.get_num_threads()
        dense_scores = reranker.score(pairs, batch_size=batch_size, progress=False)
        sparse_scores = sparse_reranker.score(pairs, batch_size=batch_size, progress=False)
        diffs = [abs(s - d) for s, d in zip(sparse_scores, dense_scores, strict=True)]
        bad = [i for i, d in enumerate(diffs) if d > atol + rtol * abs(dense_scores[i])]
        if bad:
            raise RuntimeError(
                f"sparse kernel disagrees with dense on {len(bad)} of {len(pairs)} pairs "
                f"(max |diff| {max(diffs):.3g}, atol {atol}, rtol {rtol})"
            )
        dense_s: list[float] = []
        sparse_s: list[float] = []
        for _ in range(repeats):
            dense_s.append(_score_seconds(reranker, pairs, batch_size))
            sparse_s.append(_score_seconds(sparse_reranker, pairs, batch_size))
    dense = [len(pairs) / s for s in dense_s]
    sparse = [len(pairs) / s for s in sparse_s]
    return {
        "device": str(device),
        "torch_version": torch.__version__,
        "threads": threads,
        "n_pairs": len(pairs),
        "batch_size": batch_size,
        "max_length": max_length,
        "repeats": repeats,
        "encoder_sparsity": count_parameters(model)["encoder_sparsity"],
        "swapped_layers": len(swapped),
        "dense_pairs_per_s": statistics.median(dense),
        "dense_min": min(dense),
        "dense_max": max(dense),
        "sparse_pairs_per_s": statistics.median(sparse),
        "sparse_min": min(sparse),
        "sparse_max": max(sparse),
        "speedup": statistics.median(sparse) / statistics.median(dense),
        "max_abs_diff": max(diffs),
        "rtol": rtol,
        "atol": atol,
    }


# ----------------------------------------------------------------------------- theoretical
def flops_per_pair(config: PretrainedConfig, seq_len: int) -> int:
    """FLOPs (2 x multiply-accumulates) of one BERT cross-encoder forward pass on one pair.

    With ``h`` = hidden size, ``i`` = intermediate size, ``n`` = layers, ``L`` = ``seq_len``
    and ``c`` = ``num_labels``, counting matrix products only::

        per layer   2*L*(4*h*h)   Q, K, V and attention-output projections
                  + 2*L*(2*h*i)   FFN in (h -> i) and out (i -> h)
                  + 2*L*L*h       attention scores Q K^T, summed over heads (heads * L*L*h/heads)
                  + 2*L*L*h       context: softmax(scores) V
        head        2*h*h + 2*h*c pooler (on [CLS] only) and classifier
        total       n * per layer + head

    Left out, as usual: embeddings (lookups), biases, LayerNorm, softmax, GELU, tanh, all
    O(L*h) or O(L*L) elementwise work, a few percent at most. Assumes BERT's shapes (attention
    width = hidden size, a pooler), which holds for BERT and MiniLM. For BERT-base at L = 128
    this is about 22.3 GFLOPs.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    h = int(config.hidden_size)
    i = int(config.intermediate_size)
    n = int(config.num_hidden_layers)
    c = int(config.num_labels)
    L = int(seq_len)  # noqa: N806 (the formula's name)
    per_layer = 2 * L * (4 * h * h) + 2 * L * (2 * h * i) + 2 * (2 * L * L * h)
    head = 2 * h * h + 2 * h * c
    return n * per_layer + head


def effective_flops(model: nn.Module, seq_len: int) -> int:
    """FLOPs per pair if every zero encoder Linear weight were skipped (an ideal sparse kernel).

    Each zero in a prunable weight matrix saves one multiply-accumulate per token, i.e.
    ``2 * seq_len`` FLOPs; attention matmuls, pooler and head are unaffected. For a dense
    model (no zero weights) this equals :func:`flops_per_pair`. A lower bound on what sparsity
    can buy: real sparse kernels pay for indexing and irregular memory access.
    """
    counts = count_parameters(model)
    zeros = counts["prunable"] - counts["prunable_nonzero"]
    return flops_per_pair(model.config, seq_len) - 2 * int(seq_len) * zeros


def compare_throughput(
    reranker: Reranker,
    reference: Reranker,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int,
    repeats: int,
    latency_depth: int,
    num_threads: int | None = None,
) -> dict:
    """Benchmark ``reranker`` and ``reference`` (the full model) in alternation, in one process.

    Absolute times on a shared machine drift; alternating single repeats of the two models
    exposes both to the same load, so the ratio of their medians is what can be quoted. Each
    model warms up once, before the first round; each scores in its own precision (an int8
    model against a bf16 reference). Returns the model's :func:`benchmark_model` record plus
    ``reference_pairs_per_s``, ``pairs_per_s_ratio`` and ``latency_ratio`` (model over
    reference).
    """
    kwargs = dict(batch_size=batch_size, repeats=1)
    kwargs.update(latency_depth=latency_depth, num_threads=num_threads)
    mine, theirs = [], []
    for round_ in range(repeats):
        # Only the first round warms up (one untimed batch and latency call per model): later
        # rounds find the kernels and buffers of the same shapes ready.
        warmup = 1 if round_ == 0 else 0
        theirs.append(benchmark_model(reference, pairs, warmup=warmup, **kwargs))
        mine.append(benchmark_model(reranker, pairs, warmup=warmup, **kwargs))
    record = dict(mine[-1])
    throughput = [r["throughput_pairs_per_s"] for r in mine]
    latency = [r["latency_ms"] for r in mine]
    ref_throughput = statistics.median(r["throughput_pairs_per_s"] for r in theirs)
    ref_latency = statistics.median(r["latency_ms"] for r in theirs)
    record.update(
        repeats=repeats,
        warmup=1,
        throughput_pairs_per_s=statistics.median(throughput),
        throughput_min=min(throughput),
        throughput_max=max(throughput),
        throughput_runs=throughput,
        latency_ms=statistics.median(latency),
        latency_ms_min=min(latency),
        latency_ms_max=max(latency),
        latency_runs_ms=latency,
        reference_pairs_per_s=ref_throughput,
        reference_latency_ms=ref_latency,
        pairs_per_s_ratio=statistics.median(throughput) / ref_throughput,
        latency_ratio=statistics.median(latency) / ref_latency,
    )
    return record


def load_benchmark_pairs(
    queries_path, collection_path, candidates_path, *, depth: int, n_pairs: int
) -> list[tuple[str, str]]:
    """:func:`benchmark_pairs` from the workflow's files (queries and collection TSV, the
    candidates' TREC run): what every timing job scores."""
    return benchmark_pairs(
        read_tsv_pairs(queries_path),
        read_tsv_pairs(collection_path),
        read_run(candidates_path),
        depth=depth,
        n_pairs=n_pairs,
    )


def benchmark_pairs(
    queries: Mapping[str, str],
    collection: Mapping[str, str],
    run: Mapping[str, Mapping[str, float]],
    *,
    depth: int,
    n_pairs: int,
) -> list[tuple[str, str]]:
    """The first ``n_pairs`` (query, passage) texts of ``run``, query by query (sorted qids),
    each query's top ``depth``: what a reranker scores, so the latency call over the first
    ``depth`` pairs is one query's reranking request."""
    pairs = [
        (queries[qid], collection[doc])
        for qid in sorted(run)
        for doc, _ in ranked(run[qid])[:depth]
    ]
    return pairs[:n_pairs]


def benchmark_variant(
    model_dir: str | os.PathLike,
    full_dir: str | os.PathLike,
    pairs: Sequence[tuple[str, str]],
    *,
    int8: bool,
    device: str,
    precision: str,
    batch_size: int,
    max_length: int,
    repeats: int,
    latency_depth: int,
    sparse_check: bool = False,
) -> dict:
    """The efficiency record of one saved model (an int8 variant: its fp32 source, quantized).

    The model loads as the rerank jobs load it (:meth:`slimrank.rerank.Reranker.load`: an int8
    model on the CPU in fp32 activations), in ``precision``; the reference is the full model
    on the same device in fp32, whatever ``precision`` says (``reference_precision``).
    Throughput and latency come from :func:`compare_throughput` against the full model in the
    same process; sizes on disk from :func:`slimrank.sparse.checkpoint_sizes`; non-zero count and
    FLOPs from the fp32 weights (int8 changes the arithmetic, not the count of multiplies);
    with ``sparse_check``, :func:`sparse_linear_speed` of the CSR path against dense (``csr_*``),
    in fp32 on the CPU.
    """
    reranker = Reranker.load(
        model_dir, device=device, int8=int8, max_length=max_length, precision=precision
    )
    # The reference of every row is the fp32 full model: a bf16 or int8 row's ratio is then
    # what its arithmetic buys, on top of what its size buys.
    full = Reranker.load(full_dir, device=reranker.device, precision="fp32", max_length=max_length)
    record = compare_throughput(
        reranker,
        full,
        pairs,
        batch_size=batch_size,
        repeats=repeats,
        latency_depth=latency_depth,
    )
    del reranker, full
    # The fp32 weights, loaded after the timing so that they do not count in its peak memory.
    fp32 = Reranker.load(model_dir, device="cpu", precision="fp32", max_length=max_length)
    seq_len = round(record["mean_tokens"])
    record.update(
        int8=int8,
        reference_precision="fp32",
        **checkpoint_sizes(model_dir),
        nonzero=count_parameters(fp32.model)["nonzero"],
        flops_per_pair=flops_per_pair(fp32.model.config, seq_len),
        effective_flops_per_pair=effective_flops(fp32.model, seq_len),
    )
    if sparse_check:
        csr = sparse_linear_speed(fp32, pairs, batch_size=batch_size, repeats=repeats)
        record.update({f"csr_{key}": value for key, value in csr.items()})
    return record


# ----------------------------------------------------------------------------- agreement
def top_k_overlap(
    run: Mapping[str, Mapping[str, float]],
    reference: Mapping[str, Mapping[str, float]],
    k: int = 10,
) -> float:
    """Mean over the queries of both runs of |top k of run & top k of reference| / k."""
    shared = sorted(set(run) & set(reference))
    if not shared:
        raise ValueError("the runs share no query")
    return statistics.fmean(
        len({d for d, _ in ranked(run[q])[:k]} & {d for d, _ in ranked(reference[q])[:k]}) / k
        for q in shared
    )


def overlap_reference(model: str, models: Sequence[str]) -> str | None:
    """The run a row's top-10 overlap is measured against: its model in fp32
    (``<model>-fp32``) where that is a row, else the plain model (scored in the config's
    precision: the row's ``precision`` column says which); None for the rows themselves and
    for the peer (timed, not reranked: its scores are compared directly)."""
    from slimrank.study import parse_run, precision_name

    info = parse_run(model)
    if info.peer:
        return None
    fp32 = precision_name(info.base, "fp32")
    for candidate in (fp32, info.base):
        if candidate in models and candidate != model:
            return candidate
    return None


# ----------------------------------------------------------------------------- the peer
def benchmark_peer(
    full_dir: str | os.PathLike,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int,
    max_length: int,
    repeats: int,
    device: str = "cpu",
    precision: str = "fp32",
) -> dict:
    """sentence-transformers ``CrossEncoder.predict`` against the project's fp32 scoring of the
    same saved model on the same ``pairs``, and against its scoring in ``precision`` (the plain
    runs' precision: ``auto`` is bf16 weights where the hardware has bf16 natively), all timed in
    alternation in one process, so that the project's lead over the peer is a same-job ratio.

    The CrossEncoder loads the folder as a one-label sequence classifier with the same
    ``max_length`` (its tokenizer truncates ``longest_first`` as ours) and the identity
    activation, so it returns the same logits (its default for one label is a sigmoid, which
    would not change a ranking but would change the scores). sentence-transformers is a
    benchmark-only dependency, imported here. Returns pairs/s of the peer and of the project's
    fp32 and ``precision`` scoring (medians over ``repeats``, after one warm-up each; where
    ``precision`` resolves to fp32 the fp32 timing is reused), ``pairs_per_s_ratio`` (peer over
    the project's fp32), ``scoring_over_peer`` (the project's ``precision`` scoring over the
    peer), the agreement of the fp32 scores: ``max_abs_diff`` and ``spearman``, and on a CPU
    ``bf16_matmul_speedup`` (:func:`slimrank.models.bf16_matmul_speedup` on the same threads):
    the fp32 peer's matmuls are the project's, so this roughly bounds what the bf16 path can
    gain over the peer on this machine (2.71x on a 2-core Zen 4 without AMX, where the bf16
    weights scored at 1.86x the peer in the same job).
    """
    from scipy.stats import spearmanr
    from sentence_transformers import CrossEncoder

    if not pairs or repeats < 1:
        raise ValueError("need at least one pair and repeats >= 1")
    full = Reranker.load(full_dir, device=device, precision="fp32", max_length=max_length)
    scoring = resolve_precision(precision, full.device)
    # The plain runs' arithmetic (bf16 weights: a second copy of the model), when not fp32.
    project = (
        Reranker.load(full_dir, device=device, precision=scoring, max_length=max_length)
        if scoring != "fp32"
        else None
    )
    peer = CrossEncoder(
        str(full_dir),
        num_labels=1,
        max_length=max_length,
        device=str(full.device),
        activation_fn=nn.Identity(),
    )
    pairs = list(pairs)

    def predict() -> list[float]:
        scores = peer.predict(pairs, batch_size=batch_size, show_progress_bar=False)
        return [float(s) for s in scores]

    with torch.inference_mode():
        ours = full.score(pairs, batch_size=batch_size, progress=False)
        theirs = predict()  # also the warm-up of both
        if project is not None:
            _score_seconds(project, pairs, batch_size)  # its warm-up
        ours_s, theirs_s, project_s = [], [], []
        for _ in range(repeats):
            ours_s.append(_score_seconds(full, pairs, batch_size))
            start = time.perf_counter()
            predict()
            theirs_s.append(time.perf_counter() - start)
            if project is not None:
                project_s.append(_score_seconds(project, pairs, batch_size))
    mine = statistics.median(len(pairs) / s for s in theirs_s)
    reference = statistics.median(len(pairs) / s for s in ours_s)
    scoring_rate = statistics.median(len(pairs) / s for s in project_s) if project else reference
    return {
        "device": str(full.device),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "precision": "fp32",
        "n_pairs": len(pairs),
        "batch_size": batch_size,
        "max_length": max_length,
        "repeats": repeats,
        "throughput_pairs_per_s": mine,
        "reference_pairs_per_s": reference,
        "reference_precision": "fp32",
        "pairs_per_s_ratio": mine / reference,
        "scoring_precision": scoring,
        "scoring_pairs_per_s": scoring_rate,
        "scoring_over_peer": scoring_rate / mine,
        "max_abs_diff": max(abs(a - b) for a, b in zip(ours, theirs, strict=True)),
        "spearman": float(spearmanr(ours, theirs).statistic) if len(pairs) > 1 else 1.0,
        "bf16_matmul_speedup": bf16_matmul_speedup() if full.device.type == "cpu" else None,
    }
