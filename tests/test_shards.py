"""Sharded reranking merges into exactly the unsharded run; per-query metric scores."""

import pytest
import ranx

from slimrank.evaluation import per_query_scores
from slimrank.rerank import Reranker, append_first_stage_tail, shard_of
from slimrank.trec import merge_shards, write_run

pytestmark = pytest.mark.usefixtures("tiny_single_thread")


def test_shards_partition_the_queries():
    run = {f"q{i}": {"d": 1.0} for i in range(7)}
    parts = [shard_of(run, i, 3) for i in range(3)]
    assert sorted(q for part in parts for q in part) == sorted(run)
    assert merge_shards(parts) == run
    assert shard_of(run, 0, 10).keys() == {"q0"}
    assert shard_of({"a": {}}, 5, 10) == {}
    with pytest.raises(ValueError, match="shard 3 is not in 0..2"):
        shard_of(run, 3, 3)
    with pytest.raises(ValueError, match="query q0 is in two shards"):
        merge_shards([parts[0], parts[0]])


def test_sharded_reranking_gives_a_byte_identical_run(tiny_model_dir, tiny_corpus, tmp_path):
    reranker = Reranker.load(tiny_model_dir, device="cpu", precision="fp32", max_length=64)
    kwargs = dict(depth=5, batch_size=3, progress=False)
    args = (tiny_corpus["queries"], tiny_corpus["collection"])
    first = tiny_corpus["run"]
    whole = append_first_stage_tail(reranker.rerank(first, *args, **kwargs), first)
    parts = []
    for shard in range(3):
        part = shard_of(first, shard, 3)
        parts.append(append_first_stage_tail(reranker.rerank(part, *args, **kwargs), part))
    write_run(whole, tmp_path / "whole.trec", tag="full")
    write_run(merge_shards(parts), tmp_path / "merged.trec", tag="full")
    assert (tmp_path / "merged.trec").read_bytes() == (tmp_path / "whole.trec").read_bytes()


def test_per_query_scores_are_keyed_by_the_right_query():
    qrels = {"b": {"x": 1}, "a": {"y": 2}, "c": {"z": 1}}
    run = {"a": {"y": 1.0}, "b": {"w": 2.0, "x": 1.0}}
    scores = per_query_scores(qrels, run, "mrr@10", 1)
    assert scores == {"a": 1.0, "b": 0.5, "c": 0.0}
    mean = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), "mrr@10", make_comparable=True)
    assert sum(scores.values()) / 3 == pytest.approx(mean)
