"""Structured pruning: remove feed-forward neurons physically, so the pruned reranker is a
smaller *dense* model (narrower matrices, fewer FLOPs) that loads with plain ``from_pretrained``.

What can be removed and still load without remote code: a BERT config has one
``intermediate_size`` for every layer and derives the attention head size as
``hidden_size // num_attention_heads``. So

* **FFN neurons** can be removed, the same number in every layer (each layer keeps its own most
  important ones): ``config.intermediate_size`` becomes that number;
* **attention heads cannot**: fewer heads with the same ``hidden_size`` would change the head
  size of the survivors, and ``transformers`` 5 has no ``prune_heads``/``pruned_heads`` any
  more; a per-layer head count or FFN width would need a custom model class.

The importance of a neuron is the magnitude of the weights it owns (Han et al. 2015 in its
structured form, as in the neuron-pruning baselines of Michel et al. 2019 and Hoefler et al.
2021): the L2 norm of its row of the intermediate (up) projection times the L2 norm of its
column of the output (down) projection, the scale at which it can change the layer's output.
It needs no gradients, so the same model always gets the same structure.

A neuron costs ``2 * hidden_size + 1`` parameters per layer (its row and bias in the up
projection, its column in the down projection), so a target parameter count is reached to
within ``num_layers * (2 * hidden_size + 1)`` parameters (0.03% of MiniLM-L6): exactly enough
to match a layer-drop model within 0.5% wherever the FFNs hold enough parameters. For
MiniLM-L6 (22.71M) the 4- and 3-layer models' counts are met with 767 and 382 of 1,536 neurons
per layer; the 2-layer model's only with one neuron per layer (0.1% off: an FFN-less model,
since the FFNs of all six layers hold 7.08M parameters and four whole layers 7.09M). A matched
model must keep at least :data:`MIN_KEEP_FRACTION` of each layer's neurons, so that it is a
narrower network rather than an attention-only one: for MiniLM-L6 the 3-, 4- and 5-layer
counts are reachable (382, 767, 1,151 neurons), for BERT-base (12 layers) the 5- to 11-layer
counts (6 and 9 layers: 766 and 1,919 of 3,072 neurons; its 3-layer count is 15.6% below even a
one-neuron model). :func:`matched_neurons` names the reachable counts when asked for another.

Why written here: no maintained library prunes Hugging Face BERT FFNs physically to a parameter
budget and saves a model that loads with stock ``from_pretrained`` (``torch.nn.utils.prune``
only masks; nn_pruning and Intel's neural-compressor save custom formats).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from slimrank.params import encoder_layers, total_parameters

#: A matched structured model's parameter count may differ from its target by this fraction.
MATCH_TOLERANCE = 0.005
#: A matched structured model keeps at least this share of each layer's FFN neurons: a target
#: below it is "unreachable" (MiniLM-L6's 2-layer count would leave 1 neuron of 1,536).
MIN_KEEP_FRACTION = 0.1


def _ffn(layer: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    """The up (intermediate) and down (output) projections of a BERT-family layer."""
    try:
        return layer.intermediate.dense, layer.output.dense
    except AttributeError as error:
        raise ValueError(
            f"{type(layer).__name__} has no intermediate.dense / output.dense: structured FFN "
            "pruning supports BERT-family encoders"
        ) from error


def neuron_importance(model: nn.Module) -> list[torch.Tensor]:
    """One score per FFN neuron and layer: ||up row|| * ||down column|| (module docstring)."""
    scores = []
    for layer in encoder_layers(model)[1]:
        up, down = _ffn(layer)
        scores.append(up.weight.detach().norm(dim=1) * down.weight.detach().norm(dim=0))
    return scores


def neurons_to_keep(model: nn.Module, keep: int) -> list[torch.Tensor]:
    """Per layer, the (sorted) indices of its ``keep`` most important neurons; ties go to the
    lower index, so the choice is deterministic."""
    kept = []
    for scores in neuron_importance(model):
        if not 1 <= keep <= scores.numel():
            raise ValueError(f"keep must be between 1 and {scores.numel()} neurons, not {keep}")
        order = torch.argsort(-scores, stable=True)
        kept.append(torch.sort(order[:keep]).values)
    return kept


def neuron_masks(model: nn.Module, keep: int) -> list[torch.Tensor]:
    """Per layer, a boolean keep-mask over its neurons (the masked dense twin of a pruned
    model: zeroing a neuron's up row and bias makes GELU output 0, so it contributes nothing)."""
    masks = []
    for layer, indices in zip(encoder_layers(model)[1], neurons_to_keep(model, keep), strict=True):
        mask = torch.zeros(_ffn(layer)[0].out_features, dtype=torch.bool)
        mask[indices] = True
        masks.append(mask)
    return masks


def mask_neurons(model: nn.Module, keep: int) -> None:
    """Zero the weights of every neuron :func:`prune_ffn` would remove, shapes unchanged."""
    with torch.no_grad():
        for layer, mask in zip(encoder_layers(model)[1], neuron_masks(model, keep), strict=True):
            up, down = _ffn(layer)
            up.weight[~mask] = 0
            up.bias[~mask] = 0
            down.weight[:, ~mask] = 0


def _slice_linear(linear: nn.Linear, indices: torch.Tensor, dim: int) -> nn.Linear:
    """A new Linear holding ``indices`` of ``linear``'s outputs (dim 0) or inputs (dim 1)."""
    weight = linear.weight.detach().index_select(dim, indices).clone()
    out_features, in_features = weight.shape
    sliced = nn.Linear(in_features, out_features, bias=linear.bias is not None)
    sliced.to(dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        sliced.weight.copy_(weight)
        if linear.bias is not None:
            bias = linear.bias.detach()
            sliced.bias.copy_(bias.index_select(0, indices) if dim == 0 else bias)
    return sliced


def prune_ffn(model: nn.Module, keep: int) -> nn.Module:
    """Remove all but ``keep`` FFN neurons of every layer in place; returns ``model``, whose
    ``config.intermediate_size`` is then ``keep`` (so ``save_pretrained`` output reloads)."""
    layers = encoder_layers(model)[1]
    for layer, indices in zip(layers, neurons_to_keep(model, keep), strict=True):
        up, down = _ffn(layer)
        layer.intermediate.dense = _slice_linear(up, indices, dim=0)
        layer.output.dense = _slice_linear(down, indices, dim=1)
    model.config.intermediate_size = keep
    return model


def params_per_neuron(model: nn.Module) -> int:
    """Parameters one neuron index costs over all layers (its up row and bias, down column)."""
    layers = encoder_layers(model)[1]
    return len(layers) * (2 * model.config.hidden_size + 1)


def neurons_for_total(model: nn.Module, target_total: int, min_keep: int = 1) -> int:
    """FFN width whose model has the parameter count closest to ``target_total``.

    Raises where the closest reachable count is more than :data:`MATCH_TOLERANCE` off (the
    target needs fewer parameters than a model with ``min_keep`` neurons per layer, or more than
    the unpruned one) or needs fewer than ``min_keep`` neurons per layer.
    """
    total = total_parameters(model)
    width = model.config.intermediate_size
    per_neuron = params_per_neuron(model)
    removed = round((total - target_total) / per_neuron)
    keep = min(max(width - removed, 1), width)
    reached = total - (width - keep) * per_neuron
    error = abs(reached - target_total) / target_total
    if error > MATCH_TOLERANCE:
        raise ValueError(
            f"structured FFN pruning cannot reach {target_total:,} parameters: with {keep} of "
            f"{width} neurons per layer the model has {reached:,} ({error:.1%} off, more than "
            f"{MATCH_TOLERANCE:.1%})"
        )
    if keep < min_keep:
        raise ValueError(
            f"structured FFN pruning cannot reach {target_total:,} parameters: it would keep "
            f"{keep} of {width} neurons per layer, fewer than the {min_keep} required"
        )
    return keep


def min_neurons(model: nn.Module) -> int:
    """The fewest neurons per layer a matched structured model may keep
    (:data:`MIN_KEEP_FRACTION` of the width, rounded up)."""
    return max(1, math.ceil(MIN_KEEP_FRACTION * model.config.intermediate_size))


def reachable_layer_counts(model: nn.Module) -> list[int]:
    """The layer counts ``L`` below the model's depth whose ``drop-L`` parameter count
    structured FFN pruning of ``model`` reaches (within tolerance, with at least
    :func:`min_neurons` neurons per layer)."""
    reachable = []
    for layers in range(1, model.config.num_hidden_layers):
        target = total_parameters(model.config, num_hidden_layers=layers)
        try:
            neurons_for_total(model, target, min_neurons(model))
        except ValueError:
            continue
        reachable.append(layers)
    return reachable


def matched_neurons(model: nn.Module, layers: int) -> tuple[int, int]:
    """``(neurons per layer, target total)`` of the structured model matched to the parameter
    count of the ``layers``-layer layer-drop model of ``model`` (from its config, so before any
    pruning). An unreachable count raises, naming the reachable ones."""
    target = total_parameters(model.config, num_hidden_layers=layers)
    try:
        return neurons_for_total(model, target, min_neurons(model)), target
    except ValueError as error:
        raise ValueError(
            f"structured-match-L{layers} is unreachable: {error}; with at least "
            f"{min_neurons(model)} of {model.config.intermediate_size} neurons per layer "
            f"(MIN_KEEP_FRACTION {MIN_KEEP_FRACTION}) this "
            f"{model.config.num_hidden_layers}-layer model reaches the layer counts "
            f"{reachable_layer_counts(model)} (compression.structured.matched)"
        ) from None


def neurons_for_fraction(model: nn.Module, ffn_keep: float) -> int:
    """Neurons per layer a ``structured-w{pct}`` model keeps: ``ffn_keep`` of the width,
    rounded, at least one."""
    if not 0 < ffn_keep <= 1:
        raise ValueError(f"ffn_keep must be in (0, 1], not {ffn_keep}")
    return max(1, round(ffn_keep * model.config.intermediate_size))


def prune_ffn_to_match(model: nn.Module, target_total: int) -> tuple[int, nn.Module]:
    """Prune FFN neurons until the model's parameter count is closest to ``target_total``;
    returns the neurons kept per layer and the (same, now smaller) model."""
    keep = neurons_for_total(model, target_total)
    return keep, prune_ffn(model, keep)
