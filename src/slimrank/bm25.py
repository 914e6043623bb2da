"""BM25 first stage, as Anserini's Lucene BM25 (k1=0.9, b=0.4 by default).

Two analyzers (``BM25Settings.analyzer``):

- ``lucene`` (the default) reproduces Anserini: Lucene's English analysis chain
  (:mod:`slimrank.lucene`) and Lucene's BM25Similarity with its one-byte document-length norms,
  scored by :class:`LuceneBM25` below.
- ``regex`` is the earlier pipeline: bm25s's regular-expression tokenizer (words of two or more
  characters), PyStemmer and bm25s's ``lucene`` scoring with exact document lengths.

Why a scorer beside bm25s: bm25s computes every score at indexing time from the exact token
count of each document and offers no way to give it other lengths, so Lucene's quantized norms
(SmallFloat.intToByte4; 90% of MS MARCO passages are longer than the 24 tokens it stores exactly)
cannot be fed to it. :class:`LuceneBM25` keeps a term-by-document matrix of term frequencies
(scipy CSR) and each document's norm byte, and scores a query as Lucene does, in float32 with
the same operations (``weight - weight / (1 + freq * cache[norm])``), summing the terms in
double. Ties are broken by document id, as Anserini sorts its hits.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import bm25s
import numpy as np
import scipy.sparse

from slimrank.lucene import ENGLISH_STOP_WORDS, LENGTH_TABLE, LuceneAnalyzer, int_to_byte4
from slimrank.trec import Run, ranked

# Lucene's EnglishAnalyzer stopwords, which Anserini's default analyzer removes.
LUCENE_STOPWORDS = sorted(ENGLISH_STOP_WORDS)

ANALYZERS = ("lucene", "regex")
DOC_IDS_FILE = "doc_ids.json"
SETTINGS_FILE = "slimrank_bm25.json"
TERMS_FILE = "terms.json"
POSTINGS_FILE = "postings.npz"


@dataclass(frozen=True)
class BM25Settings:
    k1: float = 0.9
    b: float = 0.4
    analyzer: str = "lucene"  # "lucene" (Anserini's analysis and norms) or "regex" (bm25s)
    stemmer: str | None = "porter"  # porter (Lucene's with analyzer lucene), a PyStemmer name
    stopwords: str | None = "lucene"  # "lucene" (Anserini's list), a bm25s list name, or None

    def __post_init__(self):
        if self.analyzer not in ANALYZERS:
            raise ValueError(f"bm25 analyzer must be one of {ANALYZERS}, got {self.analyzer!r}")

    def _stopword_list(self) -> list[str]:
        if self.stopwords == "lucene":
            return LUCENE_STOPWORDS
        if self.stopwords:
            from bm25s.tokenization import _infer_stopwords  # bm25s's lists by name

            return list(_infer_stopwords(self.stopwords))
        return []

    def lucene_analyzer(self) -> LuceneAnalyzer:
        return LuceneAnalyzer(self._stopword_list(), self.stemmer)

    def tokenize(self, texts: Sequence[str], show_progress: bool = False) -> list[list[str]]:
        """Indexed terms of each text: the configured analyzer, stop words and stemmer."""
        if self.analyzer == "lucene":
            return self.lucene_analyzer().analyze(texts)
        stemmer = None
        if self.stemmer:
            import Stemmer  # PyStemmer

            stemmer = Stemmer.Stemmer(self.stemmer)
        return bm25s.tokenize(
            list(texts),
            stopwords=self._stopword_list(),
            stemmer=stemmer,
            return_ids=False,
            show_progress=show_progress,
        )


class LuceneBM25:
    """Lucene 9's BM25Similarity over term frequencies and one-byte length norms.

    ``postings`` is a terms x documents CSR matrix of term frequencies, ``norms`` each
    document's SmallFloat.intToByte4 length (number of indexed tokens, stop words removed).
    """

    def __init__(
        self,
        terms: list[str],
        postings: scipy.sparse.csr_matrix,
        norms: np.ndarray,
        k1: float,
        b: float,
    ):
        self.terms = terms
        self.term_ids = {term: i for i, term in enumerate(terms)}
        self.postings = postings
        self.norms = norms
        self.k1, self.b = np.float32(k1), np.float32(b)
        # CollectionStatistics: docCount counts documents with at least one indexed term.
        self.doc_count = int(np.count_nonzero(norms))  # a norm is 0 only for 0 tokens
        self.sum_total_term_freq = int(postings.data.sum(dtype=np.int64))
        self.avgdl = np.float32(self.sum_total_term_freq / max(self.doc_count, 1))
        # BM25Similarity's cache: 1 / (k1 * ((1 - b) + b * LENGTH_TABLE[i] / avgdl)), in float.
        lengths = np.asarray(LENGTH_TABLE, dtype=np.float32)
        one = np.float32(1)
        self.cache = one / (self.k1 * ((one - self.b) + self.b * lengths / self.avgdl))

    @classmethod
    def build(cls, texts: Sequence[str], analyzer: LuceneAnalyzer, k1: float, b: float):
        vocab: dict[str, int] = {}
        term_ids, lengths = array("i"), array("i")
        for ids in analyzer.term_ids(texts, vocab):
            term_ids.extend(ids)
            lengths.append(len(ids))
        lengths_np = np.frombuffer(lengths, dtype=np.int32)
        docs = np.repeat(np.arange(len(lengths_np), dtype=np.int32), lengths_np)
        rows = np.frombuffer(term_ids, dtype=np.int32)
        postings = scipy.sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.int32), (rows, docs)),
            shape=(len(vocab), len(lengths_np)),
        )
        postings.sum_duplicates()
        norms = np.array([int_to_byte4(n) for n in lengths_np.tolist()], dtype=np.uint8)
        return cls(list(vocab), postings, norms, k1, b)

    def idf(self, doc_freq: int) -> np.float32:
        n = self.doc_count
        return np.float32(math.log(1 + (n - doc_freq + 0.5) / (doc_freq + 0.5)))

    def score(self, query_terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Matching documents and their float32 scores (a repeated term counts as a boost)."""
        indptr, indices, freqs = self.postings.indptr, self.postings.indices, self.postings.data
        total = np.zeros(len(self.norms), dtype=np.float64)
        for term, count in Counter(query_terms).items():
            t = self.term_ids.get(term)
            if t is None:
                continue
            lo, hi = indptr[t], indptr[t + 1]
            docs = indices[lo:hi]
            weight = np.float32(count) * self.idf(hi - lo)  # BoostQuery(TermQuery, count)
            norm_inverse = self.cache[self.norms[docs]]
            tf = freqs[lo:hi].astype(np.float32)
            total[docs] += weight - weight / (np.float32(1) + tf * norm_inverse)
        docs = np.flatnonzero(total)
        return docs, total[docs].astype(np.float32)

    def save(self, folder: Path) -> None:
        (folder / TERMS_FILE).write_text(json.dumps(self.terms))
        p = self.postings
        np.savez(
            folder / POSTINGS_FILE,
            indptr=p.indptr,
            indices=p.indices,
            freqs=p.data,
            norms=self.norms,
        )

    @classmethod
    def load(cls, folder: Path, k1: float, b: float) -> LuceneBM25:
        terms = json.loads((folder / TERMS_FILE).read_text())
        with np.load(folder / POSTINGS_FILE) as arrays:
            postings = scipy.sparse.csr_matrix(
                (arrays["freqs"], arrays["indices"], arrays["indptr"]),
                shape=(len(terms), len(arrays["norms"])),
            )
            norms = arrays["norms"]
        return cls(terms, postings, norms, k1, b)


