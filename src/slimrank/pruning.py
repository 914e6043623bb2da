"""Unstructured magnitude pruning of the encoder's Linear weights, with plain boolean masks.

Masks are ``dict[parameter_name, bool tensor]`` with **True = keep, False = pruned**, keyed by
the names :func:`slimrank.params.prunable_linear_weights` returns. They are applied by writing
zeros into the weights, never through ``torch.nn.utils.prune`` reparametrisation, so a pruned
model saves as an ordinary dense Hugging Face checkpoint with zeros (no ``weight_orig`` /
``weight_mask`` keys) and a pruned checkpoint's mask is recoverable as ``weight != 0``.

Training callbacks follow the training loop's protocol: optional ``on_train_begin(model)`` and
``on_step_end(model, step, total_steps)``, called after each optimizer step with ``step`` = the
number of optimizer steps done so far (1-based), also after resuming from a checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn

from slimrank.params import matched_sparsity, prunable_linear_weights

Scope = Literal["global", "per_layer"]
Masks = dict[str, torch.Tensor]


def _smallest_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean vector marking exactly the ``k`` smallest entries of 1-D ``scores``.

    Ties at the threshold are broken by position (lower flat index is pruned first), so the
    count is exact and the result deterministic on any device. ``kthvalue`` + a tie pass avoids
    materialising a full argsort (680 MB of indices for BERT-base's 85M weights).
    """
    n = scores.numel()
    if k <= 0:
        return torch.zeros(n, dtype=torch.bool, device=scores.device)
    if k >= n:
        return torch.ones(n, dtype=torch.bool, device=scores.device)
    threshold = torch.kthvalue(scores, k).values
    chosen = scores < threshold
    missing = k - int(chosen.sum())
    ties = torch.nonzero(scores == threshold).flatten()[:missing]
    chosen[ties] = True
    return chosen


def _masks_from_scores(scores: Mapping[str, torch.Tensor], sparsity: float, scope: Scope) -> Masks:
    """Keep-masks that prune the lowest-scoring ``round(sparsity * n)`` entries.

    ``n`` is all entries together (``"global"``) or each matrix separately (``"per_layer"``).
    """
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    if scope == "global":
        flat = torch.cat([s.reshape(-1).float() for s in scores.values()])
        pruned = _smallest_k(flat, round(sparsity * flat.numel()))
        masks: Masks = {}
        offset = 0
        for name, s in scores.items():
            masks[name] = ~pruned[offset : offset + s.numel()].view(s.shape)
            offset += s.numel()
        return masks
    if scope == "per_layer":
        return {
            name: ~_smallest_k(s.reshape(-1).float(), round(sparsity * s.numel())).view(s.shape)
            for name, s in scores.items()
        }
    raise ValueError(f"unknown scope {scope!r}; expected 'global' or 'per_layer'")


