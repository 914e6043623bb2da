"""Reranking BM25 candidates: depth, input order, and bitwise-identical repeated runs."""

from __future__ import annotations

import random

import pytest

from slimrank.models import load_cross_encoder
from slimrank.rerank import rerank_run, score_pairs
from slimrank.trec import ranked, write_run

OPTIONS = {"batch_size": 4, "max_length": 64, "progress": False}

pytestmark = pytest.mark.usefixtures("tiny_single_thread")


@pytest.fixture
def tiny_loaded(tiny_model_dir):
    return load_cross_encoder(tiny_model_dir)


def _rerank(loaded, corpus, depth):
    model, tokenizer = loaded
    return rerank_run(
        model, tokenizer, corpus["run"], corpus["queries"], corpus["collection"], depth=depth,
        **OPTIONS,
    )  # fmt: skip


def test_rerank_twice_gives_identical_runs_and_files(tiny_loaded, tiny_corpus, tmp_path):
    first = _rerank(tiny_loaded, tiny_corpus, depth=6)
    second = _rerank(tiny_loaded, tiny_corpus, depth=6)
    assert first == second
    write_run(first, tmp_path / "a.trec", "tiny")
    write_run(second, tmp_path / "b.trec", "tiny")
    assert (tmp_path / "a.trec").read_bytes() == (tmp_path / "b.trec").read_bytes()
    # The scores are the model's, not BM25's.
    assert first["q1"] != {d: s for d, s in tiny_corpus["run"]["q1"].items() if d in first["q1"]}


def test_rerank_respects_depth(tiny_loaded, tiny_corpus):
    reranked = _rerank(tiny_loaded, tiny_corpus, depth=4)
    assert set(reranked) == set(tiny_corpus["run"])
    for qid, docs in tiny_corpus["run"].items():
        # The tie at ranks 4/5 (d*_3 and d*_4) is broken by docid: d*_3 is kept.
        assert set(reranked[qid]) == {d for d, _ in ranked(docs)[:4]}
        assert f"d{qid[1:]}_3" in reranked[qid] and f"d{qid[1:]}_4" not in reranked[qid]
        assert all(isinstance(s, float) for s in reranked[qid].values())
    deep = _rerank(tiny_loaded, tiny_corpus, depth=1000)
    assert {q: len(d) for q, d in deep.items()} == {q: 8 for q in tiny_corpus["run"]}


def test_score_pairs_keeps_input_order(tiny_loaded, tiny_corpus):
    model, tokenizer = tiny_loaded
    queries, collection = tiny_corpus["queries"], tiny_corpus["collection"]
    pairs = [(queries[f"q{i % 8}"], text) for i, text in enumerate(collection.values())]
    batched = score_pairs(model, tokenizer, pairs, **OPTIONS)
    one_by_one = [score_pairs(model, tokenizer, [p], **OPTIONS)[0] for p in pairs]
    assert batched == pytest.approx(one_by_one, abs=1e-5)
    assert len(set(batched)) > len(pairs) // 2  # distinct scores: the check can fail
    order = list(range(len(pairs)))
    random.Random(0).shuffle(order)
    shuffled = score_pairs(model, tokenizer, [pairs[i] for i in order], **OPTIONS)
    assert shuffled == pytest.approx([batched[i] for i in order], abs=1e-5)


def test_score_pairs_restores_training_mode(tiny_loaded):
    model, tokenizer = tiny_loaded
    model.train()
    score_pairs(model, tokenizer, [("q", "p")], **OPTIONS)
    assert model.training


def test_missing_text_is_an_error(tiny_loaded, tiny_corpus):
    del tiny_corpus["collection"]["d1_2"]
    with pytest.raises(KeyError, match="d1_2"):
        _rerank(tiny_loaded, tiny_corpus, depth=5)
