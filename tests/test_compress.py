"""Unit tests of layer dropping, parameter accounting and magnitude pruning (tiny models)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    DistilBertConfig,
    DistilBertForSequenceClassification,
)

from slimrank.layerdrop import drop_layers, layers_to_keep
from slimrank.params import (
    count_parameters,
    encoder_layers,
    mask_statistics,
    matched_sparsity,
    prunable_linear_weights,
    size_on_disk,
    total_parameters,
)
from slimrank.pruning import (
    GradualMagnitudePruning,
    MaskHold,
    apply_masks,
    cubic_sparsity,
    magnitude_masks,
    magnitude_prune,
    masks_from_weights,
    prune_to_match,
    rewind_to_pretrained,
)

# Tiny models gain nothing from intra-op threads; on a busy 2-core machine they lose a lot.
pytestmark = pytest.mark.usefixtures("tiny_single_thread")

HIDDEN, LAYERS, INTERMEDIATE = 32, 4, 64
# Per BERT layer: q, k, v, attention-output (hidden x hidden) + intermediate + output.
PRUNABLE_PER_LAYER = 4 * HIDDEN * HIDDEN + 2 * HIDDEN * INTERMEDIATE


def tiny_config(num_hidden_layers: int = LAYERS) -> BertConfig:
    # Dropout off: the resume test needs training to depend on weights and data only.
    return BertConfig(
        vocab_size=100,
        hidden_size=HIDDEN,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=2,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=64,
        num_labels=1,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


def tiny_model(seed: int = 0, num_hidden_layers: int = LAYERS) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_config(num_hidden_layers)).eval()


def fill_nonzero(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every parameter non-zero values (HF init zeroes biases and the padding row)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            magnitude = torch.rand(p.shape, generator=generator) + 0.01
            sign = torch.randint(0, 2, p.shape, generator=generator) * 2 - 1
            p.copy_(magnitude * sign)


def zeros(model: torch.nn.Module) -> int:
    return sum(
        w.numel() - int(torch.count_nonzero(w)) for w in prunable_linear_weights(model).values()
    )


def batch(step: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1000 + step)
    return {
        "input_ids": torch.randint(1, 100, (4, 12), generator=generator),
        "labels": torch.rand(4, 1, generator=generator),
    }


def train(model, callbacks, optimizer, first_step: int, last_step: int, total_steps: int) -> None:
    """Minimal stand-in for the training loop's callback protocol."""
    for step in range(first_step, last_step + 1):
        data = batch(step)
        logits = model(input_ids=data["input_ids"]).logits
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, data["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for callback in callbacks:
            callback.on_step_end(model, step, total_steps)


def adamw(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)


# --- parameter accounting -------------------------------------------------------------------


def test_prunable_weights_are_encoder_linears_only():
    model = tiny_model()
    weights = prunable_linear_weights(model)
    assert len(weights) == 6 * LAYERS
    assert sum(w.numel() for w in weights.values()) == LAYERS * PRUNABLE_PER_LAYER
    assert all(name.startswith("bert.encoder.layer.") for name in weights)
    assert all(name.endswith(".weight") and w.dim() == 2 for name, w in weights.items())
    assert "bert.encoder.layer.0.attention.self.query.weight" in weights
    assert "bert.encoder.layer.3.output.dense.weight" in weights
    assert not any("pooler" in n or "classifier" in n or "embeddings" in n for n in weights)


def test_count_parameters_dense_and_pruned():
    model = tiny_model()
    fill_nonzero(model)
    counts = count_parameters(model)
    total = sum(p.numel() for p in model.parameters())
    assert counts == {
        "total": total,
        "nonzero": total,
        "prunable": LAYERS * PRUNABLE_PER_LAYER,
        "prunable_nonzero": LAYERS * PRUNABLE_PER_LAYER,
        "encoder_sparsity": 0.0,
        "layers": LAYERS,
        "intermediate_size": INTERMEDIATE,
    }
    magnitude_prune(model, 0.25)
    counts = count_parameters(model)
    pruned = round(0.25 * LAYERS * PRUNABLE_PER_LAYER)
    assert counts["nonzero"] == total - pruned
    assert counts["prunable_nonzero"] == LAYERS * PRUNABLE_PER_LAYER - pruned
    assert counts["encoder_sparsity"] == pytest.approx(0.25)


def test_size_on_disk_counts_weight_files(tmp_path: Path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    assert size_on_disk(tmp_path) == (tmp_path / "model.safetensors").stat().st_size
    with pytest.raises(FileNotFoundError):
        size_on_disk(tmp_path / "nothing-here")


# --- layer dropping -------------------------------------------------------------------------


def test_layers_to_keep_indices():
    assert layers_to_keep(12, 3, "bottom") == [0, 1, 2]
    assert layers_to_keep(12, 6, "every_other") == [1, 3, 5, 7, 9, 11]
    assert layers_to_keep(12, 3, "every_other") == [3, 7, 11]
    assert layers_to_keep(12, 9, "every_other") == [0, 2, 3, 4, 6, 7, 8, 10, 11]
    assert layers_to_keep(6, 3, "every_other") == [1, 3, 5]
    assert layers_to_keep(6, 2, "every_other") == [2, 5]
    assert layers_to_keep(4, 4, "every_other") == [0, 1, 2, 3]
    for bad in (0, 13):
        with pytest.raises(ValueError):
            layers_to_keep(12, bad)
    with pytest.raises(ValueError):
        layers_to_keep(12, 6, "middle")  # type: ignore[arg-type]


@pytest.mark.parametrize(("strategy", "kept"), [("bottom", [0, 1]), ("every_other", [1, 3])])
def test_drop_layers_round_trip(tmp_path: Path, strategy: str, kept: list[int]):
    model = tiny_model()
    original = [copy.deepcopy(layer.state_dict()) for layer in model.bert.encoder.layer]
    assert drop_layers(model, 2, strategy) is model  # type: ignore[arg-type]
    assert model.config.num_hidden_layers == 2
    assert len(model.bert.encoder.layer) == 2
    for layer, index in zip(model.bert.encoder.layer, kept, strict=True):
        for key, value in layer.state_dict().items():
            assert torch.equal(value, original[index][key])
    assert total_parameters(model) == total_parameters(tiny_config(), num_hidden_layers=2)

    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert reloaded.config.num_hidden_layers == 2
    assert len(reloaded.bert.encoder.layer) == 2
    for key, value in model.state_dict().items():
        assert torch.equal(value, reloaded.state_dict()[key]), key
    input_ids = torch.randint(1, 100, (3, 10))
    with torch.no_grad():
        logits = reloaded(input_ids=input_ids).logits
        expected = model(input_ids=input_ids).logits
    assert logits.shape == (3, 1)
    torch.testing.assert_close(logits, expected)


def test_drop_layers_finds_layers_generically():
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=100, dim=32, n_layers=4, n_heads=2, hidden_dim=64)
    model = DistilBertForSequenceClassification(config)
    assert encoder_layers(model)[0] == "distilbert.transformer.layer"
    assert len(prunable_linear_weights(model)) == 6 * 4
    drop_layers(model, 3)
    assert len(model.distilbert.transformer.layer) == 3 and model.config.n_layers == 3
    model(input_ids=torch.randint(1, 100, (2, 8)))


# --- matched sparsity -----------------------------------------------------------------------


@pytest.mark.parametrize(("keep", "expected"), [(3, 0.75), (6, 0.50), (9, 0.25)])
def test_matched_sparsity_bert_base(keep: int, expected: float):
    config = BertConfig(num_labels=1)  # bert-base: hidden 768, 12 layers, 3072, vocab 30522
    full = total_parameters(config)
    assert full == 109_483_009
    target = total_parameters(config, num_hidden_layers=keep)
    sparsity = matched_sparsity(config, target)
    assert abs(sparsity - expected) <= 0.01
    prunable = 12 * (4 * 768 * 768 + 2 * 768 * 3072)
    nonzero_after = full - round(sparsity * prunable)
    assert abs(nonzero_after - target) <= 0.005 * target
    assert nonzero_after == target  # exact, in fact: the fraction is computed from counts


@pytest.mark.parametrize("keep", [3, 6, 9])
def test_prune_to_match_hits_layer_drop_count(keep: int):
    config = tiny_config(num_hidden_layers=12)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    fill_nonzero(model)
    target = total_parameters(config, num_hidden_layers=keep)
    sparsity, _ = prune_to_match(model, target)
    assert sparsity == matched_sparsity(config, target)
    assert count_parameters(model)["nonzero"] == target
    assert zeros(model) == round(sparsity * 12 * PRUNABLE_PER_LAYER)


def test_matched_sparsity_rejects_unreachable_targets():
    config = tiny_config()
    with pytest.raises(ValueError):
        matched_sparsity(config, total_parameters(config) + 1)
    with pytest.raises(ValueError):
        matched_sparsity(config, total_parameters(config) - LAYERS * PRUNABLE_PER_LAYER - 1)


# --- magnitude pruning ----------------------------------------------------------------------


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.37, 0.5, 0.9, 1.0])
def test_global_pruning_is_exact_and_by_magnitude(sparsity: float):
    model = tiny_model()
    before = {n: w.detach().clone() for n, w in prunable_linear_weights(model).items()}
    n = sum(w.numel() for w in before.values())
    masks = magnitude_prune(model, sparsity, scope="global")
    assert zeros(model) == round(sparsity * n)
    assert sum(int((~m).sum()) for m in masks.values()) == round(sparsity * n)
    if 0.0 < sparsity < 1.0:
        pruned = torch.cat([before[k][~m].abs() for k, m in masks.items()])
        kept = torch.cat([before[k][m].abs() for k, m in masks.items()])
        assert pruned.max() <= kept.min()