@torch.no_grad()
def magnitude_masks(
    weights: Mapping[str, torch.Tensor], sparsity: float, scope: Scope = "global"
) -> Masks:
    """Keep-masks (True = keep) that zero the smallest-|w| weights.

    Exactly ``round(sparsity * n)`` weights are pruned: ``n`` is the total over all matrices for
    ``scope="global"`` (one threshold for the whole encoder, so layers end up with different
    sparsities) and each matrix's size for ``"per_layer"`` (every ``nn.Linear`` at the same
    sparsity; "layer" in the pruning sense of one weight matrix). Ties are broken by flat index
    in the order of ``weights``, so the result is deterministic.
    """
    return _masks_from_scores({n: w.detach().abs() for n, w in weights.items()}, sparsity, scope)


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Zero, in place, every weight whose mask entry is False."""
    params = dict(model.named_parameters())
    for name, keep in masks.items():
        if name not in params:
            raise KeyError(f"mask for {name!r} matches no parameter of {type(model).__name__}")
        param = params[name]
        if keep.shape != param.shape:
            raise ValueError(f"mask for {name!r} has shape {keep.shape}, weight {param.shape}")
        param.masked_fill_(~keep.to(param.device), 0.0)


def masks_from_weights(model: nn.Module) -> Masks:
    """Keep-masks read back from a pruned model: a prunable weight is pruned iff it is zero.

    Pruned checkpoints are plain dense files, so this is how the recover and rewind stages get
    the mask of a model that was pruned (and saved) by an earlier rule.
    """
    return {n: w.detach() != 0 for n, w in prunable_linear_weights(model).items()}


def magnitude_prune(model: nn.Module, sparsity: float, scope: Scope = "global") -> Masks:
    """One-shot magnitude pruning of the encoder Linear weights; returns the masks applied."""
    masks = magnitude_masks(prunable_linear_weights(model), sparsity, scope)
    apply_masks(model, masks)
    return masks


def prune_to_match(
    model: nn.Module, target_total_params: int, scope: Scope = "global"
) -> tuple[float, Masks]:
    """Prune ``model`` so its non-zero parameter count equals ``target_total_params``.

    Returns ``(sparsity, masks)``. With ``scope="global"`` the structural non-zero count is
    exactly the target; with ``"per_layer"`` per-matrix rounding can leave it off by at most
    half an element per matrix.
    """
    sparsity = matched_sparsity(model, target_total_params)
    return sparsity, magnitude_prune(model, sparsity, scope)


class MaskHold:
    """Training callback that keeps pruned weights at exactly zero.

    AdamW's decoupled weight decay and its momentum move a zeroed weight even when its gradient
    is zero, so the masks are re-applied after every optimizer step (and once at the start, so a
    resumed or freshly loaded model is masked before the first forward pass). Gradients of
    pruned weights are left alone: they cannot change the weights that survive.
    """

    def __init__(self, masks: Mapping[str, torch.Tensor]) -> None:
        self.masks: Masks = dict(masks)

    def on_train_begin(self, model: nn.Module) -> None:
        # Move the masks to the weights' devices once here rather than on every step.
        params = dict(model.named_parameters())
        self.masks = {
            n: m.to(params[n].device) if n in params else m for n, m in self.masks.items()
        }
        apply_masks(model, self.masks)

    def on_step_end(self, model: nn.Module, step: int, total_steps: int) -> None:
        apply_masks(model, self.masks)


def cubic_sparsity(
    step: int, start_step: int, end_step: int, initial: float, final: float
) -> float:
    """Zhu & Gupta (2017) schedule: ``s_f + (s_i - s_f) * (1 - (t - t0) / (T - t0))**3``.

    Clipped: ``initial`` for ``step <= start_step`` and ``final`` for ``step >= end_step``. The
    cube prunes fast while the network has many redundant weights and slowly near the end.
    """
    if end_step < start_step:
        raise ValueError(f"end_step {end_step} is before start_step {start_step}")
    if step >= end_step:
        return final
    if step <= start_step:
        return initial
    progress = (step - start_step) / (end_step - start_step)
    return final + (initial - final) * (1.0 - progress) ** 3


class GradualMagnitudePruning:
    """Gradual magnitude pruning during fine-tuning (Zhu & Gupta 2017), as a training callback.

    Before ``start_step`` the model trains dense. At ``start_step`` and every ``frequency`` steps
    after it, the masks are recomputed from the current magnitudes to
    ``cubic_sparsity(step, ...)``; between pruning steps, and after ``end_step``, the current
    masks are held (weights re-zeroed after every optimizer step, as :class:`MaskHold`). At
    ``end_step`` (even when it is not a multiple of ``frequency``) the sparsity is exactly
    ``round(final_sparsity * n)`` zeros. ``end_step=None`` means the last training step.

    Pruning is monotone: already-pruned weights rank below every surviving weight, so a mask
    only ever loses entries. The only state is the mask, and the mask is ``weight != 0``: on
    ``on_train_begin`` it is read back from the zeros in the (possibly resumed) weights, so a
    run resumed from a checkpoint at step s makes the same decisions as one that never stopped.
    """

    def __init__(
        self,
        final_sparsity: float,
        start_step: int,
        end_step: int | None = None,
        frequency: int = 10,
        initial_sparsity: float = 0.0,
        scope: Scope = "global",
    ) -> None:
        if frequency < 1:
            raise ValueError(f"frequency must be >= 1, got {frequency}")
        if not 0.0 <= initial_sparsity <= final_sparsity <= 1.0:
            raise ValueError("need 0 <= initial_sparsity <= final_sparsity <= 1")
        if end_step is not None and end_step <= start_step:
            raise ValueError(f"end_step {end_step} must come after start_step {start_step}")
        self.final_sparsity = final_sparsity
        self.initial_sparsity = initial_sparsity
        self.start_step = start_step
        self.end_step = end_step
        self.frequency = frequency
        self.scope: Scope = scope
        self.masks: Masks = {}

    def scheduled_sparsity(self, step: int, total_steps: int | None = None) -> float:
        """Target sparsity after optimizer step ``step`` (0 = before training)."""
        if step < self.start_step:
            return 0.0
        end = self._end(total_steps)
        return cubic_sparsity(
            step, self.start_step, end, self.initial_sparsity, self.final_sparsity
        )

    def on_train_begin(self, model: nn.Module) -> None:
        self.masks = masks_from_weights(model)
        if self.start_step <= 0:  # the schedule is at initial_sparsity before the first step
            self._prune(model, self.initial_sparsity)
        apply_masks(model, self.masks)

    def on_step_end(self, model: nn.Module, step: int, total_steps: int) -> None:
        end = self._end(total_steps)
        due = step >= self.start_step and (
            (step - self.start_step) % self.frequency == 0 or step >= end
        )
        if due:
            self._prune(model, self.scheduled_sparsity(step, total_steps))
        apply_masks(model, self.masks)

    def _end(self, total_steps: int | None) -> int:
        end = self.end_step if self.end_step is not None else total_steps
        if end is None or end <= self.start_step:
            raise ValueError(f"end step {end} must come after start_step {self.start_step}")
        return end

    @torch.no_grad()
    def _prune(self, model: nn.Module, sparsity: float) -> None:
        """Grow the masks to ``sparsity`` unless they are already at least that sparse."""
        weights = prunable_linear_weights(model)
        pruned = {n: int((~m).sum()) for n, m in self.masks.items()}
        if self.scope == "global":
            numel = sum(w.numel() for w in weights.values())
            grows = round(sparsity * numel) > sum(pruned.values())
        else:
            grows = any(round(sparsity * w.numel()) > pruned[n] for n, w in weights.items())
        if not grows:
            return
        # Already-pruned weights score -1, below any magnitude, so they stay pruned.
        scores = {n: w.detach().abs().masked_fill(~self.masks[n], -1.0) for n, w in weights.items()}
        self.masks = _masks_from_scores(scores, sparsity, self.scope)
        apply_masks(model, self.masks)


@torch.no_grad()
def rewind_to_pretrained(
    pruned_model: nn.Module,
    pretrained_model: nn.Module,
    masks: Mapping[str, torch.Tensor],
    seed: int = 0,
) -> nn.Module:
    """Lottery-ticket rewinding (Frankle & Carbin 2019; Chen et al. 2020 for BERT), in place.

    Every parameter of ``pruned_model`` that also exists in ``pretrained_model`` gets the
    pre-trained value; then the masked weights are zeroed, so the survivors restart from
    exactly their pre-trained values and the retraining sees the same sparse structure.
    Names are matched directly and, failing that, relative to the base model, so
    ``pretrained_model`` may be a bare ``AutoModel`` (``encoder.layer.0...``) while
    ``pruned_model`` is a ``...ForSequenceClassification`` (``bert.encoder.layer.0...``).

    Parameters absent from ``pretrained_model`` (the classification head when it is a bare
    encoder) are re-initialised as BERT does (Linear/Embedding ~ N(0, initializer_range), bias
    0, LayerNorm 1/0) from a generator seeded with ``seed``: a fixed, documented fresh init,
    independent of the global RNG and of the device. To rewind the head to the exact init the
    original fine-tuning started from, pass that initial sequence-classification model as
    ``pretrained_model`` instead; then nothing is re-initialised. Returns ``pruned_model``.
    """
    source = dict(pretrained_model.named_parameters())
    source_base = dict(getattr(pretrained_model, "base_model", pretrained_model).named_parameters())
    prefix = getattr(pruned_model, "base_model_prefix", "")
    missing: set[str] = set()
    for name, param in pruned_model.named_parameters():
        value = source.get(name)
        if value is None and prefix and name.startswith(prefix + "."):
            value = source_base.get(name[len(prefix) + 1 :])
        if value is None:
            missing.add(name)
            continue
        if value.shape != param.shape:
            raise ValueError(f"{name}: pruned shape {param.shape} != pre-trained {value.shape}")
        param.copy_(value)
    if missing:
        _reinitialise(pruned_model, missing, seed)
    apply_masks(pruned_model, masks)
    return pruned_model


def _reinitialise(model: nn.Module, names: set[str], seed: int) -> None:
    """BERT-style init of the named parameters, drawn on the CPU from ``torch.Generator(seed)``."""
    std = float(getattr(getattr(model, "config", None), "initializer_range", 0.02))
    generator = torch.Generator().manual_seed(seed)
    done: set[str] = set()
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if full not in names:
                continue
            if isinstance(module, nn.LayerNorm):
                value = (
                    torch.ones(param.shape) if param_name == "weight" else torch.zeros(param.shape)
                )
            elif param_name == "bias":
                value = torch.zeros(param.shape)
            elif isinstance(module, nn.Linear | nn.Embedding):
                value = torch.empty(param.shape).normal_(0.0, std, generator=generator)
                if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                    value[module.padding_idx] = 0.0
            else:
                raise TypeError(f"no re-initialisation rule for {full} ({type(module).__name__})")
            param.copy_(value)
            done.add(full)
    if done != names:
        raise AssertionError(f"not re-initialised: {sorted(names - done)}")
