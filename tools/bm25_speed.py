"""BM25 speed and agreement with Lucene on MS MARCO-mini: both analyzers, one process.

For each ``bm25.analyzer`` (``regex``: bm25s as before; ``lucene``: Lucene's analysis and norms)
it times indexing the 51k-passage collection and retrieving the 43 DL19 queries x 1,000 hits,
then compares the run with Anserini's (``../shared/reference/anserini-bm25-mini.dl19.trec``):
nDCG@10 (ranx), mean top-10 Jaccard, top-1 agreement, and the share of queries whose ten best
scores are within 1e-3 of Lucene's. Lucene's own figures here: index 2.7 s (2 threads), search
46 queries/s (1 thread), nDCG@10 0.4726.

    python tools/bm25_speed.py [--repeats 3] [--analyzers regex lucene]

Times are the best of ``--repeats`` (the machines are shared; the best run is the least
disturbed one).
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

from slimrank.bm25 import BM25Index, BM25Settings, run_agreement
from slimrank.evaluation import evaluate_runs
from slimrank.trec import read_qrels, read_run

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MINI = SHARED / "data" / "msmarco-passage-mini"
REFERENCE = SHARED / "reference" / "anserini-bm25-mini.dl19.trec"


def read_collection(path: Path) -> dict[str, str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return dict(line.rstrip("\n").split("\t", 1) for line in handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--analyzers", nargs="+", default=["regex", "lucene"])
    args = parser.parse_args()

    docs = read_collection(MINI / "collection.tsv.gz")
    with open(MINI / "queries.dl19.tsv", encoding="utf-8") as handle:
        queries = dict(line.rstrip("\n").split("\t", 1) for line in handle)
    qrels = read_qrels(MINI / "qrels.dl19.txt")
    reference = read_run(REFERENCE)
    print(f"{len(docs)} passages, {len(queries)} queries, 1000 hits each")

    rows = {}
    for analyzer in args.analyzers:
        settings = BM25Settings(analyzer=analyzer)
        index_s, search_s = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            index = BM25Index.build(docs, settings)
            index_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            run = index.search(queries, 1000)
            search_s.append(time.perf_counter() - start)
        metrics = evaluate_runs(qrels, {analyzer: run}, ["ndcg@10", "mrr@10", "recall@100"], 2)
        figures = dict(zip(metrics["metric"], metrics["value"], strict=True))
        figures.update(run_agreement(run, reference))
        figures["index_s"] = min(index_s)
        figures["queries_per_s"] = len(queries) / min(search_s)
        rows[analyzer] = figures

    columns = ["index_s", "queries_per_s", "ndcg@10", "mrr@10", "recall@100"]
    columns += ["jaccard@10", "top1", "scores@10"]
    print("analyzer  " + "  ".join(f"{c:>13}" for c in columns))
    for analyzer, figures in rows.items():
        print(f"{analyzer:<8}  " + "  ".join(f"{figures[c]:>13.4f}" for c in columns))
    print("lucene    " + "  ".join(f"{v:>13}" for v in ["2.7", "46", "0.4726", "0.6789", "0.4931"]))


if __name__ == "__main__":
    main()
