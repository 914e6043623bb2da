"""Efficiency tooling: int8 variants, sparse storage and kernels, benchmarks, FLOPs."""

from __future__ import annotations

import json
import statistics

import pytest
import torch
from scipy.stats import spearmanr
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig

from slimrank import efficiency
from slimrank.efficiency import (
    BENCHMARK_KEYS,
    benchmark_model,
    benchmark_pairs,
    benchmark_variant,
    compare_throughput,
    effective_flops,
    flops_per_pair,
    sparse_linear_speed,
)
from slimrank.models import load_cross_encoder
from slimrank.params import count_parameters, prunable_linear_weights
from slimrank.pruning import magnitude_prune
from slimrank.quantize import (
    is_quantized,
    load_quantized,
    quantize_dynamic_int8,
)
from slimrank.rerank import Reranker
from slimrank.sparse import (
    SparseLinear,
    checkpoint_sizes,
    decode_sparse,
    dense_size_bytes,
    encode_sparse,
    gzip_dense_size_bytes,
    sparse_size_bytes,
    sparsify_linears,
)

pytestmark = pytest.mark.usefixtures("tiny_single_thread")


def _score(model, tokenizer, pairs) -> list[float]:
    """Scores as the rerank jobs compute them (fp32 on the CPU, batches of 8, 64 tokens)."""
    return Reranker(model, tokenizer, "cpu", "fp32", 64).score(pairs, batch_size=8, progress=False)


@pytest.fixture
def pairs(tiny_corpus) -> list[tuple[str, str]]:
    """The 64 (query, passage) pairs of the tiny BM25-like run."""
    queries, collection = tiny_corpus["queries"], tiny_corpus["collection"]
    return [(queries[q], collection[d]) for q, docs in tiny_corpus["run"].items() for d in docs]


@pytest.fixture
def spread_model(tiny_model_dir):
    """The tiny architecture re-initialised with std 0.2 instead of BERT's 0.02.

    At std 0.02 the random 2-layer network maps every pair to nearly the same logit (std
    1-4e-5, measured), far below the rounding noise of int8 (3-6e-4) and bf16 (1-3e-4), so
    *any* approximation scrambles its ranking (measured Spearman -0.05 to 0.67) and a rank test
    would measure nothing. At std 0.2 the logits spread out (std
    ~0.15) and reduced precision has something to preserve.
    """
    config = AutoConfig.from_pretrained(tiny_model_dir)
    config.initializer_range = 0.2
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(config).eval()


def _bitwise_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))
    )


