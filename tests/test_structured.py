"""Structured FFN pruning: physical shapes, counts after save/load, matched sizes, and the
pruned model scoring exactly as its masked dense twin."""

import copy

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from slimrank.params import total_parameters
from slimrank.structured import (
    mask_neurons,
    neurons_for_total,
    neurons_to_keep,
    prune_ffn,
    prune_ffn_to_match,
)

from .conftest import save_tiny_bert

HIDDEN, WIDTH, LAYERS = 32, 64, 2  # the tiny BERT of conftest.save_tiny_bert


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("bert"), layers=LAYERS, max_positions=64)


def load(path):
    return AutoModelForSequenceClassification.from_pretrained(path).eval()


def test_pruned_model_is_smaller_dense_and_reloads_with_from_pretrained(tiny_dir, tmp_path):
    model = load(tiny_dir)
    full = total_parameters(model)
    prune_ffn(model, 10)
    for layer in model.bert.encoder.layer:
        assert tuple(layer.intermediate.dense.weight.shape) == (10, HIDDEN)
        assert tuple(layer.intermediate.dense.bias.shape) == (10,)
        assert tuple(layer.output.dense.weight.shape) == (HIDDEN, 10)
    model.save_pretrained(tmp_path / "pruned")
    reloaded = load(tmp_path / "pruned")
    assert reloaded.config.intermediate_size == 10
    # Each removed neuron index: up row (32) + up bias (1) + down column (32), in both layers.
    assert total_parameters(reloaded) == full - LAYERS * (WIDTH - 10) * (2 * HIDDEN + 1)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, reloaded.state_dict()[name]), name


def test_scores_equal_the_masked_dense_model(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    batch = tokenizer(
        ["what is bm25", "capital of france"],
        ["bm25 is a ranking function", "paris is the capital"],
        padding=True,
        return_tensors="pt",
    )
    dense = load(tiny_dir)
    mask_neurons(dense, 12)
    pruned = prune_ffn(load(tiny_dir), 12)
    with torch.no_grad():
        expected = dense(**batch).logits
        got = pruned(**batch).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # and pruning changed the scores at all (the test would pass trivially otherwise)
    with torch.no_grad():
        assert not torch.allclose(load(tiny_dir)(**batch).logits, got)


def test_the_most_important_neurons_are_kept(tiny_dir):
    model = load(tiny_dir)
    with torch.no_grad():
        up = model.bert.encoder.layer[1].intermediate.dense.weight
        down = model.bert.encoder.layer[1].output.dense.weight
        up[[5, 40]] *= 100  # large rows and columns: by far the most important neurons
        down[:, [5, 40]] *= 100
        up[7] = 0  # owns no weight: never kept while another neuron is left
    kept = neurons_to_keep(model, 2)
    assert kept[1].tolist() == [5, 40]
    assert 7 not in neurons_to_keep(model, WIDTH - 1)[1].tolist()


def test_matched_count_is_within_half_a_percent_and_unreachable_sizes_fail(tiny_dir):
    model = load(tiny_dir)
    per_neuron = LAYERS * (2 * HIDDEN + 1)
    target = total_parameters(model) - 37 * per_neuron - 20  # between two reachable sizes
    keep, pruned = prune_ffn_to_match(copy.deepcopy(model), target)
    assert keep == WIDTH - 37
    assert abs(total_parameters(pruned) - target) <= per_neuron / 2
    assert abs(total_parameters(pruned) - target) / target <= 0.005
    # Below a model with one neuron per layer: cannot be reached, and the error says so.
    too_small = total_parameters(model) - WIDTH * per_neuron - 10_000
    with pytest.raises(ValueError, match="cannot reach"):
        neurons_for_total(model, too_small)