@pytest.mark.parametrize("sparsity", [0.1, 0.37, 0.8])
def test_per_layer_pruning_is_exact_per_matrix(sparsity: float):
    model = tiny_model()
    magnitude_prune(model, sparsity, scope="per_layer")
    for w in prunable_linear_weights(model).values():
        assert w.numel() - int(torch.count_nonzero(w)) == round(sparsity * w.numel())


def test_ties_are_broken_by_index_deterministically():
    weights = {"a": torch.ones(4, 5), "b": torch.ones(3, 5)}
    weights["b"][0, 0] = 0.5  # the single smallest: always pruned first
    masks = magnitude_masks(weights, 0.3, scope="global")  # round(0.3 * 35) = 10
    assert sum(int((~m).sum()) for m in masks.values()) == 10
    assert not masks["b"][0, 0]
    assert (~masks["a"]).flatten().tolist() == [True] * 9 + [False] * 11  # lowest indices go
    again = magnitude_masks(weights, 0.3, scope="global")
    assert all(torch.equal(masks[k], again[k]) for k in masks)


def test_invalid_sparsity_and_scope():
    weights = {"a": torch.randn(3, 3)}
    with pytest.raises(ValueError):
        magnitude_masks(weights, 1.5)
    with pytest.raises(ValueError):
        magnitude_masks(weights, 0.5, scope="per_row")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        apply_masks(tiny_model(), {"not.a.weight": torch.ones(3, 3, dtype=torch.bool)})


