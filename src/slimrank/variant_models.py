"""Making the model a variant's fine-tuning starts from, and its training callbacks.

Kept apart from :mod:`slimrank.study` (the table), which the Snakefile imports while it
parses and which therefore must not pull in torch.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from slimrank.layerdrop import drop_layers, layers_to_keep
from slimrank.models import load_cross_encoder
from slimrank.params import matched_sparsity, total_parameters
from slimrank.pruning import (
    GradualMagnitudePruning,
    MaskHold,
    magnitude_prune,
    masks_from_weights,
    rewind_to_pretrained,
)
from slimrank.structured import matched_neurons, neurons_for_fraction, prune_ffn
from slimrank.study import STRUCTURED, Variant


def target_sparsity(variant: Variant, config) -> tuple[float, int | None]:
    """``(sparsity, matched_total)`` of a pruned variant of a model with ``config``.

    Matched variants get the sparsity that leaves the full-depth model with exactly the total
    parameter count of ``drop-L{match_layers}`` (computed from the real shapes), sweep variants
    their configured sparsity.
    """
    if variant.match_layers is not None:
        target = total_parameters(config, num_hidden_layers=variant.match_layers)
        return matched_sparsity(config, target), target
    if variant.sparsity is None:
        raise ValueError(f"{variant.name} is not a pruned variant")
    return float(variant.sparsity), None


def initial_model(
    variant: Variant,
    base: str,
    full_model_dir: str | None,
    *,
    layer_strategy: str = "bottom",
    scope: str = "global",
):
    """The model a variant's fine-tuning starts from, its tokenizer and a JSON-ready record.

    - drop: the pre-trained base with the kept layers and a fresh (seeded) head;
    - oneshot: the fine-tuned full model, magnitude-pruned to the target;
    - lottery: the same mask, survivors rewound to the pre-trained values, head re-drawn from
      the seed (as the full model's fine-tuning drew it);
    - gmp: the pre-trained base itself; the pruning happens during fine-tuning;
    - structured: the fine-tuned full model with FFN neurons removed physically (the same
      number per layer: matched to ``drop-L{match_layers}``'s total, or ``ffn_keep`` of them),
      a smaller dense model that ``from_pretrained`` loads.
    """
    torch.manual_seed(variant.seed)
    info: dict = {"variant": variant.name, "base": base}
    if variant.family == "drop":
        model, tokenizer = load_cross_encoder(base)
        kept = layers_to_keep(model.config.num_hidden_layers, variant.layers, layer_strategy)
        drop_layers(model, variant.layers, layer_strategy)
        info.update(kept_layers=kept, layer_strategy=layer_strategy)
        return model, tokenizer, info
    if variant.family == STRUCTURED:
        if full_model_dir is None:
            raise ValueError(f"{variant.name} needs the fine-tuned full model")
        model, tokenizer = load_cross_encoder(full_model_dir)
        width = model.config.intermediate_size
        if variant.match_layers is not None:
            keep, target = matched_neurons(model, variant.match_layers)
        elif variant.ffn_keep is not None:
            keep, target = neurons_for_fraction(model, variant.ffn_keep), None
        else:
            raise ValueError(f"{variant.name}: a structured variant needs match_layers or ffn_keep")
        prune_ffn(model, keep)
        info.update(
            ffn_neurons=width,
            ffn_neurons_kept=keep,
            matched_total=target,
            importance="||up row|| * ||down column|| per layer",
            pruned_from=full_model_dir,
        )
        return model, tokenizer, info
    if variant.family != "prune":
        raise ValueError(f"{variant.name}: no initial model to make for family {variant.family}")
    if variant.schedule == "gmp":
        model, tokenizer = load_cross_encoder(base)
        sparsity, target = target_sparsity(variant, model.config)
        info.update(target_sparsity=sparsity, matched_total=target, scope=scope)
        return model, tokenizer, info
    if full_model_dir is None:
        raise ValueError(f"{variant.name} needs the fine-tuned full model")
    model, tokenizer = load_cross_encoder(full_model_dir)
    sparsity, target = target_sparsity(variant, model.config)
    masks = magnitude_prune(model, sparsity, scope)
    info.update(
        target_sparsity=sparsity, matched_total=target, scope=scope, mask_from=full_model_dir
    )
    if variant.schedule == "lottery":
        torch.manual_seed(variant.seed)
        pretrained, _ = load_cross_encoder(base)
        rewind_to_pretrained(model, pretrained, masks, seed=variant.seed)
        info.update(rewound_to=base)
    return model, tokenizer, info


def training_callbacks(variant: Variant, info: Mapping, total_steps: int, gmp: Mapping):
    """Callbacks of a variant's fine-tuning and the first step a checkpoint may be selected at.

    Pruned variants hold their mask (read back from the zeros of the initial model; structured
    models hold none, their pruned neurons are gone); ``gmp``
    prunes on the cubic schedule from ``gmp.start`` to ``gmp.end`` (fractions of the run) and
    only checkpoints at the final sparsity may be selected.
    """
    if variant.family != "prune":
        return [], 0
    if variant.schedule == "gmp":
        start = int(gmp["start"] * total_steps)
        end = max(start + 1, int(gmp["end"] * total_steps))
        callback = GradualMagnitudePruning(
            final_sparsity=info["target_sparsity"],
            start_step=start,
            end_step=end,
            frequency=gmp["frequency"],
            scope=info["scope"],
        )
        return [callback], end
    return [HoldZeros()], 0


class HoldZeros(MaskHold):
    """``MaskHold`` whose mask is read from the zeros of the model that training starts from.

    The pruned initial model is a plain dense checkpoint, so its zeros are the mask; on a
    resume the held zeros give back the same mask.
    """

    def __init__(self) -> None:
        super().__init__({})

    def on_train_begin(self, model) -> None:
        if not self.masks:
            self.masks = masks_from_weights(model)
        super().on_train_begin(model)