class BM25Index:
    """A BM25 index (Lucene-style scorer or bm25s) with its document ids and settings."""

    def __init__(
        self, retriever: LuceneBM25 | bm25s.BM25, doc_ids: list[str], settings: BM25Settings
    ):
        self.retriever = retriever
        self.doc_ids = np.asarray(doc_ids, dtype=object)
        self.settings = settings

    @classmethod
    def build(
        cls, docs: Mapping[str, str], settings: BM25Settings, show_progress: bool = False
    ) -> BM25Index:
        doc_ids, texts = list(docs), list(docs.values())
        if settings.analyzer == "lucene":
            analyzer = settings.lucene_analyzer()
            retriever = LuceneBM25.build(texts, analyzer, settings.k1, settings.b)
        else:
            retriever = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
            retriever.index(settings.tokenize(texts, show_progress), show_progress=show_progress)
        return cls(retriever, doc_ids, settings)

    def save(self, folder: str | os.PathLike) -> None:
        """Write the index into a temporary sibling folder, then rename it into place, so an
        interrupted save never leaves a partial index under the final name."""
        folder = Path(folder)
        tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            if isinstance(self.retriever, LuceneBM25):
                self.retriever.save(tmp)
            else:
                self.retriever.save(tmp, show_progress=False)
            (tmp / DOC_IDS_FILE).write_text(json.dumps(list(self.doc_ids)))
            (tmp / SETTINGS_FILE).write_text(json.dumps(asdict(self.settings), indent=2))
            if folder.exists():
                shutil.rmtree(folder)
            tmp.rename(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, folder: str | os.PathLike) -> BM25Index:
        folder = Path(folder)
        saved = json.loads((folder / SETTINGS_FILE).read_text())
        saved.setdefault("analyzer", "regex")  # indexes saved before the analyzer setting
        settings = BM25Settings(**saved)
        if settings.analyzer == "lucene":
            retriever = LuceneBM25.load(folder, settings.k1, settings.b)
        else:
            retriever = bm25s.BM25.load(folder, show_progress=False)
        doc_ids = json.loads((folder / DOC_IDS_FILE).read_text())
        return cls(retriever, doc_ids, settings)

    def search(
        self,
        queries: Mapping[str, str],
        depth: int,
        show_progress: bool = False,
        threads: int = 1,
    ) -> Run:
        """Top-``depth`` documents per query. Like Lucene, documents that match no query term
        (score 0) are not returned, so a query may get fewer than ``depth`` results.

        ``threads`` > 1 scores queries in parallel (bm25s's ``n_threads``; a thread pool over
        queries for the Lucene scorer, whose numpy work on large collections releases the
        GIL). Each query is scored alone either way, so the run is the same."""
        qids = list(queries)
        if not qids:
            return {}
        tokens = self.settings.tokenize([queries[q] for q in qids])
        if isinstance(self.retriever, LuceneBM25):
            if threads > 1:
                with ThreadPoolExecutor(threads) as pool:
                    tops = list(pool.map(self._lucene_top, tokens, [depth] * len(tokens)))
            else:
                tops = [self._lucene_top(toks, depth) for toks in tokens]
            return dict(zip(qids, tops, strict=True))
        # bm25s cannot score an empty query; such queries get an empty ranking.
        scored = [i for i, toks in enumerate(tokens) if toks]
        run: Run = {qid: {} for qid in qids}
        if not scored:
            return run
        k = min(depth, len(self.doc_ids))
        indices, scores = self.retriever.retrieve(
            [tokens[i] for i in scored],
            k=k,
            show_progress=show_progress,
            n_threads=threads if threads > 1 else 0,  # 0: bm25s's sequential path
        )
        for row, i in enumerate(scored):
            keep = scores[row] > 0
            run[qids[i]] = {
                str(doc): float(score)
                for doc, score in zip(
                    self.doc_ids[indices[row][keep]], scores[row][keep], strict=True
                )
            }
        return run

    def _lucene_top(self, query_terms: list[str], depth: int) -> dict[str, float]:
        """Lucene's top ``depth``: descending float32 score, ties by ascending document id."""
        docs, scores = self.retriever.score(query_terms)
        if len(docs) > depth:
            kth = np.partition(scores, len(scores) - depth)[len(scores) - depth]
            keep = scores >= kth  # every document tied with the last place, sorted below
            docs, scores = docs[keep], scores[keep]
        hits = sorted(
            zip(self.doc_ids[docs].tolist(), scores.tolist(), strict=True),
            key=lambda hit: (-hit[1], hit[0]),
        )
        return dict(hits[:depth])


