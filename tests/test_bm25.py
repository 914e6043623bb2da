"""BM25 (bm25s, Lucene variant) against scores computed by hand on a tiny corpus."""

import math

import pytest

from slimrank.bm25 import BM25Index, BM25Settings

DOCS = {
    "d1": "apple banana apple",
    "d2": "banana cherry",
    "d3": "cherry cherry cherry date",
    "d4": "egg",
}
PLAIN = BM25Settings(k1=0.9, b=0.4, stemmer=None, stopwords=None)


def lucene_bm25(query: str, docs: dict[str, str], k1: float, b: float) -> dict[str, float]:
    """Lucene's BM25: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf / (tf + k1 * norm)."""
    tokens = {d: text.split() for d, text in docs.items()}
    avgdl = sum(len(t) for t in tokens.values()) / len(tokens)
    scores = {}
    for d, toks in tokens.items():
        score = 0.0
        for term in query.split():
            df = sum(term in t for t in tokens.values())
            tf = toks.count(term)
            if tf == 0:
                continue
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            score += idf * tf / (tf + k1 * (1 - b + b * len(toks) / avgdl))
        if score > 0:
            scores[d] = score
    return scores


def test_scores_and_ranking_match_hand_computed_lucene_bm25():
    index = BM25Index.build(DOCS, PLAIN)
    run = index.search({"q1": "apple cherry", "q2": "banana"}, depth=10)
    for qid, query in {"q1": "apple cherry", "q2": "banana"}.items():
        expected = lucene_bm25(query, DOCS, PLAIN.k1, PLAIN.b)
        assert run[qid].keys() == expected.keys()
        for doc, score in expected.items():
            assert run[qid][doc] == pytest.approx(score, rel=1e-5)
    # d3 has cherry three times but is long; d1 has apple twice: the hand scores order them.
    assert sorted(run["q1"], key=run["q1"].get, reverse=True) == ["d1", "d3", "d2"]


def test_depth_limits_results_and_unmatched_queries_get_nothing():
    index = BM25Index.build(DOCS, PLAIN)
    run = index.search({"q1": "apple banana cherry", "q2": "zebra"}, depth=2)
    assert len(run["q1"]) == 2
    assert run["q2"] == {}


def test_stemming_and_stopwords_apply_to_documents_and_queries():
    index = BM25Index.build({"a": "the running dogs", "b": "a cat"}, BM25Settings())
    run = index.search({"q": "dog runs", "stop": "the"}, depth=10)
    assert list(run["q"]) == ["a"]  # porter: dogs -> dog, running/runs -> run
    assert run["stop"] == {}  # "the" is a Lucene stopword


def test_saved_index_gives_identical_results(tmp_path):
    index = BM25Index.build(DOCS, PLAIN)
    index.save(tmp_path / "index")
    again = BM25Index.load(tmp_path / "index")
    queries = {"q1": "apple cherry", "q2": "banana date"}
    assert again.settings == PLAIN
    assert again.search(queries, 10) == index.search(queries, 10)
