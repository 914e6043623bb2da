"""Reranking BM25 candidates: depth, input order, and bitwise-identical repeated runs."""

from __future__ import annotations

import random

import pytest
import torch

from slimrank.models import encode_pairs, load_cross_encoder
from slimrank.quantize import is_quantized, quantize_dynamic_int8
from slimrank.rerank import Reranker
from slimrank.trec import ranked, write_run

OPTIONS = {"batch_size": 4, "progress": False}

pytestmark = pytest.mark.usefixtures("tiny_single_thread")


@pytest.fixture
def tiny_loaded(tiny_model_dir):
    return Reranker.load(tiny_model_dir, device="cpu", precision="fp32", max_length=64)


def _rerank(reranker, corpus, depth):
    return reranker.rerank(
        corpus["run"], corpus["queries"], corpus["collection"], depth=depth, **OPTIONS
    )


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


def test_score_keeps_input_order(tiny_loaded, tiny_corpus):
    queries, collection = tiny_corpus["queries"], tiny_corpus["collection"]
    pairs = [(queries[f"q{i % 8}"], text) for i, text in enumerate(collection.values())]
    batched = tiny_loaded.score(pairs, **OPTIONS)
    one_by_one = [tiny_loaded.score([p], **OPTIONS)[0] for p in pairs]
    assert batched == pytest.approx(one_by_one, abs=1e-5)
    assert len(set(batched)) > len(pairs) // 2  # distinct scores: the check can fail
    order = list(range(len(pairs)))
    random.Random(0).shuffle(order)
    shuffled = tiny_loaded.score([pairs[i] for i in order], **OPTIONS)
    assert shuffled == pytest.approx([batched[i] for i in order], abs=1e-5)


def test_score_restores_training_mode(tiny_loaded):
    tiny_loaded.model.train()
    tiny_loaded.score([("q", "p")], **OPTIONS)
    assert tiny_loaded.model.training


def test_load_decides_device_precision_and_int8(tiny_model_dir, tiny_corpus, monkeypatch):
    """The one place that decides: auto precision is resolved for the device; int8 means the
    CPU in fp32 whatever was asked, and scores like quantizing the loaded model by hand."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    auto = Reranker.load(tiny_model_dir, max_length=64)
    assert (auto.device, auto.precision, auto.max_length) == (torch.device("cpu"), "bf16", 64)
    assert not is_quantized(auto.model) and not auto.model.training
    # A model loaded to score in bf16 is cast once; fp32 keeps float32 weights.
    assert {p.dtype for p in auto.model.parameters()} == {torch.bfloat16}
    fp32 = Reranker.load(tiny_model_dir, max_length=64, precision="fp32")
    assert {p.dtype for p in fp32.model.parameters()} == {torch.float32}
    int8 = Reranker.load(tiny_model_dir, max_length=64, precision="bf16", int8=True)
    assert is_quantized(int8.model)
    assert (int8.device, int8.precision) == (torch.device("cpu"), "fp32")
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    by_hand = Reranker(quantize_dynamic_int8(model), tokenizer, "cpu", "fp32", 64)
    pairs = [(tiny_corpus["queries"]["q1"], text) for text in tiny_corpus["collection"].values()]
    assert int8.score(pairs, **OPTIONS) == by_hand.score(pairs, **OPTIONS)
    with pytest.raises(ValueError, match="fp32 only"):
        Reranker(int8.model, tokenizer, "cpu", "bf16", 64)
    with pytest.raises(ValueError, match="move it first"):
        Reranker(model, tokenizer, "cuda", "fp32", 64)
    with pytest.raises(ValueError, match="bf16 only"):
        Reranker(auto.model, tokenizer, "cpu", "fp32", 64)


def test_reranker_scores_as_the_plain_forward_pass(tiny_model_dir):
    """fp32 is a plain float32 forward pass over the pairs' encoding, bitwise."""
    reranker = Reranker.load(tiny_model_dir, device="cpu", precision="fp32", max_length=32)
    pairs = [("what is a cat", "a cat is an animal"), ("a dog", "dogs bark at night " * 9)]
    with torch.inference_mode():
        inputs = encode_pairs(reranker.tokenizer, *zip(*pairs, strict=True), 32)
        plain = reranker.model(**inputs).logits.squeeze(-1).tolist()
    assert reranker.score(pairs, batch_size=2, progress=False) == plain


def test_missing_text_is_an_error(tiny_loaded, tiny_corpus):
    del tiny_corpus["collection"]["d1_2"]
    with pytest.raises(KeyError, match="d1_2"):
        _rerank(tiny_loaded, tiny_corpus, depth=5)
