"""BM25 (Lucene analyzer and norms, or bm25s) against scores computed by hand, and against
Lucene's own run over MS MARCO-mini."""

import math

import pytest

from slimrank.bm25 import BM25Index, BM25Settings, run_agreement
from slimrank.evaluation import evaluate_runs
from slimrank.lucene import LENGTH_TABLE, int_to_byte4
from slimrank.trec import read_qrels, read_run, read_tsv_pairs

from .conftest import MINI, REPO

REFERENCE = (REPO / "../shared/reference/anserini-bm25-mini.dl19.trec").resolve()

DOCS = {
    "d1": "apple banana apple",
    "d2": "banana cherry",
    "d3": "cherry cherry cherry date",
    "d4": "egg",
}
PLAIN = BM25Settings(k1=0.9, b=0.4, stemmer=None, stopwords=None)
ANALYZERS = pytest.mark.parametrize("analyzer", ["lucene", "regex"])


def lucene_bm25(
    query: str, docs: dict[str, str], k1: float, b: float, length=len
) -> dict[str, float]:
    """Lucene's BM25: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf / (tf + k1 * norm), with
    the document length ``length(tokens)``."""
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
            score += idf * tf / (tf + k1 * (1 - b + b * length(toks) / avgdl))
        if score > 0:
            scores[d] = score
    return scores


@ANALYZERS
def test_scores_and_ranking_match_hand_computed_lucene_bm25(analyzer):
    index = BM25Index.build(DOCS, BM25Settings(stemmer=None, stopwords=None, analyzer=analyzer))
    run = index.search({"q1": "apple cherry", "q2": "banana"}, depth=10)
    for qid, query in {"q1": "apple cherry", "q2": "banana"}.items():
        expected = lucene_bm25(query, DOCS, PLAIN.k1, PLAIN.b)
        assert run[qid].keys() == expected.keys()
        for doc, score in expected.items():
            assert run[qid][doc] == pytest.approx(score, rel=1e-5)
    # d3 has cherry three times but is long; d1 has apple twice: the hand scores order them.
    assert sorted(run["q1"], key=run["q1"].get, reverse=True) == ["d1", "d3", "d2"]


@ANALYZERS
def test_depth_limits_results_and_unmatched_queries_get_nothing(analyzer):
    index = BM25Index.build(DOCS, BM25Settings(stemmer=None, stopwords=None, analyzer=analyzer))
    run = index.search({"q1": "apple banana cherry", "q2": "zebra"}, depth=2)
    assert len(run["q1"]) == 2
    assert run["q2"] == {}


@ANALYZERS
def test_stemming_and_stopwords_apply_to_documents_and_queries(analyzer):
    docs = {"a": "the running dogs", "b": "a cat"}
    index = BM25Index.build(docs, BM25Settings(analyzer=analyzer))
    run = index.search({"q": "dog runs", "stop": "the"}, depth=10)
    assert list(run["q"]) == ["a"]  # porter: dogs -> dog, running/runs -> run
    assert run["stop"] == {}  # "the" is a Lucene stopword


@ANALYZERS
def test_saved_index_gives_identical_results(tmp_path, analyzer):
    settings = BM25Settings(analyzer=analyzer, stopwords=None)
    index = BM25Index.build(DOCS, settings)
    index.save(tmp_path / "index")
    again = BM25Index.load(tmp_path / "index")
    queries = {"q1": "apple cherry", "q2": "banana date"}
    assert again.settings == settings
    assert again.search(queries, 10) == index.search(queries, 10)
    # Saved through a temporary sibling renamed into place: nothing else is left beside it.
    assert [p.name for p in tmp_path.iterdir()] == ["index"]
    index.save(tmp_path / "index")  # an existing index is replaced
    assert BM25Index.load(tmp_path / "index").search(queries, 10) == index.search(queries, 10)


def test_long_documents_are_scored_with_lucenes_one_byte_lengths():
    # Lengths 45 and 100 are stored as 44 and 96: the scores follow the decoded lengths.
    docs = {
        "long": " ".join(["apple"] * 3 + ["filler"] * 97),
        "mid": " ".join(["apple"] * 2 + ["banana"] * 43),
        "short": "apple banana",
    }
    index = BM25Index.build(docs, PLAIN)
    run = index.search({"q": "apple banana"}, depth=10)

    def decoded(tokens):
        return LENGTH_TABLE[int_to_byte4(len(tokens))]

    assert decoded(["x"] * 45) == 44 and decoded(["x"] * 100) == 96
    expected = lucene_bm25("apple banana", docs, 0.9, 0.4, length=decoded)
    exact = lucene_bm25("apple banana", docs, 0.9, 0.4)
    for doc, score in expected.items():
        assert run["q"][doc] == pytest.approx(score, rel=1e-6)
    assert run["q"]["long"] != pytest.approx(exact["long"], rel=1e-4)


def test_ties_are_broken_by_document_id_at_the_depth_cut():
    docs = {d: "apple pie" for d in ["d9", "d10", "d2", "d1"]}
    run = BM25Index.build(docs, PLAIN).search({"q": "apple"}, depth=2)
    assert list(run["q"]) == ["d1", "d10"]  # ascending id strings, as Anserini sorts


def test_repeated_query_terms_weigh_as_lucene_boosts():
    index = BM25Index.build(DOCS, PLAIN)
    once = index.search({"q": "apple cherry"}, 10)["q"]
    twice = index.search({"q": "apple apple cherry"}, 10)["q"]
    assert twice["d1"] == pytest.approx(2 * once["d1"], rel=1e-6)
    assert twice["d3"] == pytest.approx(once["d3"], rel=1e-6)


@ANALYZERS
def test_threads_score_queries_in_parallel_to_the_same_run(analyzer):
    docs = {f"d{i}": f"w{i % 7} w{i % 5} w{i % 3} common" for i in range(200)}
    queries = {f"q{i}": f"w{i % 7} w{i % 4} common" for i in range(40)} | {"none": "zzz"}
    index = BM25Index.build(docs, BM25Settings(analyzer=analyzer, stemmer=None, stopwords=None))
    one = index.search(queries, 25)
    assert list(index.search(queries, 25, threads=3).items()) == list(one.items())
    assert one["none"] == {} and len(one["q1"]) == 25  # something to get wrong in parallel


@pytest.mark.skipif(
    not (MINI.is_dir() and REFERENCE.is_file()),
    reason=f"needs MS MARCO-mini ({MINI}) and Lucene's reference run ({REFERENCE})",
)
def test_lucene_analyzer_reproduces_anserinis_run_on_msmarco_mini(tmp_path):
    import gzip

    with gzip.open(MINI / "collection.tsv.gz", "rt", encoding="utf-8") as handle:
        docs = dict(line.rstrip("\n").split("\t", 1) for line in handle)
    queries = read_tsv_pairs(MINI / "queries.dl19.tsv")
    run = BM25Index.build(docs, BM25Settings()).search(queries, 1000)
    reference = read_run(REFERENCE)
    agreement = run_agreement(run, reference)
    metrics = evaluate_runs(read_qrels(MINI / "qrels.dl19.txt"), {"bm25": run}, ["ndcg@10"], 2)
    ndcg = float(metrics["value"].iloc[0])
    print(f"nDCG@10 {ndcg:.4f} (Lucene 0.4726), {agreement}")
    assert abs(ndcg - 0.4726) <= 0.002
    assert agreement["jaccard@10"] >= 0.97
    assert agreement["top1"] >= 0.95
    assert agreement["scores@10"] >= 0.9  # top-10 scores within 1e-3 of Lucene's