def run_agreement(
    run: Run, reference: Run, k: int = 10, tolerance: float = 1e-3
) -> dict[str, float]:
    """How closely ``run`` reproduces ``reference``, over the reference's queries.

    ``jaccard@k``: mean Jaccard overlap of the two top-k sets; ``top1``: share of queries with
    the same first document; ``scores@k``: share of queries whose k best scores, rank by rank,
    are all within ``tolerance`` of the reference's (rank-wise, so tied documents that swap
    places do not count against it). Documents are ordered as :func:`slimrank.trec.ranked`.
    """
    jaccard, top1, scores = [], [], []
    for qid, ref_docs in reference.items():
        ref = ranked(ref_docs)[:k]
        ours = ranked(run.get(qid, {}))[:k]
        ref_ids, our_ids = {d for d, _ in ref}, {d for d, _ in ours}
        jaccard.append(len(ref_ids & our_ids) / len(ref_ids | our_ids) if ref_ids else 1.0)
        top1.append(bool(ours) and bool(ref) and ours[0][0] == ref[0][0])
        scores.append(
            len(ours) == len(ref)
            and all(abs(a - b) <= tolerance for (_, a), (_, b) in zip(ours, ref, strict=True))
        )
    return {
        f"jaccard@{k}": float(np.mean(jaccard)),
        "top1": float(np.mean(top1)),
        f"scores@{k}": float(np.mean(scores)),
    }
