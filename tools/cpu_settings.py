"""Time the CPU settings of the embedded default; prints the figures config/config.yaml quotes.

Run after a complete run of the default (it reads results/models/seed13/full and the DL19 files):

    python tools/cpu_settings.py

1. Reranking DL19's BM25 top 20 with the full model on every core, at rerank batch sizes 64
   and 8 (rerank.batch_size, training.eval_batch_size), and the largest score difference.
2. A training step's forward and backward pass (32 pairs in length-sorted chunks of 8) on
   every core, then on one thread in two processes at once (threads_per_job: 1).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import torch

from slimrank.models import encode_pairs, load_cross_encoder
from slimrank.rerank import Reranker
from slimrank.trec import ranked, read_run, read_tsv_pairs

RESULTS = "results"


def dl19():
    queries = read_tsv_pairs(f"{RESULTS}/data/dl19/queries.tsv")
    run = read_run(f"{RESULTS}/runs/dl19/bm25.trec")
    run = {qid: docs for qid, docs in run.items() if qid in queries}
    return queries, run, read_tsv_pairs(f"{RESULTS}/data/collection.tsv")


def scoring(model_dir: str, batch_sizes: list[int]) -> None:
    reranker = Reranker.load(model_dir, device="cpu", precision="fp32", max_length=128)
    queries, run, collection = dl19()
    first = None
    for batch_size in batch_sizes:
        start = time.perf_counter()
        scored = reranker.rerank(
            run, queries, collection, depth=20, batch_size=batch_size, progress=False
        )
        seconds = time.perf_counter() - start
        first = first or scored
        diff = max(abs(scored[q][d] - first[q][d]) for q in scored for d in scored[q])
        print(
            f"rerank DL19 top 20, {torch.get_num_threads()} threads, batch {batch_size}: "
            f"{seconds:.1f} s (largest score difference to batch {batch_sizes[0]}: {diff:.1e})"
        )


def step_seconds(model_dir: str, steps: int = 3) -> float:
    model, tokenizer = load_cross_encoder(model_dir, device="cpu")
    model.train()
    queries, run, collection = dl19()
    pairs = [(queries[q], collection[d]) for q in sorted(run)[:4] for d, _ in ranked(run[q])[:8]]
    pairs.sort(key=lambda pair: len(pair[0]) + len(pair[1]))

    def step():
        for start in range(0, len(pairs), 8):
            chunk = pairs[start : start + 8]
            inputs = encode_pairs(tokenizer, [q for q, _ in chunk], [p for _, p in chunk], 128)
            model(**inputs).logits.sum().backward()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=f"{RESULTS}/models/seed13/full")
    parser.add_argument("--step-only", type=int, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.step_only:
        torch.set_num_threads(args.step_only)
        print(f"{step_seconds(args.model):.2f}")
        return
    scoring(args.model, [64, 8])
    print(f"training step, {torch.get_num_threads()} threads: {step_seconds(args.model):.2f} s")
    child = [sys.executable, __file__, "--model", args.model, "--step-only", "1"]
    both = [subprocess.Popen(child, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    seconds = [float(p.communicate()[0].split()[-1]) for p in both]
    print("training step, 1 thread, two processes at once: "
          + ", ".join(f"{s:.2f} s" for s in seconds))  # fmt: skip


if __name__ == "__main__":
    main()
