"""Compression of cross-encoder rerankers: one import for the workflow scripts.

The code lives in three modules: :mod:`slimrank.layerdrop` (keep L of N layers),
:mod:`slimrank.params` (what counts as prunable, parameter counts, matched sparsity) and
:mod:`slimrank.pruning` (magnitude masks, training callbacks, lottery-ticket rewinding).

Matching a pruned variant to a layer-drop variant::

    target = total_parameters(config, num_hidden_layers=3)  # the 3-layer model's size
    sparsity = matched_sparsity(config, target)             # ~0.751 for bert-base
    sparsity, masks = prune_to_match(model, target)         # or one-shot, in place
"""

from slimrank.layerdrop import drop_layers, layers_to_keep
from slimrank.params import (
    count_parameters,
    encoder_layers,
    mask_statistics,
    matched_sparsity,
    meta_model,
    prunable_linear_weights,
    size_on_disk,
    total_parameters,
)
from slimrank.pruning import (
    GradualMagnitudePruning,
    MaskHold,
    Masks,
    apply_masks,
    cubic_sparsity,
    magnitude_masks,
    magnitude_prune,
    masks_from_weights,
    prune_to_match,
    rewind_to_pretrained,
)

__all__ = [
    "GradualMagnitudePruning",
    "MaskHold",
    "Masks",
    "apply_masks",
    "count_parameters",
    "cubic_sparsity",
    "drop_layers",
    "encoder_layers",
    "layers_to_keep",
    "magnitude_masks",
    "magnitude_prune",
    "mask_statistics",
    "masks_from_weights",
    "matched_sparsity",
    "meta_model",
    "prunable_linear_weights",
    "prune_to_match",
    "rewind_to_pretrained",
    "size_on_disk",
    "total_parameters",
]
