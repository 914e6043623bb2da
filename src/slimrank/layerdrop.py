"""Layer dropping: keep L of the N transformer layers of a BERT-family model.

Sajjad et al. (2023, "On the effect of dropping layers of pre-trained transformer models")
found top-layer dropping a strong baseline; "every_other" is their alternate-dropping variant,
generalised to any L so it can serve 3, 6 and 9 of 12 alike.
"""

from __future__ import annotations

from typing import Literal

from torch import nn

from slimrank.params import encoder_layers

Strategy = Literal["bottom", "every_other"]


def layers_to_keep(num_layers: int, keep: int, strategy: Strategy = "bottom") -> list[int]:
    """0-based indices of the layers that survive, in order.

    * ``"bottom"``: ``[0, 1, ..., keep-1]``, i.e. the top ``num_layers - keep`` layers go.
    * ``"every_other"``: split the N layers into ``keep`` contiguous blocks as evenly as possible
      and keep the *last* layer of each block: index ``floor((i+1) * N / L + 1/2) - 1`` for
      ``i = 0..L-1``. When L divides N this is exactly every (N/L)-th layer, ending at the top:
      N=12 keeps ``[1, 3, 5, 7, 9, 11]`` for L=6 and ``[3, 7, 11]`` for L=3; L=9 keeps
      ``[0, 2, 3, 4, 6, 7, 8, 10, 11]``. The top layer always survives, so the pooler and head
      still read the output of the layer they were trained on.
    """
    if not 1 <= keep <= num_layers:
        raise ValueError(f"keep must be in 1..{num_layers}, got {keep}")
    if strategy == "bottom":
        return list(range(keep))
    if strategy == "every_other":
        # Integer form of floor((i+1)*N/L + 1/2): no float rounding, no banker's rounding.
        return [(2 * (i + 1) * num_layers + keep) // (2 * keep) - 1 for i in range(keep)]
    raise ValueError(f"unknown strategy {strategy!r}; expected 'bottom' or 'every_other'")


def drop_layers(model: nn.Module, keep: int, strategy: Strategy = "bottom") -> nn.Module:
    """Keep ``keep`` encoder layers of ``model`` (chosen by :func:`layers_to_keep`), in place.

    ``config.num_hidden_layers`` is updated so ``save_pretrained``/``from_pretrained`` round-trip
    to an L-layer model (the ``ModuleList`` renumbers the state-dict keys ``layer.0..L-1``).
    Per-layer bookkeeping that transformers keeps for KV caches (``layer_idx`` attributes,
    ``config.layer_types`` where a model has it) is renumbered to match. Returns ``model``.
    """
    _, layers = encoder_layers(model)
    indices = layers_to_keep(len(layers), keep, strategy)
    kept = [layers[i] for i in indices]
    for new_idx, layer in enumerate(kept):
        for module in layer.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = new_idx
    # Slice the existing ModuleList in place so every reference to it (encoder.layer) sees it.
    del layers[len(kept) :]
    for new_idx, layer in enumerate(kept):
        layers[new_idx] = layer
    config = model.config
    layer_types = getattr(config, "layer_types", None)
    if isinstance(layer_types, list) and len(layer_types) == config.num_hidden_layers:
        config.layer_types = [layer_types[i] for i in indices]
    config.num_hidden_layers = keep
    return model