def test_mask_hold_survives_adamw_and_save_reload(tmp_path: Path):
    model = tiny_model()
    masks = magnitude_masks(prunable_linear_weights(model), 0.6)
    n_pruned = sum(int((~m).sum()) for m in masks.values())
    hold = MaskHold(masks)

    # Without the hold, AdamW (weight decay + momentum) revives zeroed weights.
    unheld = copy.deepcopy(model)
    apply_masks(unheld, masks)
    train(unheld, [], adamw(unheld), 1, 2, 2)
    assert zeros(unheld) < n_pruned

    model.train()
    hold.on_train_begin(model)
    assert zeros(model) == n_pruned
    train(model, [hold], adamw(model), 1, 3, 3)
    assert zeros(model) == n_pruned
    for name, w in prunable_linear_weights(model).items():
        assert torch.all(w[~masks[name]] == 0)

    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", framework="pt") as f:
        keys = set(f.keys())
    assert keys == set(model.state_dict())
    assert not any("weight_orig" in k or "weight_mask" in k for k in keys)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert zeros(reloaded) == n_pruned
    recovered = masks_from_weights(reloaded)
    assert all(torch.equal(recovered[name], masks[name]) for name in masks)


def test_mask_statistics():
    model = tiny_model()
    magnitude_prune(model, 0.5, scope="per_layer")
    stats = json.loads(json.dumps(mask_statistics(model)))
    assert stats["prunable"] == LAYERS * PRUNABLE_PER_LAYER
    assert stats["zeros"] == LAYERS * PRUNABLE_PER_LAYER // 2
    assert stats["sparsity"] == 0.5
    assert [layer["layer"] for layer in stats["layers"]] == list(range(LAYERS))
    assert all(layer["sparsity"] == 0.5 for layer in stats["layers"])
    assert len(stats["matrices"]) == 6 * LAYERS
    assert stats["sparsity"] == pytest.approx(count_parameters(model)["encoder_sparsity"])


# --- gradual magnitude pruning --------------------------------------------------------------


def test_cubic_sparsity_schedule():
    args = {"start_step": 10, "end_step": 20, "initial": 0.0, "final": 0.8}
    assert cubic_sparsity(0, **args) == 0.0
    assert cubic_sparsity(10, **args) == 0.0
    assert cubic_sparsity(15, **args) == pytest.approx(0.8 - 0.8 / 8)  # (1 - 1/2)^3 = 1/8
    assert cubic_sparsity(20, **args) == 0.8
    assert cubic_sparsity(25, **args) == 0.8
    values = [cubic_sparsity(t, **args) for t in range(0, 26)]
    assert values == sorted(values)
    assert cubic_sparsity(12, 10, 20, 0.5, 0.9) == pytest.approx(0.9 - 0.4 * 0.8**3)


GMP = {"final_sparsity": 0.7, "start_step": 2, "end_step": 12, "frequency": 3}  # prunes 2,5,8,11,12