# ----------------------------------------------------------------------------- int8 and bf16
def test_int8_model_ranks_like_fp32(spread_model, tiny_model_dir, pairs):
    _, tokenizer = load_cross_encoder(tiny_model_dir)
    quantized = quantize_dynamic_int8(spread_model)
    assert is_quantized(quantized) and not is_quantized(spread_model)
    linears = [m for m in quantized.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 14 and all(m.weight.qdata.dtype == torch.int8 for m in linears)
    fp32 = _score(spread_model, tokenizer, pairs)
    int8 = _score(quantized, tokenizer, pairs)  # the rerank path accepts it
    # Per-channel int8 weights and per-token int8 activations (torchao): scores within 0.35 of
    # the scores' std of fp32 (measured 0.23 on these pairs), the same top pair, and
    # Spearman above 0.95 (an unrelated scoring gives ~0).
    spread = statistics.pstdev(fp32)
    assert max(abs(a - b) for a, b in zip(fp32, int8, strict=True)) < 0.35 * spread
    assert max(abs(a - b) for a, b in zip(fp32, int8, strict=True)) > 0  # really quantized
    assert spearmanr(fp32, int8).statistic > 0.95
    assert max(range(len(pairs)), key=fp32.__getitem__) == max(
        range(len(pairs)), key=int8.__getitem__
    )


def test_int8_scores_depend_less_on_the_batch_than_per_tensor_scales(
    spread_model, tiny_model_dir, pairs
):
    """A pair scored alone and inside a padded batch: per-token activation scales leave only
    rounding flips (fp32 itself differs by ~1e-6 between the two), far less than the old
    per-tensor scheme, whose scale was the batch's."""
    _, tokenizer = load_cross_encoder(tiny_model_dir)
    reranker = Reranker(quantize_dynamic_int8(spread_model), tokenizer, "cpu", "fp32", 32)
    fp32 = Reranker(spread_model, tokenizer, "cpu", "fp32", 32)
    batched = reranker.score(pairs, batch_size=len(pairs), progress=False)
    alone = [reranker.score([pair], batch_size=1, progress=False)[0] for pair in pairs]
    fp32_batched = fp32.score(pairs, batch_size=len(pairs), progress=False)
    fp32_alone = [fp32.score([pair], batch_size=1, progress=False)[0] for pair in pairs]
    spread = statistics.pstdev(fp32_batched)
    assert max(abs(a - b) for a, b in zip(fp32_alone, fp32_batched, strict=True)) < 1e-4 * spread
    assert max(abs(a - b) for a, b in zip(alone, batched, strict=True)) < 0.1 * spread


def test_load_quantized_is_deterministic(tiny_model_dir, pairs):
    from_dir, tokenizer = load_quantized(tiny_model_dir)
    model, _ = load_cross_encoder(tiny_model_dir)
    in_memory = quantize_dynamic_int8(model)
    assert is_quantized(from_dir)
    scores = _score(from_dir, tokenizer, pairs)
    assert scores == _score(in_memory, tokenizer, pairs)


# ----------------------------------------------------------------------------- sparse storage
def test_sparse_encoding_round_trips_bitwise_and_is_smaller(tiny_model_dir, tmp_path):
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    magnitude_prune(model, 0.8)
    with torch.no_grad():  # bit patterns a value-based "!= 0" would lose or mangle
        weight = next(iter(prunable_linear_weights(model).values()))
        weight[0, 0], weight[0, 1] = -0.0, float("nan")
    state = model.state_dict()
    state["extra.bf16"] = torch.arange(-3, 5, dtype=torch.bfloat16).reshape(2, 4)
    state["extra.int"] = torch.tensor([0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0], dtype=torch.int64)
    state["extra.empty"] = torch.zeros(0, 3)
    state["extra.scalar"] = torch.tensor(2.5)

    decoded = decode_sparse(encode_sparse(state))
    assert list(decoded) == list(state)
    for name, tensor in state.items():
        assert _bitwise_equal(decoded[name], tensor), name
    assert encode_sparse(state) == encode_sparse(state)  # deterministic bytes

    # The prunable matrices alone: 20% of the values + a 1-bit-per-weight mask (1/32 of the
    # fp32 bytes), then gzip; well under a third of their dense bytes.
    prunable = {n: w.detach() for n, w in prunable_linear_weights(model).items()}
    dense_prunable = sum(w.numel() * w.element_size() for w in prunable.values())
    assert sparse_size_bytes(prunable) < 0.3 * dense_prunable

    model.save_pretrained(tmp_path / "pruned")
    sizes = checkpoint_sizes(tmp_path / "pruned")
    assert sizes["dense_bytes"] == dense_size_bytes(tmp_path / "pruned")
    # The tiny model is 98% embeddings (dense), so the whole-model saving is small but real.
    assert sizes["sparse_bytes"] < sizes["gzip_dense_bytes"] < sizes["dense_bytes"]
    whole = model.state_dict()
    assert sparse_size_bytes(whole) < gzip_dense_size_bytes(whole)


# ----------------------------------------------------------------------------- sparse kernels
@pytest.mark.parametrize("bias", [True, False])
def test_sparse_linear_equals_dense_linear(bias):
    torch.manual_seed(0)
    linear = nn.Linear(48, 24, bias=bias)
    with torch.no_grad():
        linear.weight[torch.rand_like(linear.weight) < 0.8] = 0.0
    sparse = SparseLinear.from_linear(linear)
    x = torch.randn(3, 7, 48)
    with torch.inference_mode():
        expected, got = linear(x), sparse(x)
    assert got.shape == expected.shape == (3, 7, 24)
    # Same products, different summation order: fp32 rounding only.
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_sparsify_linears_keeps_scores(tiny_model_dir, pairs):
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    magnitude_prune(model, 0.8)
    sparse_model, swapped = sparsify_linears(model)
    assert len(swapped) == 2 * 6  # 2 layers x (Q, K, V, O, FFN in, FFN out)
    assert all(isinstance(m, nn.Linear) for m in (model.bert.pooler.dense, model.classifier))
    assert sum(isinstance(m, SparseLinear) for m in sparse_model.modules()) == 12
    assert not any(isinstance(m, SparseLinear) for m in model.modules())  # original untouched
    dense = _score(model, tokenizer, pairs)
    sparse = _score(sparse_model, tokenizer, pairs)
    assert sparse == pytest.approx(dense, abs=1e-6)


def test_sparse_linear_speed_reports_both_paths(tiny_model_dir, pairs):
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    magnitude_prune(model, 0.8)
    reranker = Reranker(model, tokenizer, "cpu", "fp32", 64)
    report = sparse_linear_speed(reranker, pairs, batch_size=8, repeats=1)
    assert report["swapped_layers"] == 12
    assert report["encoder_sparsity"] == pytest.approx(0.8, abs=1e-3)
    assert report["dense_pairs_per_s"] > 0 and report["sparse_pairs_per_s"] > 0
    assert report["speedup"] == pytest.approx(
        report["sparse_pairs_per_s"] / report["dense_pairs_per_s"]
    )
    assert report["max_abs_diff"] <= 1e-4
    json.dumps(report)


# ----------------------------------------------------------------------------- benchmark
def test_benchmark_model_reports_every_key(tiny_model_dir, pairs):
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    reranker = Reranker(model, tokenizer, "cpu", "fp32", 64)
    result = benchmark_model(reranker, pairs, batch_size=8, warmup=1, repeats=3, latency_depth=10)
    assert set(result) == set(BENCHMARK_KEYS)
    assert (result["precision"], result["max_length"]) == ("fp32", 64)
    json.dumps(result)
    assert result["device"] == "cpu" and result["torch_version"] == torch.__version__
    assert result["threads"] == 1 and result["dtype"] == "float32"
    assert (result["n_pairs"], result["batch_size"], result["latency_depth"]) == (64, 8, 10)
    assert 5 < result["mean_tokens"] <= 64
    assert len(result["throughput_runs"]) == len(result["latency_runs_ms"]) == 3
    assert 0 < result["throughput_min"] <= result["throughput_pairs_per_s"]
    assert result["throughput_pairs_per_s"] <= result["throughput_max"]
    assert 0 < result["latency_ms_min"] <= result["latency_ms"] <= result["latency_ms_max"]
    assert 0 < result["peak_rss_mb_before"] <= result["peak_rss_mb"] < 1e6
    assert result["peak_cuda_mb"] is None


def test_compare_throughput_warms_each_model_up_once(tiny_model_dir, pairs, monkeypatch):
    model = Reranker.load(tiny_model_dir, device="cpu", precision="fp32", max_length=32)
    reference = Reranker.load(tiny_model_dir, device="cpu", precision="fp32", max_length=32)
    calls = {id(model): [], id(reference): []}
    score_seconds = efficiency._score_seconds

    def spy(scored, batch, batch_size):
        calls[id(scored)].append(len(batch))
        return score_seconds(scored, batch, batch_size)

    monkeypatch.setattr(efficiency, "_score_seconds", spy)
    record = compare_throughput(
        model, reference, pairs[:20], batch_size=8, repeats=3, latency_depth=6
    )
    # Per model: one warm-up batch (8 pairs) and one warm-up latency call (6), then three timed
    # passes over the 20 pairs and three timed latency calls.
    for seen in calls.values():
        assert sorted(seen) == sorted([8, 6] + [20, 6] * 3)
    assert record["repeats"] == 3 and record["warmup"] == 1
    assert len(record["throughput_runs"]) == 3 and record["pairs_per_s_ratio"] > 0


def test_benchmark_model_options(tiny_model_dir, pairs):
    model = Reranker.load(tiny_model_dir, device="cpu", precision="fp32", max_length=32)
    quantized = Reranker.load(tiny_model_dir, max_length=32, int8=True)
    options = {"batch_size": 16, "warmup": 0, "repeats": 1, "latency_depth": 100}
    result = benchmark_model(quantized, pairs[:5], **options)
    assert result["dtype"] == "int8" and result["precision"] == "fp32"
    assert result["latency_depth"] == 5  # clamped to the pairs given
    assert benchmark_model(model, pairs[:4], num_threads=2, **options)["threads"] == 2
    assert torch.get_num_threads() == 1  # restored


def test_benchmark_pairs_take_each_query_top_depth(tiny_corpus):
    queries, collection, run = (tiny_corpus[k] for k in ("queries", "collection", "run"))
    pairs = benchmark_pairs(queries, collection, run, depth=2, n_pairs=5)
    # q0's two best (d0_0, d0_1), q1's two best, then q2's best: qids in sorted order.
    expected = [("q0", "d0_0"), ("q0", "d0_1"), ("q1", "d1_0"), ("q1", "d1_1"), ("q2", "d2_0")]
    assert pairs == [(queries[q], collection[d]) for q, d in expected]


@pytest.fixture(scope="module")
def half_pruned_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with half its encoder Linear weights pruned, saved in its own folder."""
    model, tokenizer = load_cross_encoder(tiny_model_dir)
    magnitude_prune(model, 0.5)
    folder = tmp_path_factory.mktemp("half_pruned")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("int8", [False, True])
def test_benchmark_variant_records_everything(tiny_model_dir, half_pruned_dir, pairs, int8):
    options = {"batch_size": 8, "max_length": 64, "repeats": 2, "latency_depth": 8}
    record = benchmark_variant(
        half_pruned_dir,
        tiny_model_dir,
        pairs[:16],
        int8=int8,
        device="auto",
        precision="fp32",
        sparse_check=True,
        **options,
    )
    json.dumps(record)
    assert set(BENCHMARK_KEYS) <= set(record)
    assert record["dtype"] == ("int8" if int8 else "float32") and record["int8"] is int8
    assert record["pairs_per_s_ratio"] == pytest.approx(
        record["throughput_pairs_per_s"] / record["reference_pairs_per_s"]
    )
    counts = count_parameters(load_cross_encoder(half_pruned_dir)[0])
    assert record["nonzero"] == counts["nonzero"] < counts["total"]
    assert record["effective_flops_per_pair"] < record["flops_per_pair"]
    assert record["sparse_bytes"] < record["dense_bytes"]
    assert record["csr_encoder_sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert record["reference_precision"] == "fp32"


def test_peer_cross_encoder_scores_the_pairs_as_the_project_does(
    spread_model, tiny_model_dir, tmp_path, pairs
):
    """sentence-transformers' CrossEncoder on the saved folder (one label, identity
    activation, the same max_length) gives the project's fp32 logits on the same pairs."""
    from slimrank.efficiency import benchmark_peer

    _, tokenizer = load_cross_encoder(tiny_model_dir)
    folder = tmp_path / "spread"
    spread_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    record = benchmark_peer(folder, pairs[:12], batch_size=4, max_length=32, repeats=1)
    json.dumps(record)
    assert record["n_pairs"] == 12 and record["reference_precision"] == "fp32"
    assert record["throughput_pairs_per_s"] > 0 and record["reference_pairs_per_s"] > 0
    assert record["max_abs_diff"] < 1e-4  # the same arithmetic, batched differently
    assert record["spearman"] > 0.999
    # On a CPU the peer's job also measures bf16 against float32 matmuls (the bf16 ceiling).
    assert record["bf16_matmul_speedup"] > 0
    # In fp32 the project's scoring is the fp32 timing; its lead over the peer is the inverse.
    assert record["scoring_precision"] == "fp32"
    assert record["scoring_pairs_per_s"] == record["reference_pairs_per_s"]
    assert record["scoring_over_peer"] == pytest.approx(1 / record["pairs_per_s_ratio"])
    # In bf16 the same job also times the bf16-weights copy: a third, separate measurement.
    bf16 = benchmark_peer(
        folder, pairs[:12], batch_size=4, max_length=32, repeats=1, precision="bf16"
    )
    assert bf16["scoring_precision"] == "bf16" and bf16["precision"] == "fp32"  # the peer's
    assert bf16["scoring_pairs_per_s"] != bf16["reference_pairs_per_s"]
    assert bf16["scoring_over_peer"] == pytest.approx(
        bf16["scoring_pairs_per_s"] / bf16["throughput_pairs_per_s"]
    )


