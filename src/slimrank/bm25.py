"""BM25 first stage with bm25s: Lucene-style scoring (Anserini's k1=0.9, b=0.4 by default)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import bm25s
import numpy as np

from slimrank.trec import Run

# Lucene's EnglishAnalyzer stopwords, which Anserini's default analyzer removes.
LUCENE_STOPWORDS = (
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with"
).split()

DOC_IDS_FILE = "doc_ids.json"
SETTINGS_FILE = "slimrank_bm25.json"


@dataclass(frozen=True)
class BM25Settings:
    k1: float = 0.9
    b: float = 0.4
    stemmer: str | None = "porter"  # a PyStemmer algorithm name, or None
    stopwords: str | None = "lucene"  # "lucene" (Anserini's list), a bm25s list name, or None

    def tokenize(self, texts: Sequence[str], show_progress: bool = False) -> list[list[str]]:
        """Lower-case word tokens, stopwords removed and stemmed as configured."""
        stemmer = None
        if self.stemmer:
            import Stemmer  # PyStemmer

            stemmer = Stemmer.Stemmer(self.stemmer)
        return bm25s.tokenize(
            list(texts),
            stopwords=LUCENE_STOPWORDS if self.stopwords == "lucene" else self.stopwords or [],
            stemmer=stemmer,
            return_ids=False,
            show_progress=show_progress,
        )


class BM25Index:
    """A bm25s index together with the document ids and the settings it was built with."""

    def __init__(self, retriever: bm25s.BM25, doc_ids: list[str], settings: BM25Settings):
        self.retriever = retriever
        self.doc_ids = np.asarray(doc_ids, dtype=object)
        self.settings = settings

    @classmethod
    def build(
        cls, docs: Mapping[str, str], settings: BM25Settings, show_progress: bool = False
    ) -> BM25Index:
        doc_ids = list(docs)
        retriever = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
        retriever.index(
            settings.tokenize(list(docs.values()), show_progress), show_progress=show_progress
        )
        return cls(retriever, doc_ids, settings)

    def save(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.retriever.save(folder, show_progress=False)
        (folder / DOC_IDS_FILE).write_text(json.dumps(list(self.doc_ids)))
        (folder / SETTINGS_FILE).write_text(json.dumps(asdict(self.settings), indent=2))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> BM25Index:
        folder = Path(folder)
        retriever = bm25s.BM25.load(folder, show_progress=False)
        doc_ids = json.loads((folder / DOC_IDS_FILE).read_text())
        settings = BM25Settings(**json.loads((folder / SETTINGS_FILE).read_text()))
        return cls(retriever, doc_ids, settings)

    def search(self, queries: Mapping[str, str], depth: int, show_progress: bool = False) -> Run:
        """Top-``depth`` documents per query. Like Lucene, documents that match no query term
        (score 0) are not returned, so a query may get fewer than ``depth`` results."""
        qids = list(queries)
        if not qids:
            return {}
        tokens = self.settings.tokenize([queries[q] for q in qids])
        # bm25s cannot score an empty query; such queries get an empty ranking.
        scored = [i for i, toks in enumerate(tokens) if toks]
        run: Run = {qid: {} for qid in qids}
        if not scored:
            return run
        k = min(depth, len(self.doc_ids))
        indices, scores = self.retriever.retrieve(
            [tokens[i] for i in scored], k=k, show_progress=show_progress
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