@pytest.mark.parametrize("scope", ["global", "per_layer"])
def test_gmp_follows_schedule_and_ends_exact(scope: str):
    model = tiny_model().train()
    n = LAYERS * PRUNABLE_PER_LAYER
    gmp = GradualMagnitudePruning(**GMP, scope=scope)  # type: ignore[arg-type]
    gmp.on_train_begin(model)
    assert zeros(model) == 0
    optimizer = adamw(model)
    last_pruned, previous = 0.0, {n: torch.ones_like(m) for n, m in gmp.masks.items()}
    for step in range(1, 17):
        train(model, [gmp], optimizer, step, step, 16)
        if step in (2, 5, 8, 11, 12):
            last_pruned = cubic_sparsity(step, 2, 12, 0.0, 0.7)
        if scope == "global":
            assert zeros(model) == round(last_pruned * n), step
        else:
            for w in prunable_linear_weights(model).values():
                assert w.numel() - int(torch.count_nonzero(w)) == round(last_pruned * w.numel())
        assert all(not (m & ~previous[k]).any() for k, m in gmp.masks.items())  # only shrinks
        previous = {k: m.clone() for k, m in gmp.masks.items()}
    assert last_pruned == 0.7
    if scope == "global":
        assert zeros(model) == round(0.7 * n)


@pytest.mark.parametrize("checkpoint_step", [6, 7])  # resume into a hold step / a pruning step
def test_gmp_resume_matches_uninterrupted_run(checkpoint_step: int):
    straight = tiny_model().train()
    gmp = GradualMagnitudePruning(**GMP)
    gmp.on_train_begin(straight)
    train(straight, [gmp], adamw(straight), 1, 16, 16)

    first = tiny_model().train()
    gmp_first = GradualMagnitudePruning(**GMP)
    gmp_first.on_train_begin(first)
    optimizer = adamw(first)
    train(first, [gmp_first], optimizer, 1, checkpoint_step, 16)
    # "Checkpoint", then resume with a fresh callback, as after a crash.
    resumed = tiny_model(seed=99).train()
    resumed.load_state_dict(first.state_dict())
    optimizer_resumed = adamw(resumed)
    optimizer_resumed.load_state_dict(optimizer.state_dict())
    gmp_resumed = GradualMagnitudePruning(**GMP)
    gmp_resumed.on_train_begin(resumed)
    train(resumed, [gmp_resumed], optimizer_resumed, checkpoint_step + 1, 16, 16)

    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_gmp_end_defaults_to_total_steps():
    gmp = GradualMagnitudePruning(final_sparsity=0.5, start_step=0, frequency=1)
    assert gmp.scheduled_sparsity(10, total_steps=10) == 0.5
    assert gmp.scheduled_sparsity(5, total_steps=10) == pytest.approx(0.5 - 0.5 / 8)
    with pytest.raises(ValueError):
        GradualMagnitudePruning(final_sparsity=0.5, start_step=5, end_step=5)


# --- lottery-ticket rewinding ---------------------------------------------------------------


def test_rewind_restores_pretrained_values_exactly():
    torch.manual_seed(1)
    pretrained = BertModel(tiny_config())
    fill_nonzero(pretrained, seed=1)
    finetuned = tiny_model(seed=2)
    fill_nonzero(finetuned, seed=2)
    masks = magnitude_prune(finetuned, 0.6)
    classifier_before = finetuned.classifier.weight.detach().clone()

    rewound = rewind_to_pretrained(copy.deepcopy(finetuned), pretrained, masks, seed=0)
    source = dict(pretrained.named_parameters())
    for name, w in prunable_linear_weights(rewound).items():
        original = source[name.removeprefix("bert.")]
        assert torch.equal(w[masks[name]], original[masks[name]])
        assert torch.all(w[~masks[name]] == 0)
    for name, p in rewound.bert.named_parameters():
        if f"bert.{name}" not in masks:
            assert torch.equal(p, source[name]), name
    # The head is absent from the encoder: a fresh init, fixed by the seed.
    assert not torch.equal(rewound.classifier.weight, classifier_before)
    assert torch.all(rewound.classifier.bias == 0)
    std = rewound.classifier.weight.std().item()
    assert math.isfinite(std) and 0.0 < std < 0.1
    again = rewind_to_pretrained(copy.deepcopy(finetuned), pretrained, masks, seed=0)
    assert torch.equal(again.classifier.weight, rewound.classifier.weight)

    # Rewinding to the exact starting point of fine-tuning keeps its head too.
    start = tiny_model(seed=3)
    exact = rewind_to_pretrained(copy.deepcopy(finetuned), start, masks)
    assert torch.equal(exact.classifier.weight, start.classifier.weight)
