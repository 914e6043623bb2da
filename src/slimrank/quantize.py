"""Reduced-precision inference variants: int8 dynamic quantization and bfloat16.

**int8 dynamic quantization** (``torch.ao.quantization.quantize_dynamic``) replaces every
``nn.Linear`` by a module that stores its weight as int8 (per-tensor affine scale and zero
point from the weight's min/max) and quantizes each input batch on the fly, so it needs no
calibration data and no retraining. In torch 2.13 the function still works but is marked
deprecated (the warning asks users to move to torchao's ``quantize_``, which is not a
dependency of this project and targets GPUs first). It is used anyway because it is the
CPU int8 path that ships with torch itself; the two deprecation warnings it emits are silenced
here, where the choice is documented, instead of flooding every log.

The quantized modules are CPU-only (x86/fbgemm or qnnpack kernels) and hold packed weights
that ``save_pretrained`` cannot write as safetensors. Quantization is deterministic (same fp32
weights, same int8 weights), so the workflow never stores an int8 checkpoint: it writes a small
JSON *marker* naming the fp32 model folder (:func:`write_int8_marker`), and
:func:`load_quantized` rebuilds the int8 model from it in well under a second.

**bfloat16** (:func:`to_bf16`) halves the weights and uses bf16 matmuls where the hardware has
them (AVX512-BF16/AMX on recent x86, tensor cores on GPUs); elsewhere it may be slower than
float32, which the efficiency table then shows.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from slimrank.models import load_cross_encoder
from slimrank.trec import atomic_output

#: ``format`` field of an int8 marker file; anything else is rejected by :func:`load_quantized`.
INT8_MARKER_FORMAT = "slimrank-int8-dynamic/1"

# The messages torch 2.13 emits for the eager-mode quantization API (see the module docstring).
_QUANT_WARNINGS = (
    r"torch\.ao\.quantization is deprecated",
    r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` dynamically quantized to int8 (CPU only).

    All Linear layers are quantized (encoder, pooler, head), as in PyTorch's BERT dynamic
    quantization recipe; embeddings and LayerNorms stay float32, so the copy still has float
    parameters and :func:`slimrank.rerank.score_pairs` finds its device as usual. The copy is
    in eval mode; ``model`` is left untouched.
    """
    if _model_device(model).type != "cpu":
        raise ValueError("int8 dynamic quantization runs on the CPU only; move the model first")
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            for message in _QUANT_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            quantized = torch.ao.quantization.quantize_dynamic(
                model, {nn.Linear}, dtype=torch.qint8, inplace=False
            )
    finally:
        model.train(was_training)
    return quantized.eval()


def is_quantized(model: nn.Module) -> bool:
    """Whether ``model`` holds dynamically quantized Linear layers."""
    return any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in model.modules())


def to_bf16(model: nn.Module) -> nn.Module:
    """A bfloat16 copy of ``model`` (eval mode) on the same device; ``model`` is left as is.

    Logits come out in bf16; ``score_pairs`` casts them to float. A copy rather than an in-place
    cast, so a benchmark can time the float32 original and the bf16 variant side by side.
    """
    return copy.deepcopy(model).to(torch.bfloat16).eval()


def write_int8_marker(path: str | os.PathLike, source_model_dir: str | os.PathLike) -> Path:
    """Write the JSON marker that stands for the int8 variant of ``source_model_dir``.

    The source is stored relative to the marker's folder, so the results tree can be moved as
    a whole. Written atomically; returns ``path``.
    """
    path = Path(path)
    source = Path(source_model_dir)
    if not (source / "config.json").is_file():
        raise ValueError(f"{source} is not a model folder (no config.json)")
    relative = os.path.relpath(source.resolve(), path.resolve().parent)
    marker = {
        "format": INT8_MARKER_FORMAT,
        "source": relative,
        "scheme": "torch.ao.quantization.quantize_dynamic, nn.Linear, qint8, per-tensor",
        "torch_version": torch.__version__,
    }
    with atomic_output(path) as handle:
        json.dump(marker, handle, indent=2)
        handle.write("\n")
    return path


def read_int8_marker(path: str | os.PathLike) -> Path:
    """The fp32 model folder an int8 marker points to (resolved against the marker's folder)."""
    path = Path(path)
    marker = json.loads(path.read_text(encoding="utf-8"))
    if marker.get("format") != INT8_MARKER_FORMAT:
        raise ValueError(f"{path}: not an int8 marker (format {marker.get('format')!r})")
    return (path.parent / marker["source"]).resolve()


def load_quantized(
    model_dir_or_marker: str | os.PathLike,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load an fp32 cross-encoder and return ``(int8 model, tokenizer)``, on the CPU.

    Accepts the fp32 model folder itself or a marker file written by
    :func:`write_int8_marker`. Because quantization is deterministic, this gives the same int8
    model every time, which is why no int8 weights are ever stored.
    """
    path = Path(model_dir_or_marker)
    if path.is_file():
        path = read_int8_marker(path)
    model, tokenizer = load_cross_encoder(path)
    return quantize_dynamic_int8(model), tokenizer