# ----------------------------------------------------------------------------- FLOPs
def test_flops_per_pair_bert_base_by_hand():
    config = BertConfig(num_labels=1)  # the defaults are bert-base-uncased's shapes
    assert (config.hidden_size, config.intermediate_size, config.num_hidden_layers) == (
        768, 3072, 12,
    )  # fmt: skip
    # Multiply-accumulates per layer at 128 tokens:
    #   Q, K, V, O       4 * 128 * 768 * 768  =   301,989,888
    #   FFN in + out     2 * 128 * 768 * 3072 =   603,979,776
    #   Q K^T            128 * 128 * 768      =    12,582,912
    #   softmax(.) V     128 * 128 * 768      =    12,582,912
    #   layer total                           =   931,135,488;  x 12 = 11,173,625,856
    # pooler 768 * 768 = 589,824, classifier 768 * 1 = 768  ->  11,174,216,448 MACs
    assert flops_per_pair(config, 128) == 2 * 11_174_216_448 == 22_348_432_896


def test_effective_flops_counts_only_nonzero_linear_weights(tiny_model_dir):
    model, _ = load_cross_encoder(tiny_model_dir)
    assert effective_flops(model, 40) == flops_per_pair(model.config, 40)  # dense: no saving
    magnitude_prune(model, 0.8)
    counts = count_parameters(model)
    zeros = counts["prunable"] - counts["prunable_nonzero"]
    assert zeros == round(0.8 * counts["prunable"])
    assert flops_per_pair(model.config, 40) - effective_flops(model, 40) == 2 * 40 * zeros


def test_top_k_overlap_and_its_reference_run():
    from slimrank.efficiency import overlap_reference, top_k_overlap

    run = {"q1": {f"d{i}": -i for i in range(12)}, "q2": {f"d{i}": i for i in range(12)}}
    reference = {"q1": {f"d{i}": -i for i in range(12)}, "q2": {f"d{i}": -i for i in range(12)}}
    # q1: the same top 10; q2: d2..d11 against d0..d9 share 8 of 10.
    assert top_k_overlap(run, reference) == pytest.approx((1.0 + 0.8) / 2)
    assert top_k_overlap(run, reference, k=2) == pytest.approx((1.0 + 0.0) / 2)
    models = ["full", "full-fp32", "full-int8", "drop-L2", "drop-L2-int8", "drop-L2-bf16"]
    assert overlap_reference("full", models) == "full-fp32"
    assert overlap_reference("full-int8", models) == "full-fp32"
    assert overlap_reference("full-fp32", models) == "full"
    assert overlap_reference("drop-L2-int8", models) == "drop-L2"  # no drop-L2-fp32 row
    assert overlap_reference("drop-L2", models) is None
    assert overlap_reference("full-st", models) is None
