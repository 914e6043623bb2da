"""Parameter accounting for BERT-family rerankers: what counts, what is prunable, how sparse.

The study compares variants at matched *parameter counts*, so one definition of "prunable" is
shared by the pruning code, the matched-sparsity arithmetic and the efficiency tables:

* **Prunable** = the weight matrices of the ``nn.Linear`` modules inside the encoder layers
  (attention query/key/value, attention output dense, intermediate dense, output dense; six per
  BERT layer). This is the usual target of BERT pruning studies (Chen et al. 2020, Sanh et al.
  2020) and is exactly the set of parameters layer dropping removes, apart from the small
  per-layer biases and LayerNorms.
* **Dense, never pruned**: embeddings, every LayerNorm, every bias, the pooler and the
  classification head. The pooler lives outside the encoder layers, so it is *excluded* from the
  prunable set: it is one hidden x hidden matrix that feeds the head directly, it exists in both
  the full and the layer-dropped model (so it cancels out of the matched comparison), and
  pruning it would mix a head-side change into an encoder-side comparison.

Counts are structural (``numel``) unless a name says "nonzero"; the total of a model built on
the meta device is therefore available without allocating any memory.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, PretrainedConfig

#: File patterns that hold model weights in a Hugging Face checkpoint directory.
WEIGHT_FILE_PATTERNS: tuple[str, ...] = ("*.safetensors", "pytorch_model*.bin")


def encoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """Return ``(qualified_name, module_list)`` of the transformer layers of ``model``.

    BERT, RoBERTa, ELECTRA and MiniLM keep them at ``model.base_model.encoder.layer``; that path
    is tried first. Otherwise the layers are the unique ``nn.ModuleList`` whose length equals
    ``config.num_hidden_layers`` (e.g. DistilBERT's ``transformer.layer``). Anything ambiguous
    raises instead of guessing, because a wrong guess would silently prune or drop the wrong
    modules.
    """
    base = getattr(model, "base_model", model)
    candidate = getattr(getattr(base, "encoder", None), "layer", None)
    if not isinstance(candidate, nn.ModuleList):
        num_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
        found = [
            module
            for _, module in model.named_modules()
            if isinstance(module, nn.ModuleList) and len(module) == num_layers
        ]
        if len(found) != 1:
            raise ValueError(
                f"cannot locate the encoder layers of {type(model).__name__}: expected "
                f"base_model.encoder.layer or one ModuleList of length {num_layers}, "
                f"found {len(found)}"
            )
        candidate = found[0]
    for name, module in model.named_modules():
        if module is candidate:
            return name, candidate
    raise AssertionError("encoder layers are not a submodule of the model")  # unreachable


def prunable_linear_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The encoder's ``nn.Linear`` weight matrices, keyed by their ``named_parameters`` name.

    Only weights inside the encoder layers count (see the module docstring for why the pooler,
    head, embeddings, LayerNorms and biases stay dense). The dict is in module order, so global
    rankings built from it are deterministic. Values are the live parameters: writing to them
    changes the model.
    """
    prefix, _ = encoder_layers(model)
    weights: dict[str, nn.Parameter] = {}
    for name, module in model.named_modules():
        if name.startswith(prefix + ".") and isinstance(module, nn.Linear):
            weights[f"{name}.weight"] = module.weight
    if not weights:
        raise ValueError(f"no nn.Linear weights found under {prefix!r}")
    return weights


def layer_index(model: nn.Module, weight_name: str) -> int:
    """The encoder-layer index a prunable weight belongs to (``...layer.3.x.weight`` -> 3)."""
    prefix, _ = encoder_layers(model)
    if not weight_name.startswith(prefix + "."):
        raise ValueError(f"{weight_name!r} is not inside the encoder layers {prefix!r}")
    return int(weight_name[len(prefix) + 1 :].split(".", 1)[0])


def meta_model(config: PretrainedConfig, num_hidden_layers: int | None = None) -> nn.Module:
    """Build the reranker architecture for ``config`` on the meta device (no memory, fast).

    The reranker is ``AutoModelForSequenceClassification`` (encoder + pooler + head), so counts
    from a config match counts from the real models the workflow trains, provided ``config``
    carries the same ``num_labels``. ``num_hidden_layers`` overrides the depth (for the
    layer-drop variants) without touching the caller's config.
    """
    config = copy.deepcopy(config)
    if num_hidden_layers is not None:
        config.num_hidden_layers = num_hidden_layers
    with torch.device("meta"):
        return AutoModelForSequenceClassification.from_config(config)


def total_parameters(
    model_or_config: nn.Module | PretrainedConfig, num_hidden_layers: int | None = None
) -> int:
    """Structural parameter count (shared parameters counted once).

    Accepts a model, or a config that is built on the meta device via :func:`meta_model`
    (``num_hidden_layers`` only applies to configs). ``total_parameters(config, 3)`` is the size
    of the 3-layer layer-drop variant of ``config``.
    """
    if isinstance(model_or_config, PretrainedConfig):
        model = meta_model(model_or_config, num_hidden_layers)
    elif num_hidden_layers is not None:
        raise ValueError("num_hidden_layers applies to configs only; use drop_layers on models")
    else:
        model = model_or_config
    return sum(p.numel() for p in model.parameters())


def count_parameters(model: nn.Module) -> dict[str, int | float]:
    """Parameter counts for the efficiency table.

    Keys: ``total`` (all parameters), ``nonzero`` (non-zero elements over all parameters),
    ``prunable`` and ``prunable_nonzero`` (the encoder Linear weights), ``encoder_sparsity``
    (fraction of prunable weights that are exactly zero), ``layers`` (encoder depth) and
    ``intermediate_size`` (FFN neurons per layer; narrower after structured pruning, None for a
    config without one).
    Needs real tensors (not the meta device), because it looks at values.
    """
    total = nonzero = 0
    for p in model.parameters():
        total += p.numel()
        nonzero += int(torch.count_nonzero(p.detach()))
    prunable = prunable_nonzero = 0
    for w in prunable_linear_weights(model).values():
        prunable += w.numel()
        prunable_nonzero += int(torch.count_nonzero(w.detach()))
    return {
        "total": total,
        "nonzero": nonzero,
        "prunable": prunable,
        "prunable_nonzero": prunable_nonzero,
        "encoder_sparsity": 1.0 - prunable_nonzero / prunable,
        "layers": len(encoder_layers(model)[1]),
        "intermediate_size": getattr(model.config, "intermediate_size", None),
    }


def size_on_disk(directory: str | Path) -> int:
    """Bytes of the weight files (``*.safetensors``, ``pytorch_model*.bin``) in a checkpoint dir.

    Tokenizer and config files are left out so the number compares models, not tokenizers.
    Unstructured zeros are stored densely, so pruning does not shrink this number; that is a
    finding the paper reports, not a bug.
    """
    directory = Path(directory)
    files = {f for pattern in WEIGHT_FILE_PATTERNS for f in directory.glob(pattern) if f.is_file()}
    if not files:
        raise FileNotFoundError(
            f"no weight files ({', '.join(WEIGHT_FILE_PATTERNS)}) in {directory}"
        )
    return sum(f.stat().st_size for f in files)


def matched_sparsity(
    full_model_or_config: nn.Module | PretrainedConfig, target_total_params: int
) -> float:
    """Encoder-Linear sparsity that leaves the full model with ``target_total_params`` non-zeros.

    ``target_total_params`` is the total parameter count of the layer-drop variant, e.g.
    ``total_parameters(config, num_hidden_layers=3)``. The answer is
    ``(total_full - target) / prunable_full``: zeroing that fraction of the prunable weights
    (``magnitude_masks`` zeroes exactly ``round(sparsity * prunable)``) leaves exactly
    ``target`` structurally non-zero parameters. Counts are structural on both sides, so
    incidental zeros (e.g. a zero padding-embedding row) are ignored equally for both variants.
    Both counts must use the same head (same ``num_labels``); it then cancels out.
    """
    if isinstance(full_model_or_config, PretrainedConfig):
        model = meta_model(full_model_or_config)
    else:
        model = full_model_or_config
    total = total_parameters(model)
    prunable = sum(w.numel() for w in prunable_linear_weights(model).values())
    to_zero = total - int(target_total_params)
    if not 0 <= to_zero <= prunable:
        raise ValueError(
            f"target {target_total_params} is unreachable: the full model has {total} parameters "
            f"of which only {prunable} are prunable"
        )
    return to_zero / prunable


def mask_statistics(model: nn.Module) -> dict:
    """Sparsity of the prunable weights, globally, per encoder layer and per matrix (JSON-ready).

    Read from the weights themselves (a weight is pruned iff it is exactly zero), so it also
    describes a checkpoint loaded back from disk, where no mask object survives.
    """
    per_layer: dict[int, list[int]] = {}
    matrices: dict[str, dict[str, int | float]] = {}
    for name, w in prunable_linear_weights(model).items():
        numel = w.numel()
        zeros = numel - int(torch.count_nonzero(w.detach()))
        matrices[name] = {"numel": numel, "zeros": zeros, "sparsity": zeros / numel}
        counts = per_layer.setdefault(layer_index(model, name), [0, 0])
        counts[0] += numel
        counts[1] += zeros
    numel_all = sum(m["numel"] for m in matrices.values())
    zeros_all = sum(m["zeros"] for m in matrices.values())
    return {
        "prunable": numel_all,
        "zeros": zeros_all,
        "sparsity": zeros_all / numel_all,
        "layers": [
            {"layer": i, "prunable": n, "zeros": z, "sparsity": z / n}
            for i, (n, z) in sorted(per_layer.items())
        ],
        "matrices": matrices,
    }


def params_table(records: list[dict]):
    """Tidy table of the variants' parameter records (one row each).

    ``match_error`` is a matched model's relative deviation from the total parameter count of
    the layer-drop model it matches (the study requires < 0.5%): of its non-zero count for an
    unstructured pruned model, of its total for a structured one (a dense model, whose
    incidental zeros are parameters all the same).
    """
    import pandas as pd

    from slimrank.study import PARAMS, STRUCTURED

    columns = [c for c in PARAMS if c != PARAMS.match_error]  # read from the records
    table = pd.DataFrame([{c: r.get(c) for c in columns} for r in records], columns=columns)
    matched = table[PARAMS.matched_total].notna()
    size = table[PARAMS.nonzero].where(table[PARAMS.family] != STRUCTURED, table[PARAMS.total])
    table[PARAMS.match_error] = None
    table.loc[matched, PARAMS.match_error] = (
        size[matched] / table.loc[matched, PARAMS.matched_total] - 1
    )
    return table
